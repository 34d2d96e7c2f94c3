"""ssvepjax: frequency tagging (SSVEP) probes for neural networks in JAX/Flax.

The library reads from the bottom up, one subpackage per layer:

- ``tagging``: tag frequencies, image parts, tagged frames, the components of a design;
- ``recording``: per-frame functions for Flax models, the vmapped probe over frames;
- ``spectral``: the one Fourier transform, the noise measures, the analysis ``Design``;
- ``stats``: tests across images (T-squared, FDR);
- ``streaming``: the one image loop (chunks, devices, hosts, checkpoints) and its reductions;
- ``analysis``: per-unit measures, per-layer summaries, controls, receptive fields;
- ``models``, ``data``, ``training``: networks, datasets, training and loss terms;
- ``scores``: filter importance (tag scores and baselines), one registry and one entry point (``importance``);
- ``pruning``: dependency-aware structured pruning by those scores, FLOPs;
- ``explain``: class-activation maps restricted to selected filters, and localisation metrics;
- ``report``: the main job (``ssvepjax run``), figures, tables.

Every public name is re-exported here: ``import ssvepjax as sj``.
"""

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
from ssvepjax.data import CanvasConfig as CanvasConfig
from ssvepjax.data import Dataset as Dataset
from ssvepjax.data import canvas_dataset as canvas_dataset
from ssvepjax.data import load_box_folder as load_box_folder
from ssvepjax.data import load_dataset as load_dataset
from ssvepjax.experiments import JobConfig as JobConfig
from ssvepjax.experiments import config_from_args as config_from_args
from ssvepjax.experiments import job_parser as job_parser
from ssvepjax.experiments import job_settings as job_settings
from ssvepjax.experiments import load_model as load_model
from ssvepjax.experiments import run_script as run_script
from ssvepjax.explain import LayerTap as LayerTap
from ssvepjax.explain import PartAttribution as PartAttribution
from ssvepjax.explain import attribution_tags as attribution_tags
from ssvepjax.explain import box_iou as box_iou
from ssvepjax.explain import cam as cam
from ssvepjax.explain import cam_batch as cam_batch
from ssvepjax.explain import check_tag_collisions as check_tag_collisions
from ssvepjax.explain import class_activation_maps as class_activation_maps
from ssvepjax.explain import deletion_insertion as deletion_insertion
from ssvepjax.explain import energy_concentration as energy_concentration
from ssvepjax.explain import energy_in_box as energy_in_box
from ssvepjax.explain import gradient_x_input as gradient_x_input
from ssvepjax.explain import integrated_gradients as integrated_gradients
from ssvepjax.explain import layer_gradients as layer_gradients
from ssvepjax.explain import linen_tap as linen_tap
from ssvepjax.explain import localisation as localisation
from ssvepjax.explain import nnx_tap as nnx_tap
from ssvepjax.explain import occlusion as occlusion
from ssvepjax.explain import part_attributions as part_attributions
from ssvepjax.explain import shapley as shapley
from ssvepjax.explain import tag_attribution as tag_attribution
from ssvepjax.explain import top_fraction as top_fraction
from ssvepjax.explain import top_k as top_k
from ssvepjax.explain import upsample as upsample
from ssvepjax.models import CifarResNet as CifarResNet
from ssvepjax.models import ModelConfig as ModelConfig
from ssvepjax.models import conv_geometry as conv_geometry
from ssvepjax.models import conv_layer_names as conv_layer_names
from ssvepjax.models import conv_strides as conv_strides
from ssvepjax.models import imagenet_normalize as imagenet_normalize
from ssvepjax.models import load_torch_model as load_torch_model
from ssvepjax.models import load_torch_weights as load_torch_weights
from ssvepjax.models import param_count as param_count
from ssvepjax.pruning import FinetuneConfig as FinetuneConfig
from ssvepjax.pruning import apply_masks as apply_masks
from ssvepjax.pruning import channel_groups as channel_groups
from ssvepjax.pruning import cost_report as cost_report
from ssvepjax.pruning import finetune as finetune
from ssvepjax.pruning import flops as flops
from ssvepjax.pruning import keep_masks as keep_masks
from ssvepjax.pruning import prune as prune
from ssvepjax.pruning import recalibrate_bn as recalibrate_bn
from ssvepjax.recording import flat_dict as flat_dict
from ssvepjax.recording import flatten_intermediates as flatten_intermediates
from ssvepjax.recording import linen_fn as linen_fn
from ssvepjax.recording import nnx_fn as nnx_fn
from ssvepjax.recording import probe as probe
from ssvepjax.recording import recorder as recorder
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
from ssvepjax.report import write_text as write_text
from ssvepjax.report.plots import plot_column_profiles as plot_column_profiles
from ssvepjax.report.plots import plot_conditions as plot_conditions
from ssvepjax.report.plots import plot_detections as plot_detections
from ssvepjax.report.plots import plot_harmonic_orders as plot_harmonic_orders
from ssvepjax.report.plots import plot_layer_fractions as plot_layer_fractions
from ssvepjax.report.plots import plot_maps as plot_maps
from ssvepjax.report.plots import plot_rf_classes as plot_rf_classes
from ssvepjax.report.plots import plot_selection_metrics as plot_selection_metrics
from ssvepjax.report.plots import plot_spectrum as plot_spectrum
from ssvepjax.report.plots import save_figure as save_figure
from ssvepjax.scores import decision_scores as decision_scores
from ssvepjax.scores import importance as importance
from ssvepjax.scores import l1_scores as l1_scores
from ssvepjax.scores import random_scores as random_scores
from ssvepjax.scores import tag_scores as tag_scores
from ssvepjax.spectral import DETECTION_LIMIT as DETECTION_LIMIT
from ssvepjax.spectral import MEASURES as MEASURES
from ssvepjax.spectral import Design as Design
from ssvepjax.spectral import NoiseConfig as NoiseConfig
from ssvepjax.spectral import amplitude_spectrum as amplitude_spectrum
from ssvepjax.spectral import bca as bca
from ssvepjax.spectral import bins_of_rows as bins_of_rows
from ssvepjax.spectral import fourier_coefficients as fourier_coefficients
from ssvepjax.spectral import frequencies as frequencies
from ssvepjax.spectral import harmonic_range as harmonic_range
from ssvepjax.spectral import harmonic_sum as harmonic_sum
from ssvepjax.spectral import make_plan as make_plan
from ssvepjax.spectral import measures_at as measures_at
from ssvepjax.spectral import noise_stats as noise_stats
from ssvepjax.spectral import repeated_spectrum as repeated_spectrum
from ssvepjax.spectral import snr as snr
from ssvepjax.spectral import transform as transform
from ssvepjax.spectral import zscore as zscore
from ssvepjax.stats import amplitude_moments as amplitude_moments
from ssvepjax.stats import amplitude_test as amplitude_test
from ssvepjax.stats import circular_from_moments as circular_from_moments
from ssvepjax.stats import circular_t2 as circular_t2
from ssvepjax.stats import coefficient_moments as coefficient_moments
from ssvepjax.stats import fdr_bh as fdr_bh
from ssvepjax.stats import hotelling_from_moments as hotelling_from_moments
from ssvepjax.stats import hotelling_t2 as hotelling_t2
from ssvepjax.stats import merge_amplitude_moments as merge_amplitude_moments
from ssvepjax.stats import merge_moments as merge_moments
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
from ssvepjax.tagging import Component as Component
from ssvepjax.tagging import Proposal as Proposal
from ssvepjax.tagging import TagConfig as TagConfig
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
from ssvepjax.tagging import propose_design as propose_design
from ssvepjax.tagging import quadrants as quadrants
from ssvepjax.tagging import stripes as stripes
from ssvepjax.tagging import tag_batch as tag_batch
from ssvepjax.tagging import tag_frames as tag_frames
from ssvepjax.tagging import unique_bins as unique_bins
from ssvepjax.training import TERMS as TERMS
from ssvepjax.training import TRAINING_TAGS as TRAINING_TAGS
from ssvepjax.training import Regularizer as Regularizer
from ssvepjax.training import TrainConfig as TrainConfig
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
__all__ = sorted(name for name in dir() if not name.startswith("_") and name not in (
    "analysis", "data", "experiments", "explain", "models", "pruning", "recording", "report", "scores", "spectral",
    "stats",
    "streaming", "tagging", "training"))
