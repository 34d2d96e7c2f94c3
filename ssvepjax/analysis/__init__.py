"""Analysis: per-unit measures, per-layer summaries, per-unit maps, statistics across images, controls, receptive
fields (of any network, from its layers' geometry)."""

from ssvepjax.analysis.controls import CONDITIONS as CONDITIONS
from ssvepjax.analysis.controls import Condition as Condition
from ssvepjax.analysis.controls import control_conditions as control_conditions
from ssvepjax.analysis.controls import part_following as part_following
from ssvepjax.analysis.controls import run_condition as run_condition
from ssvepjax.analysis.controls import tag_significance as tag_significance
from ssvepjax.analysis.effects import POWER_KINDS as POWER_KINDS
from ssvepjax.analysis.effects import unit_effects as unit_effects
from ssvepjax.analysis.maps import column_profile as column_profile
from ssvepjax.analysis.maps import significance_map as significance_map
from ssvepjax.analysis.maps import snr_map as snr_map
from ssvepjax.analysis.receptive import receptive_field_size as receptive_field_size
from ssvepjax.analysis.receptive import receptive_field_spans as receptive_field_spans
from ssvepjax.analysis.receptive import rf_class_summary as rf_class_summary
from ssvepjax.analysis.receptive import rf_classes as rf_classes
from ssvepjax.analysis.receptive import rf_parts as rf_parts
from ssvepjax.analysis.results import LayerResult as LayerResult
from ssvepjax.analysis.results import analyse as analyse
from ssvepjax.analysis.results import measure as measure
from ssvepjax.analysis.results import spectrum_measures as spectrum_measures
from ssvepjax.analysis.summaries import amplitude_ratios as amplitude_ratios
from ssvepjax.analysis.summaries import component_row as component_row
from ssvepjax.analysis.summaries import effect_summary as effect_summary
from ssvepjax.analysis.summaries import harmonic_bins as harmonic_bins
from ssvepjax.analysis.summaries import layer_summary as layer_summary
from ssvepjax.analysis.summaries import responding as responding
from ssvepjax.analysis.summaries import significance_summary as significance_summary
from ssvepjax.analysis.summaries import strongest_units as strongest_units
from ssvepjax.analysis.trials import across_image_tests as across_image_tests
from ssvepjax.analysis.trials import compare_detections as compare_detections
from ssvepjax.analysis.trials import statistics_bins as statistics_bins
from ssvepjax.analysis.trials import stream_tests as stream_tests
from ssvepjax.analysis.trials import tests_from_moments as tests_from_moments

__all__ = ["CONDITIONS", "POWER_KINDS", "across_image_tests", "amplitude_ratios", "analyse", "column_profile",
    "compare_detections", "component_row", "Condition", "control_conditions", "effect_summary", "harmonic_bins",
    "layer_summary", "LayerResult", "measure", "part_following", "receptive_field_size", "receptive_field_spans",
    "responding", "rf_class_summary", "rf_classes", "rf_parts", "run_condition", "significance_map",
    "significance_summary", "snr_map", "spectrum_measures", "statistics_bins", "stream_tests", "strongest_units",
    "tag_significance", "tests_from_moments", "unit_effects"]
