"""ssvepjax: frequency tagging (SSVEP) probes for neural networks in JAX/Flax.

The package reads from the bottom up, one subpackage per concept:

- ``tagging``: tag frequencies, image parts, tagged frames, the components of a design;
- ``recording``: per-frame functions for Flax models, the vmapped probe over frames;
- ``spectral``: the one Fourier transform, the noise measures, the analysis ``Design``;
- ``stats``: tests across images (T-squared, the amplitude test, FDR) and the verdict rule of comparisons;
- ``streaming``: the one image loop (chunks, devices, hosts, checkpoints) and its reductions;
- ``analysis``: per-unit measures, per-layer summaries, maps, controls, receptive fields;
- ``data``, ``models``, ``training``: datasets, networks (and the job's three architectures), training and loss terms;
- ``report``: results on disk (one JSON rule), their provenance, tables, and (``report.plots``) every figure;
- ``scores``: every filter score (tag scores and baselines) behind one entry point, ``importance``;
- ``pruning``: dependency-aware structured pruning of any model by those scores, costs;
- ``explain``: class-activation maps of selected filters, their localisation, tag attribution of decisions;
- ``experiments``: the main job (``ssvepjax run``) and every experiment of the project, in one framework.

What is top level (``import ssvepjax as sj``): every public name of the core, the subpackages a probe is built
from (``tagging``, ``recording``, ``spectral``, ``stats``, ``streaming``, ``analysis``, ``data``, ``models``,
``training`` and ``report``'s results on disk), is re-exported here under the same name; ``__all__`` lists them.
The applications and the project's own machinery stay in their subpackages and are reached through them, as optax
keeps ``optax.contrib`` apart: ``sj.scores.importance``, ``sj.pruning.prune``, ``sj.explain.tag_attribution``,
``sj.experiments.run_job``, ``sj.report.plots.plot_spectrum``. A name has one home: a subpackage re-exports only
its own modules' names, and no module is shadowed by a name its package exports (``tests/test_public_api.py``).
"""

from ssvepjax import (  # noqa: F401
    analysis,
    data,
    experiments,
    explain,
    models,
    pruning,
    recording,
    report,
    scores,
    spectral,
    stats,
    streaming,
    tagging,
    training,
)
from ssvepjax.analysis import CONDITIONS as CONDITIONS
from ssvepjax.analysis import POWER_KINDS as POWER_KINDS
from ssvepjax.analysis import Condition as Condition
from ssvepjax.analysis import LayerResult as LayerResult
from ssvepjax.analysis import across_image_tests as across_image_tests
from ssvepjax.analysis import amplitude_ratios as amplitude_ratios
from ssvepjax.analysis import analyse as analyse
from ssvepjax.analysis import column_profile as column_profile
from ssvepjax.analysis import compare_detections as compare_detections
from ssvepjax.analysis import component_row as component_row
from ssvepjax.analysis import control_conditions as control_conditions
from ssvepjax.analysis import effect_summary as effect_summary
from ssvepjax.analysis import harmonic_bins as harmonic_bins
from ssvepjax.analysis import layer_summary as layer_summary
from ssvepjax.analysis import measure as measure
from ssvepjax.analysis import part_following as part_following
from ssvepjax.analysis import receptive_field_size as receptive_field_size
from ssvepjax.analysis import receptive_field_spans as receptive_field_spans
from ssvepjax.analysis import responding as responding
from ssvepjax.analysis import rf_class_summary as rf_class_summary
from ssvepjax.analysis import rf_classes as rf_classes
from ssvepjax.analysis import rf_parts as rf_parts
from ssvepjax.analysis import run_condition as run_condition
from ssvepjax.analysis import significance_map as significance_map
from ssvepjax.analysis import significance_summary as significance_summary
from ssvepjax.analysis import snr_map as snr_map
from ssvepjax.analysis import spectrum_measures as spectrum_measures
from ssvepjax.analysis import statistics_bins as statistics_bins
from ssvepjax.analysis import stream_tests as stream_tests
from ssvepjax.analysis import strongest_units as strongest_units
from ssvepjax.analysis import tag_significance as tag_significance
from ssvepjax.analysis import tests_from_moments as tests_from_moments
from ssvepjax.analysis import unit_effects as unit_effects
from ssvepjax.data import EMBEDDED as EMBEDDED
from ssvepjax.data import BoxedImages as BoxedImages
from ssvepjax.data import BoxFolder as BoxFolder
from ssvepjax.data import CanvasConfig as CanvasConfig
from ssvepjax.data import CanvasDataset as CanvasDataset
from ssvepjax.data import Dataset as Dataset
from ssvepjax.data import VocObject as VocObject
from ssvepjax.data import boxed_digits as boxed_digits
from ssvepjax.data import canvas_dataset as canvas_dataset
from ssvepjax.data import default_cache_dir as default_cache_dir
from ssvepjax.data import load_box_folder as load_box_folder
from ssvepjax.data import load_dataset as load_dataset
from ssvepjax.data import read_voc_boxes as read_voc_boxes
from ssvepjax.models import ACTIVATIONS as ACTIVATIONS
from ssvepjax.models import ARCHITECTURES as ARCHITECTURES
from ssvepjax.models import IMAGENET_MEAN as IMAGENET_MEAN
from ssvepjax.models import IMAGENET_STD as IMAGENET_STD
from ssvepjax.models import RESNET50_STAGES as RESNET50_STAGES
from ssvepjax.models import RESNET_STAGES as RESNET_STAGES
from ssvepjax.models import TORCH_ARCHITECTURES as TORCH_ARCHITECTURES
from ssvepjax.models import VGG as VGG
from ssvepjax.models import VGG_CONFIGS as VGG_CONFIGS
from ssvepjax.models import BasicBlock as BasicBlock
from ssvepjax.models import Bottleneck as Bottleneck
from ssvepjax.models import CifarResNet as CifarResNet
from ssvepjax.models import ImageNetResNet as ImageNetResNet
from ssvepjax.models import ModelConfig as ModelConfig
from ssvepjax.models import ResNetBasicBlock as ResNetBasicBlock
from ssvepjax.models import VGGConfig as VGGConfig
from ssvepjax.models import VisionTransformer as VisionTransformer
from ssvepjax.models import ViTConfig as ViTConfig
from ssvepjax.models import adaptive_avg_pool as adaptive_avg_pool
from ssvepjax.models import conv_geometry as conv_geometry
from ssvepjax.models import conv_layer_names as conv_layer_names
from ssvepjax.models import conv_strides as conv_strides
from ssvepjax.models import convert_state_dict as convert_state_dict
from ssvepjax.models import imagenet_normalize as imagenet_normalize
from ssvepjax.models import load_state_dict as load_state_dict
from ssvepjax.models import load_torch_model as load_torch_model
from ssvepjax.models import load_torch_weights as load_torch_weights
from ssvepjax.models import model_config as model_config
from ssvepjax.models import normalize as normalize
from ssvepjax.models import param_count as param_count
from ssvepjax.models import random_variables as random_variables
from ssvepjax.models import resnet18 as resnet18
from ssvepjax.models import resnet34 as resnet34
from ssvepjax.models import resnet50 as resnet50
from ssvepjax.models import resnet101 as resnet101
from ssvepjax.models import resnet152 as resnet152
from ssvepjax.models import resnet_blocks as resnet_blocks
from ssvepjax.models import resnet_layer_names as resnet_layer_names
from ssvepjax.models import resnext50_32x4d as resnext50_32x4d
from ssvepjax.models import stage_end_layers as stage_end_layers
from ssvepjax.models import vgg as vgg
from ssvepjax.models import vgg_layer_names as vgg_layer_names
from ssvepjax.models import vit_base as vit_base
from ssvepjax.models import vit_layer_names as vit_layer_names
from ssvepjax.models import vit_small as vit_small
from ssvepjax.models import vit_tiny as vit_tiny
from ssvepjax.recording import flat_dict as flat_dict
from ssvepjax.recording import flatten_intermediates as flatten_intermediates
from ssvepjax.recording import linen_fn as linen_fn
from ssvepjax.recording import nnx_fn as nnx_fn
from ssvepjax.recording import probe as probe
from ssvepjax.recording import recorder as recorder
from ssvepjax.recording import select as select
from ssvepjax.report import code_fingerprint as code_fingerprint
from ssvepjax.report import config_key as config_key
from ssvepjax.report import markdown_table as markdown_table
from ssvepjax.report import provenance as provenance
from ssvepjax.report import read_json as read_json
from ssvepjax.report import resumable_step as resumable_step
from ssvepjax.report import stale_modules as stale_modules
from ssvepjax.report import trace_code as trace_code
from ssvepjax.report import write_csv as write_csv
from ssvepjax.report import write_json as write_json
from ssvepjax.report import write_npz as write_npz
from ssvepjax.report import write_text as write_text
from ssvepjax.spectral import DETECTION_LIMIT as DETECTION_LIMIT
from ssvepjax.spectral import MEASURES as MEASURES
from ssvepjax.spectral import Design as Design
from ssvepjax.spectral import NoiseConfig as NoiseConfig
from ssvepjax.spectral import Plan as Plan
from ssvepjax.spectral import amplitude_spectrum as amplitude_spectrum
from ssvepjax.spectral import as_design as as_design
from ssvepjax.spectral import bca as bca
from ssvepjax.spectral import bins_of_rows as bins_of_rows
from ssvepjax.spectral import fourier_coefficients as fourier_coefficients
from ssvepjax.spectral import frequencies as frequencies
from ssvepjax.spectral import harmonic_range as harmonic_range
from ssvepjax.spectral import harmonic_sum as harmonic_sum
from ssvepjax.spectral import make_plan as make_plan
from ssvepjax.spectral import measures_at as measures_at
from ssvepjax.spectral import measures_from_rows as measures_from_rows
from ssvepjax.spectral import noise_stats as noise_stats
from ssvepjax.spectral import repeated_spectrum as repeated_spectrum
from ssvepjax.spectral import snr as snr
from ssvepjax.spectral import transform as transform
from ssvepjax.spectral import window_stats as window_stats
from ssvepjax.spectral import zscore as zscore
from ssvepjax.stats import MOMENT_KEYS as MOMENT_KEYS
from ssvepjax.stats import amplitude_moments as amplitude_moments
from ssvepjax.stats import amplitude_test as amplitude_test
from ssvepjax.stats import circular_from_moments as circular_from_moments
from ssvepjax.stats import circular_t2 as circular_t2
from ssvepjax.stats import coefficient_moments as coefficient_moments
from ssvepjax.stats import f_survival as f_survival
from ssvepjax.stats import fdr_bh as fdr_bh
from ssvepjax.stats import holm as holm
from ssvepjax.stats import hotelling_from_moments as hotelling_from_moments
from ssvepjax.stats import hotelling_t2 as hotelling_t2
from ssvepjax.stats import merge_amplitude_moments as merge_amplitude_moments
from ssvepjax.stats import merge_moments as merge_moments
from ssvepjax.stats import paired_verdict as paired_verdict
from ssvepjax.stats import student_survival as student_survival
from ssvepjax.stats import verdict_table as verdict_table
from ssvepjax.streaming import GRANULARITIES as GRANULARITIES
from ssvepjax.streaming import Reduction as Reduction
from ssvepjax.streaming import available_memory as available_memory
from ssvepjax.streaming import enable_compilation_cache as enable_compilation_cache
from ssvepjax.streaming import moments_reduction as moments_reduction
from ssvepjax.streaming import probe_dataset as probe_dataset
from ssvepjax.streaming import reduce_dataset as reduce_dataset
from ssvepjax.streaming import spectrum_reduction as spectrum_reduction
from ssvepjax.streaming import sum_merge as sum_merge
from ssvepjax.streaming import summed as summed
from ssvepjax.tagging import FUNDAMENTAL as FUNDAMENTAL
from ssvepjax.tagging import HARMONIC as HARMONIC
from ssvepjax.tagging import INTERMODULATION as INTERMODULATION
from ssvepjax.tagging import KINDS as KINDS
from ssvepjax.tagging import Collision as Collision
from ssvepjax.tagging import Component as Component
from ssvepjax.tagging import Proposal as Proposal
from ssvepjax.tagging import TagConfig as TagConfig
from ssvepjax.tagging import apply_gains as apply_gains
from ssvepjax.tagging import check_image as check_image
from ssvepjax.tagging import check_masks as check_masks
from ssvepjax.tagging import collisions as collisions
from ssvepjax.tagging import component_bins as component_bins
from ssvepjax.tagging import component_label as component_label
from ssvepjax.tagging import components as components
from ssvepjax.tagging import default_parts as default_parts
from ssvepjax.tagging import gains as gains
from ssvepjax.tagging import grid as grid
from ssvepjax.tagging import halves as halves
from ssvepjax.tagging import lattice_step as lattice_step
from ssvepjax.tagging import noise_bins as noise_bins
from ssvepjax.tagging import part_names as part_names
from ssvepjax.tagging import propose_design as propose_design
from ssvepjax.tagging import quadrants as quadrants
from ssvepjax.tagging import stripes as stripes
from ssvepjax.tagging import tag_batch as tag_batch
from ssvepjax.tagging import tag_frames as tag_frames
from ssvepjax.tagging import unique_bins as unique_bins
from ssvepjax.tagging import validate_tags as validate_tags
from ssvepjax.training import TERMS as TERMS
from ssvepjax.training import TRAINING_TAGS as TRAINING_TAGS
from ssvepjax.training import Regularizer as Regularizer
from ssvepjax.training import TrainConfig as TrainConfig
from ssvepjax.training import TrainedModel as TrainedModel
from ssvepjax.training import held_out_measures as held_out_measures
from ssvepjax.training import linen_apply as linen_apply
from ssvepjax.training import make_steps as make_steps
from ssvepjax.training import optimizer as optimizer
from ssvepjax.training import part_corruption_accuracy as part_corruption_accuracy
from ssvepjax.training import regularizer as regularizer
from ssvepjax.training import spectral_loss as spectral_loss
from ssvepjax.training import tag_measures as tag_measures
from ssvepjax.training import train_or_load as train_or_load
from ssvepjax.training import train_regularized as train_regularized

__version__ = "0.2.0"

# The core's public names, subpackage by subpackage (the rule above).
__all__ = ["FUNDAMENTAL", "HARMONIC", "INTERMODULATION", "KINDS", "apply_gains", "check_image", "check_masks",
    "Collision", "collisions", "Component", "component_bins", "component_label", "components", "default_parts",
    "gains", "grid", "halves", "lattice_step", "noise_bins", "part_names", "Proposal", "propose_design", "quadrants",
    "stripes", "tag_batch", "tag_frames", "TagConfig", "unique_bins", "validate_tags", "flat_dict",
    "flatten_intermediates", "linen_fn", "nnx_fn", "probe", "recorder", "select", "DETECTION_LIMIT", "MEASURES",
    "amplitude_spectrum", "as_design", "bca", "bins_of_rows", "Design", "fourier_coefficients", "frequencies",
    "harmonic_range", "harmonic_sum", "make_plan", "measures_at", "measures_from_rows", "noise_stats", "NoiseConfig",
    "Plan", "repeated_spectrum", "snr", "transform", "window_stats", "zscore", "MOMENT_KEYS", "amplitude_moments",
    "amplitude_test", "circular_from_moments", "circular_t2", "coefficient_moments", "f_survival", "fdr_bh", "holm",
    "hotelling_from_moments", "hotelling_t2", "merge_amplitude_moments", "merge_moments", "paired_verdict",
    "student_survival", "verdict_table", "GRANULARITIES", "available_memory", "enable_compilation_cache",
    "moments_reduction", "probe_dataset", "reduce_dataset", "Reduction", "spectrum_reduction", "sum_merge", "summed",
    "CONDITIONS", "POWER_KINDS", "across_image_tests", "amplitude_ratios", "analyse", "column_profile",
    "compare_detections", "component_row", "Condition", "control_conditions", "effect_summary", "harmonic_bins",
    "layer_summary", "LayerResult", "measure", "part_following", "receptive_field_size", "receptive_field_spans",
    "responding", "rf_class_summary", "rf_classes", "rf_parts", "run_condition", "significance_map",
    "significance_summary", "snr_map", "spectrum_measures", "statistics_bins", "stream_tests", "strongest_units",
    "tag_significance", "tests_from_moments", "unit_effects", "EMBEDDED", "boxed_digits", "BoxedImages", "BoxFolder",
    "canvas_dataset", "CanvasConfig", "CanvasDataset", "Dataset", "default_cache_dir", "load_box_folder",
    "load_dataset", "read_voc_boxes", "VocObject", "ACTIVATIONS", "ARCHITECTURES", "IMAGENET_MEAN", "IMAGENET_STD",
    "RESNET50_STAGES", "RESNET_STAGES", "TORCH_ARCHITECTURES", "VGG", "VGG_CONFIGS", "adaptive_avg_pool",
    "BasicBlock", "Bottleneck", "CifarResNet", "conv_geometry", "conv_layer_names", "conv_strides",
    "convert_state_dict", "imagenet_normalize", "ImageNetResNet", "load_state_dict", "load_torch_model",
    "load_torch_weights", "model_config", "ModelConfig", "normalize", "param_count", "random_variables", "resnet101",
    "resnet152", "resnet18", "resnet34", "resnet50", "resnet_blocks", "resnet_layer_names", "ResNetBasicBlock",
    "resnext50_32x4d", "stage_end_layers", "vgg", "vgg_layer_names", "VGGConfig", "VisionTransformer", "vit_base",
    "vit_layer_names", "vit_small", "vit_tiny", "ViTConfig", "TERMS", "TRAINING_TAGS", "held_out_measures",
    "linen_apply", "make_steps", "optimizer", "part_corruption_accuracy", "Regularizer", "regularizer",
    "spectral_loss", "tag_measures", "train_or_load", "train_regularized", "TrainConfig", "TrainedModel",
    "code_fingerprint", "config_key", "markdown_table", "provenance", "read_json", "resumable_step", "stale_modules",
    "trace_code", "write_csv", "write_json", "write_npz", "write_text"]
