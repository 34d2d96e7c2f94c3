"""Experiment 4: statistics across images (amplitude test, Hotelling / circular T-squared, FDR) against the z rule
(``experiments/statistics.py``).

For each unit of a few layers and each tested bin (fundamentals, 2nd harmonics, order-2 intermodulation, and
off-lattice noise bins), the complex Fourier coefficients of the N images are tested for a non-zero mean
(Hotelling's T-squared and Victor & Mast's circular T-squared), with a Benjamini-Hochberg FDR of ``alpha`` over the
units of each layer and bin. Detections are compared with the z rule on the image-averaged amplitude spectrum of
the same units.

Memory: per unit and tested bin only the tests' sufficient statistics are kept (``analysis.trials.stream_tests``:
count, mean, centred sums of squares and products, merged chunk by chunk), whatever the number of images.

Writes ``statistics.json`` and ``detections.png``.
"""

from __future__ import annotations

import dataclasses

from ssvepjax.analysis.trials import compare_detections, statistics_bins, stream_tests
from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.models.cifar_resnet import conv_strides, stage_end_layers
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.report.tables import markdown_table
from ssvepjax.tagging.masks import halves

__all__ = ["Config", "report", "run"]

COLUMNS = [("amplitude FDR", "amplitude_fdr"), ("z rule", "z_rule"), ("Hotelling FDR", "hotelling_fdr"),
           ("circular FDR", "circular_fdr"), ("Hotelling p<.05", "hotelling_p05"), ("both", "both"),
           ("z only", "z_only"), ("T2 only", "t2_only"), ("defined", "defined")]


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings and the tests' (``--quick``: ResNet-8, 4 images).

    Attributes:
        alpha: false discovery rate (Benjamini-Hochberg over the units of each layer and bin), in (0, 1).
        layers: layers to test (None: the stem and each stage's last conv, post-activation).
    """

    n_images: int = 32
    out: str = "runs/statistics"
    alpha: float = 0.05
    layers: tuple[str, ...] | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.n_images < 3:
            raise ValueError(f"n_images={self.n_images}: Hotelling's T-squared needs at least 3 images")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be a false discovery rate in (0, 1), got {self.alpha!r}")
        for layer in self.layers or ():
            conv_strides(self.model.depth, layer)  # ValueError naming the valid layer names

    @property
    def tested_layers(self) -> list[str]:
        return list(self.layers) if self.layers else stage_end_layers(self.model.depth)


def run(cfg: Config, store: Store) -> dict:
    """Stream the tests' sufficient statistics over the images; compare the detections of each rule."""
    data, trained, images = load_model(cfg)
    h, w, _ = data.image_shape
    design = cfg.design
    layers = cfg.tested_layers
    bins, labels, kinds = statistics_bins(design, max_order=2, n_noise=4)
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    mean_amp, moments, relative = stream_tests(fn, images, halves(h, w), design, bins, progress=cfg.progress)
    table = {x: compare_detections(mean_amp[x], moments[x], bins, labels, design, alpha=cfg.alpha,
                                   relative=relative[x])
             for x in layers}
    by_kind = {}
    for x in layers:
        by_kind[x] = {}
        for kind in dict.fromkeys(kinds):
            rows = [table[x][lab] for lab, k in zip(labels, kinds) if k == kind]
            by_kind[x][kind] = {m: sum(r[m] for r in rows) / len(rows) for m in rows[0] if m != "bin"}
    figure = plots.plot_detections(
        table, str(store.path("detections.png")), keys=("amplitude_fdr", "z_rule", "hotelling_fdr", "circular_fdr"),
        title=f"Units detected across {cfg.n_images} images: amplitude test and T-squared (BH FDR {cfg.alpha} over "
              f"units) vs z > {design.noise.z_threshold} on the mean spectrum")
    return store.write({
        "experiment": "statistics",
        "settings": job_settings(cfg, data, trained),
        "alpha": cfg.alpha,
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
        "table": markdown_table({f"{x} / {lab}": table[x][lab] for x in layers for lab in labels}, COLUMNS),
        "figures": {"detections": str(figure).rsplit("/", 1)[-1]},
        "seconds": round(store.seconds(), 1),
    })


def report(result: dict) -> str:
    """What the command line prints: detections per layer and bin under each rule."""
    return result["table"]
