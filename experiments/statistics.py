"""Experiment 4: statistics across images (amplitude test, Hotelling / circular T-squared, FDR) against the z rule.

For each unit of a few layers and each tested bin (fundamentals, 2nd harmonics, order-2
intermodulation, and off-lattice noise bins), the complex Fourier coefficients of the N images are
tested for a non-zero mean (Hotelling's T-squared and Victor & Mast's circular T-squared), with a
Benjamini-Hochberg FDR of 5 % over the units of each layer and bin. Detections are compared with the
z > 1.64 rule on the image-averaged amplitude spectrum of the same units.

Memory: per unit and tested bin only the tests' sufficient statistics are kept (``sj.stream_tests``:
count, mean, centred sums of squares and products, merged chunk by chunk), whatever the number of images.

    python experiments/statistics.py --quick --out runs/statistics_quick    # CI size, < 1 min
    python experiments/statistics.py --out runs/statistics                  # ResNet-32, 32 images, ~2 min on 2 cores

Writes ``statistics.json`` and ``detections.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import ssvepjax as sj


def statistics_layers(depth: int) -> list[str]:
    """The stem and the last conv of each stage, post-activation."""
    n = (depth - 2) // 6
    return ["stem/post"] + [f"stage{s}_block{n - 1}/conv2/post" for s in (1, 2, 3)]


def main(argv=None) -> dict:
    p = sj.job_parser(__doc__.splitlines()[0], "runs/statistics")
    p.add_argument("--alpha", type=float, default=0.05, help="false discovery rate (default 0.05)")
    p.add_argument("--layers", nargs="+", default=None, help="layers to test (default: stem and each stage's last)")
    args = p.parse_args(argv)
    cfg = sj.config_from_args(args)
    if cfg.n_images < 3:
        raise ValueError(f"n_images={cfg.n_images}: Hotelling's T-squared needs at least 3 images")
    t0 = time.time()
    out = cfg.out_dir
    data, trained, images = sj.load_model(cfg)
    h, w, _ = data.image_shape
    design = cfg.design
    layers = args.layers or statistics_layers(cfg.model.depth)
    for layer in layers:
        sj.conv_strides(cfg.model.depth, layer)  # ValueError for unknown layer names
    bins, labels, kinds = sj.statistics_bins(design, max_order=2, n_noise=4)
    fn = sj.linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    mean_amp, moments, relative = sj.stream_tests(fn, images, sj.halves(h, w), design, bins, progress=cfg.progress)
    table = {x: sj.compare_detections(mean_amp[x], moments[x], bins, labels, design, alpha=args.alpha,
                                      relative=relative[x])
             for x in layers}
    by_kind = {}
    for x in layers:
        by_kind[x] = {}
        for kind in dict.fromkeys(kinds):
            rows = [table[x][lab] for lab, k in zip(labels, kinds) if k == kind]
            by_kind[x][kind] = {m: sum(r[m] for r in rows) / len(rows) for m in rows[0] if m != "bin"}
    fig = sj.plot_detections(
        table, str(out / "detections.png"), keys=("amplitude_fdr", "z_rule", "hotelling_fdr", "circular_fdr"),
        title=f"Units detected across {cfg.n_images} images: amplitude test and T-squared (BH FDR {args.alpha} over "
              f"units) vs z > {design.noise.z_threshold} on the mean spectrum")
    md = sj.markdown_table(
        {f"{x} / {lab}": table[x][lab] for x in layers for lab in labels},
        [("amplitude FDR", "amplitude_fdr"), ("z rule", "z_rule"), ("Hotelling FDR", "hotelling_fdr"),
         ("circular FDR", "circular_fdr"),
         ("Hotelling p<.05", "hotelling_p05"), ("both", "both"), ("z only", "z_only"), ("T2 only", "t2_only"),
         ("defined", "defined")])
    report = {
        "experiment": "statistics",
        "settings": sj.job_settings(cfg, data, trained),
        "alpha": args.alpha,
        "layers_tested": layers,
        "bins": [{"label": lab, "bin": b, "kind": k} for b, lab, k in zip(bins, labels, kinds)],
        "memory": "per unit and bin the T-squared sufficient statistics, merged chunk by chunk (sj.stream_tests)",
        "conventions": {
            "amplitude_fdr": design.rule + " (the library's default rule)",
            "z_rule": f"z > {design.noise.z_threshold} on the amplitude spectrum averaged over images (component "
                      "bins excluded from the noise windows)",
            "hotelling_fdr": "Hotelling's T-squared on (Re, Im) across images, BH q <= alpha over units per bin",
            "circular_fdr": "Victor & Mast circular T-squared, same FDR",
            "defined": "fraction of units whose coefficients are not all equal (zero) across images; elsewhere "
                       "the test is undefined and counts as not detected",
        },
        "by_bin": table,
        "by_kind": by_kind,
        "table": md,
        "figures": {"detections": Path(fig).name},
        "seconds": round(time.time() - t0, 1),
    }
    sj.write_json(out / "statistics.json", report)
    print(md)
    print(f"wrote {out}/statistics.json and detections.png in {report['seconds']} s")
    return report


if __name__ == "__main__":
    sj.run_script(main)
