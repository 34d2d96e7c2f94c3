"""ssvepjax: frequency tagging (SSVEP) probes for neural networks in JAX/Flax.

Tag parts of an image at their own frequencies (``tag_frames``), record every unit over the frames
in one vmapped pass (``probe`` with ``linen_fn`` / ``nnx_fn``), and measure responses at
fundamentals, harmonics and intermodulation components (``amplitude_spectrum``, ``snr``,
``zscore``, ``bca``, ``components``).
"""

from ssvepjax.analysis import Design as Design
from ssvepjax.analysis import LayerResult as LayerResult
from ssvepjax.analysis import measure as measure
from ssvepjax.analysis import significance_summary as significance_summary
from ssvepjax.analysis import spectra as spectra
from ssvepjax.analysis import spectrum_fn as spectrum_fn
from ssvepjax.analysis import strongest_units as strongest_units
from ssvepjax.controls import CONDITIONS as CONDITIONS
from ssvepjax.controls import Condition as Condition
from ssvepjax.controls import control_conditions as control_conditions
from ssvepjax.controls import layer_summary as layer_summary
from ssvepjax.controls import part_following as part_following
from ssvepjax.controls import receptive_field_spans as receptive_field_spans
from ssvepjax.controls import rf_class_summary as rf_class_summary
from ssvepjax.controls import rf_classes as rf_classes
from ssvepjax.controls import run_condition as run_condition
from ssvepjax.data import Dataset as Dataset
from ssvepjax.data import load_dataset as load_dataset
from ssvepjax.design import collisions as collisions
from ssvepjax.design import propose_design as propose_design
from ssvepjax.frequency_components import Component as Component
from ssvepjax.frequency_components import component_bins as component_bins
from ssvepjax.frequency_components import component_label as component_label
from ssvepjax.frequency_components import components as components
from ssvepjax.frequency_components import lattice_step as lattice_step
from ssvepjax.frequency_components import noise_bins as noise_bins
from ssvepjax.frequency_components import unique_bins as unique_bins
from ssvepjax.importance import apply_masks as apply_masks
from ssvepjax.importance import keep_masks as keep_masks
from ssvepjax.importance import l1_importance as l1_importance
from ssvepjax.importance import pruned_fraction as pruned_fraction
from ssvepjax.importance import tag_importance as tag_importance
from ssvepjax.models import CifarResNet as CifarResNet
from ssvepjax.models import ModelConfig as ModelConfig
from ssvepjax.models import conv_layer_names as conv_layer_names
from ssvepjax.probe import flatten_intermediates as flatten_intermediates
from ssvepjax.probe import linen_fn as linen_fn
from ssvepjax.probe import nnx_fn as nnx_fn
from ssvepjax.probe import probe as probe
from ssvepjax.regularizers import component_power_fraction as component_power_fraction
from ssvepjax.regularizers import tag_regularizer as tag_regularizer
from ssvepjax.spectral import NoiseConfig as NoiseConfig
from ssvepjax.spectral import amplitude_spectrum as amplitude_spectrum
from ssvepjax.spectral import bca as bca
from ssvepjax.spectral import frequencies as frequencies
from ssvepjax.spectral import harmonic_sum as harmonic_sum
from ssvepjax.spectral import measures_at as measures_at
from ssvepjax.spectral import noise_stats as noise_stats
from ssvepjax.spectral import repeated_spectrum as repeated_spectrum
from ssvepjax.spectral import snr as snr
from ssvepjax.spectral import zscore as zscore
from ssvepjax.stats import circular_from_moments as circular_from_moments
from ssvepjax.stats import circular_t2 as circular_t2
from ssvepjax.stats import coefficient_moments as coefficient_moments
from ssvepjax.stats import fdr_bh as fdr_bh
from ssvepjax.stats import fourier_coefficients as fourier_coefficients
from ssvepjax.stats import hotelling_from_moments as hotelling_from_moments
from ssvepjax.stats import hotelling_t2 as hotelling_t2
from ssvepjax.stats import merge_moments as merge_moments
from ssvepjax.stimulus import TagConfig as TagConfig
from ssvepjax.stimulus import gains as gains
from ssvepjax.stimulus import halves as halves
from ssvepjax.stimulus import quadrants as quadrants
from ssvepjax.stimulus import tag_batch as tag_batch
from ssvepjax.stimulus import tag_frames as tag_frames
from ssvepjax.stream import enable_compilation_cache as enable_compilation_cache
from ssvepjax.stream import measures_fn as measures_fn
from ssvepjax.stream import probe_dataset as probe_dataset
from ssvepjax.stream import spectrum_measures as spectrum_measures
from ssvepjax.train import TrainConfig as TrainConfig
from ssvepjax.train import train_or_load as train_or_load
from ssvepjax.trials import across_image_tests as across_image_tests
from ssvepjax.trials import compare_detections as compare_detections
from ssvepjax.trials import probe_coefficients as probe_coefficients
from ssvepjax.trials import stream_tests as stream_tests
from ssvepjax.trials import tests_from_moments as tests_from_moments

__version__ = "0.1.0"
