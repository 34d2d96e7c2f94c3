"""Experiment 3: where in the network the responses happen.

Spatial SNR maps (and maps of the fraction of significant channels) at f1, f2 and f1+f2 per layer, and
intermodulation against receptive-field position: each spatial position's theoretical receptive field
is computed from the architecture (3x3 convs, padding 1, strides), positions are classed left-only,
both or right-only, and the fraction of units significant at f1, f2, f1+f2 and any intermodulation is
reported per class. Intermodulation needs a unit that combines both halves nonlinearly, so it should
appear only where the receptive field covers both (and never before the first nonlinearity: stem/pre).

    python experiments/where.py --quick --out runs/where_quick      # CI size, < 1 min
    python experiments/where.py --out runs/where                    # ResNet-32, 32 images, ~2 min on 2 cores

Writes ``where.json``, ``snr_maps.png``, ``significance_maps.png``, ``rf_classes.png``, ``column_profiles.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import ssvepjax as sj

LABELS = ("f1", "f2", "f1+f2")


def where_layers(depth: int) -> list[str]:
    """The stem (before and after ReLU), every stage-1 conv, and the first and last convs of stages 2 and 3."""
    names = sj.conv_layer_names(depth)
    n = (depth - 2) // 6
    stage1 = [x for x in names if x.startswith("stage1_")]
    later = [f"stage{s}_block0/conv1" for s in (2, 3)] + [f"stage{s}_block{n - 1}/conv2" for s in (2, 3)]
    keep = set(stage1) | {x for x in later if x in names}
    return ["stem/pre", "stem/post"] + [f"{x}/post" for x in names if x in keep]


def main(argv=None) -> dict:
    p = sj.job_parser(__doc__.splitlines()[0], "runs/where")
    cfg = sj.config_from_args(p.parse_args(argv))
    t0 = time.time()
    out = cfg.out_dir
    data, trained, images = sj.load_model(cfg)
    h, w, _ = data.image_shape
    masks = sj.halves(h, w)
    design = cfg.design
    layers = where_layers(cfg.model.depth)
    fn = sj.linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    results = sj.analyse(fn, images, masks, design, progress=cfg.progress)

    rf, spans, both_cols, rows = {}, {}, {}, []
    for layer in layers:
        classes, names = sj.rf_classes(cfg.model.depth, layer, masks)
        rf[layer] = sj.rf_class_summary(results[layer], design, classes, names)
        cols = sj.receptive_field_spans(cfg.model.depth, layer, w)
        spans[layer] = {"rf_width_px": sj.receptive_field_size(cfg.model.depth, layer),
                        "column_spans": cols.tolist()}
        both = [j for j in range(classes.shape[1]) if classes[0, j] == names.index("both")]
        both_cols[layer] = (min(both), max(both)) if both else (1, 0)
        for cname, e in rf[layer].items():
            if e["positions"]:
                rows.append((f"{layer} ({cname})", e))
    table = sj.markdown_table(
        {name: e for name, e in rows},
        [("positions", "positions"), ("f1", "f1"), ("f2", "f2"), ("f1+f2", "f1+f2"), ("f2-f1", "f2-f1"),
         ("any IM", "any_intermodulation"), ("FP", "false_positive_rate")])

    map_layers = [x for x in layers if x != "stem/pre"]
    map_layers = [map_layers[i] for i in sorted({0, 1, len(map_layers) // 3, len(map_layers) - 3, len(map_layers) - 1})]
    figs = {
        "snr_maps": sj.plot_maps(
            {x: {lab: sj.snr_map(results[x], results[x].row(lab)) for lab in LABELS} for x in map_layers},
            str(out / "snr_maps.png"), vmin=-1, vmax=3, splits=(0.5,),
            colorbar_label="log10 SNR, median over channels (3: SNR >= 1000, no noise around the response)",
            bad_label="no channel has a defined SNR (silent units)",
            title=f"SNR at each position (post-activation), mean spectrum of {cfg.n_images} images; dashed: the "
                  f"split between the halves"),
        "significance_maps": sj.plot_maps(
            {x: {lab: sj.significance_map(results[x], design, lab) for lab in LABELS} for x in map_layers},
            str(out / "significance_maps.png"), vmin=0, vmax=1, splits=(0.5,), cmap="viridis",
            colorbar_label="fraction of channels that respond",
            title=f"Channels that respond ({design.significance} rule) at each position, {cfg.n_images} images; "
                  f"dashed: the split between the halves"),
        "rf_classes": sj.plot_rf_classes(
            {x: rf[x] for x in layers[: min(5, len(layers))]}, str(out / "rf_classes.png"),
            title=f"Units that respond ({design.significance} rule), by what the receptive field covers"),
        "column_profiles": sj.plot_column_profiles(
            {x: {lab: sj.column_profile(results[x], design, lab) for lab in LABELS}
             for x in layers[: min(5, len(layers))]},
            str(out / "column_profiles.png"), both={x: both_cols[x] for x in layers},
            title="Fraction of units that respond, per column (grey: receptive field covers both halves)"),
    }
    report = {
        "experiment": "where",
        "settings": sj.job_settings(cfg, data, trained),
        "receptive_field": "theoretical: all 3x3 convs of the longest path (padding 1, their strides); option-A "
                           "shortcuts read the centre of the conv window, so they add nothing. Effective receptive "
                           "fields are smaller.",
        "classes": "left-only / right-only: the receptive field (clipped to the image) lies in one half; both: it "
                   "covers pixels of both halves",
        "layers": {x: {"receptive_field": {"width_px": spans[x]["rf_width_px"]}, "by_class": rf[x]} for x in layers},
        "column_spans": {x: spans[x]["column_spans"] for x in layers},
        "table": table,
        "figures": {k: Path(v).name for k, v in figs.items()},
        "seconds": round(time.time() - t0, 1),
    }
    sj.write_json(out / "where.json", report)
    print(table)
    print(f"wrote {out}/where.json and {', '.join(report['figures'].values())} in {report['seconds']} s")
    return report


if __name__ == "__main__":
    sj.run_script(main)
