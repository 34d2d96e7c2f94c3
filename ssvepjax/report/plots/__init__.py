"""Figures a person can read, all drawn here: every function takes plain arrays (or a stored result), draws one
matplotlib figure, writes it as PNG atomically and returns the path (Agg backend: no display needed).

- ``common``: the PNG writer and short layer names;
- ``probing``: spectra, per-layer fractions, maps, control conditions, receptive-field classes, detections;
- ``explain``: part attributions, attribution summaries, selection metrics, class-activation map examples;
- ``measures``: checks of the measures themselves (invariance across recording length and noise, the detection
  limit against float32 rounding);
- ``training``: training with frequency-tagging loss terms (what each term changes, at what cost);
- ``benchmarks``: time and memory of the probe against the forward pass;
- ``pruning``: accuracy against what is removed, the ground-truth task's filter groups, which filters follow which
  half of the image.
"""

from ssvepjax.report.plots.benchmarks import plot_large_probing as plot_large_probing
from ssvepjax.report.plots.common import save_figure as save_figure
from ssvepjax.report.plots.common import short_layer_name as short_layer_name
from ssvepjax.report.plots.explain import plot_attribution_summary as plot_attribution_summary
from ssvepjax.report.plots.explain import plot_cam_examples as plot_cam_examples
from ssvepjax.report.plots.explain import plot_part_attribution as plot_part_attribution
from ssvepjax.report.plots.explain import plot_selection_metrics as plot_selection_metrics
from ssvepjax.report.plots.measures import plot_detection_limit as plot_detection_limit
from ssvepjax.report.plots.measures import plot_invariance as plot_invariance
from ssvepjax.report.plots.probing import plot_column_profiles as plot_column_profiles
from ssvepjax.report.plots.probing import plot_conditions as plot_conditions
from ssvepjax.report.plots.probing import plot_depth_profiles as plot_depth_profiles
from ssvepjax.report.plots.probing import plot_detections as plot_detections
from ssvepjax.report.plots.probing import plot_harmonic_orders as plot_harmonic_orders
from ssvepjax.report.plots.probing import plot_layer_fractions as plot_layer_fractions
from ssvepjax.report.plots.probing import plot_maps as plot_maps
from ssvepjax.report.plots.probing import plot_rf_classes as plot_rf_classes
from ssvepjax.report.plots.probing import plot_spectrum as plot_spectrum
from ssvepjax.report.plots.pruning import plot_ground_truth as plot_ground_truth
from ssvepjax.report.plots.pruning import plot_interpretability as plot_interpretability
from ssvepjax.report.plots.pruning import plot_pruning_curves as plot_pruning_curves
from ssvepjax.report.plots.training import plot_regularized as plot_regularized

__all__ = ["plot_attribution_summary", "plot_cam_examples", "plot_column_profiles", "plot_conditions",
    "plot_depth_profiles", "plot_detection_limit", "plot_detections", "plot_ground_truth", "plot_harmonic_orders",
    "plot_interpretability", "plot_invariance", "plot_large_probing", "plot_layer_fractions", "plot_maps",
    "plot_part_attribution", "plot_pruning_curves", "plot_regularized", "plot_rf_classes", "plot_selection_metrics",
    "plot_spectrum", "save_figure", "short_layer_name"]
