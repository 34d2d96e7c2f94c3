"""Experiment 3: where in the network the responses happen (``experiments/where.py``).

Spatial SNR maps (and maps of the fraction of channels that respond) at f1, f2 and f1+f2 per layer, and
intermodulation against receptive-field position: each spatial position's theoretical receptive field is computed
from the architecture's geometry (``models.cifar_resnet.conv_geometry``: 3x3 convs, padding 1, their strides),
positions are classed left-only, both or right-only, and the fraction of units that respond at f1, f2, f1+f2 and
any intermodulation is reported per class. Intermodulation needs a unit that combines both halves nonlinearly, so
it should appear only where the receptive field covers both (and never before the first nonlinearity: stem/pre).

Writes ``where.json``, ``snr_maps.png``, ``significance_maps.png``, ``rf_classes.png``, ``column_profiles.png``.
"""

from __future__ import annotations

import dataclasses

from ssvepjax.analysis.maps import column_profile, significance_map, snr_map
from ssvepjax.analysis.receptive import receptive_field_size, receptive_field_spans, rf_class_summary, rf_classes
from ssvepjax.analysis.results import analyse
from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.report.tables import markdown_table
from ssvepjax.tagging.masks import halves

__all__ = ["Config", "report", "run"]

LABELS = ("f1", "f2", "f1+f2")


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings; 32 test images by default (``--quick``: ResNet-8, 4 images)."""

    n_images: int = 32
    out: str = "runs/where"


def run(cfg: Config, store: Store) -> dict:
    """Probe the model's ``where_layers``; class each position (a CNN's receptive field, a ViT token's own patch)
    by the halves it covers; draw the maps."""
    data, trained, images = load_model(cfg)
    h, w, _ = data.image_shape
    masks = halves(h, w)
    design = cfg.design
    model = cfg.model
    layers = model.where_layers()
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    results = analyse(fn, images, masks, design, progress=cfg.progress)
    tokens = hasattr(model, "token_classes")

    rf, spans, both_cols, rows = {}, {}, {}, []
    for layer in layers:
        if tokens:
            classes, names = model.token_classes(masks)
        else:
            geometry = model.geometry(layer)
            classes, names = rf_classes(geometry, masks)
            cols = receptive_field_spans(geometry, w)
            spans[layer] = {"rf_width_px": receptive_field_size(geometry), "column_spans": cols.tolist()}
            both = [j for j in range(classes.shape[1]) if classes[0, j] == names.index("both")]
            both_cols[layer] = (min(both), max(both)) if both else (1, 0)
        rf[layer] = rf_class_summary(results[layer], design, classes, names)
        for cname, e in rf[layer].items():
            if e["positions"]:
                rows.append((f"{layer} ({cname})", e))
    table = markdown_table(
        {name: e for name, e in rows},
        [("positions", "positions"), ("f1", "f1"), ("f2", "f2"), ("f1+f2", "f1+f2"), ("f2-f1", "f2-f1"),
         ("any IM", "any_intermodulation"), ("FP", "false_positive_rate")])
    shown = layers[: min(5, len(layers))] if not tokens else layers[:: max(1, len(layers) // 5)]
    figures = {"rf_classes": plots.plot_rf_classes(
        {x: rf[x] for x in shown}, str(store.path("rf_classes.png")),
        title=f"Units that respond ({design.significance} rule), by what the "
              f"{'token' + chr(39) + 's own patch' if tokens else 'receptive field'} covers")}
    if tokens:
        figures.update(_token_maps(cfg, results, layers, store))
    else:
        figures.update(_conv_maps(cfg, results, layers, both_cols, shown, store))
    geometry_text = ("a token's own patch (the class token apart); after block 0's attention every token has seen "
                     "every patch" if tokens else
                     "theoretical: every conv and pooling window of the longest path; a CIFAR ResNet's option-A "
                     "shortcuts read the centre of the conv window, so they add nothing. Effective receptive fields "
                     "are smaller.")
    return store.write({
        "experiment": "where",
        "settings": job_settings(cfg, data, trained),
        "receptive_field": geometry_text,
        "classes": "left-only / right-only: the receptive field (clipped to the image) or the token's patch lies in "
                   "one half; both: it covers pixels of both halves",
        "layers": {x: {"receptive_field": {"width_px": spans[x]["rf_width_px"]} if x in spans else None,
                       "by_class": rf[x]} for x in layers},
        "column_spans": {x: spans[x]["column_spans"] for x in spans},
        "table": table,
        "figures": {k: str(v).rsplit("/", 1)[-1] for k, v in figures.items()},
        "seconds": round(store.seconds(), 1),
    })


def _conv_maps(cfg, results, layers, both_cols, shown, store) -> dict:
    """SNR and significance maps and column profiles of a CNN's layers."""
    design = cfg.design
    map_layers = [x for x in layers if x != layers[0]]
    map_layers = [map_layers[i] for i in sorted({0, 1, len(map_layers) // 3, len(map_layers) - 3, len(map_layers) - 1})]
    return {
        "snr_maps": plots.plot_maps(
            {x: {lab: snr_map(results[x], results[x].row(lab)) for lab in LABELS} for x in map_layers},
            str(store.path("snr_maps.png")), vmin=-1, vmax=3, splits=(0.5,),
            colorbar_label="log10 SNR, median over channels (3: SNR >= 1000, no noise around the response)",
            bad_label="no channel has a defined SNR (silent units)",
            title=f"SNR at each position (post-activation), mean spectrum of {cfg.n_images} images; dashed: the "
                  f"split between the halves"),
        "significance_maps": plots.plot_maps(
            {x: {lab: significance_map(results[x], design, lab) for lab in LABELS} for x in map_layers},
            str(store.path("significance_maps.png")), vmin=0, vmax=1, splits=(0.5,), cmap="viridis",
            colorbar_label="fraction of channels that respond",
            title=f"Channels that respond ({design.significance} rule) at each position, {cfg.n_images} images; "
                  f"dashed: the split between the halves"),
        "column_profiles": plots.plot_column_profiles(
            {x: {lab: column_profile(results[x], design, lab) for lab in LABELS} for x in shown},
            str(store.path("column_profiles.png")), both={x: both_cols[x] for x in layers},
            title="Fraction of units that respond, per column (grey: receptive field covers both halves)"),
    }


def _token_maps(cfg, results, layers, store) -> dict:
    """A ViT's patch tokens on their grid: the fraction of each token's units that respond at f1, f2 and any
    intermodulation, per layer."""
    design = cfg.design
    side = cfg.model.patch_size
    n_patches = results[layers[0]].unit_shape[0] - 1  # tokens: the class token, then the patches row by row
    h = w = int(round(n_patches**0.5))
    shown = [layers[i] for i in sorted({0, 1, 2, len(layers) // 2, len(layers) - 1})]
    maps = {x: {lab: significance_map(results[x], design, lab)[1:].reshape(h, w)
                for lab in ("f1", "f2", "any_intermodulation")} for x in shown}
    return {"token_maps": plots.plot_maps(
        maps, str(store.path("token_maps.png")), vmin=0, vmax=1, splits=(0.5,), cmap="viridis",
        colorbar_label="fraction of the token's units that respond",
        title=f"{cfg.model.label}: units that respond ({design.significance} rule) per patch token ({side} x {side} "
              f"px patches), {cfg.n_images} images; dashed: the split between the halves")}


def report(result: dict) -> str:
    """What the command line prints: the table by receptive-field class."""
    return result["table"]
