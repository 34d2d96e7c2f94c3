"""Experiment 5: how the measures behave across recording length and injected noise (``experiments/invariance.py``;
SCIENCE.md section 6).

The same trained network and the same 80-frame stimulus period (6 and 7.5 Hz at 120 frames/s) recorded for
T = 160, 240 and 480 frames, without noise (one period probed, exact) and with independent Gaussian noise added to
every pixel of every frame (every frame probed). For the stem and each stage's last conv (post-activation):

- the default rule (amplitude test across images) and the effect sizes: they must not move with T;
- the EEG z rule on the same spectra: for a noise-free network its fractions move with T alone;
- under injected noise, the z rule's rate at off-lattice bins (a false-positive rate: no combination of the tags
  can respond there), which should sit near its nominal level.

Every noise level is recorded at T = 240; the other lengths get the largest level only.

Writes ``invariance.json`` and ``invariance.png``.
"""

from __future__ import annotations

import dataclasses

from ssvepjax.analysis.results import analyse, measure
from ssvepjax.analysis.summaries import layer_summary
from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.models.cifar_resnet import stage_end_layers
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import probe_dataset
from ssvepjax.tagging.masks import halves

__all__ = ["Config", "report", "run", "summarise"]

KEYS = ("f1", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate")
ALL_LEVELS_AT = 240  # the recording length that gets every noise level (the paper's)


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings, 16 test images, and the lengths and noise levels to record (``--quick``: ResNet-8,
    4 images, T = 160 and 240, noise 0.03).

    Attributes:
        frames: recording lengths T (frames; each a multiple of the stimulus period).
        noise_levels: standard deviations of the injected pixel noise (images in [0, 1]).
    """

    QUICK = {"frames": (160, 240), "noise_levels": (0.03,)}

    n_images: int = 16
    out: str = "runs/invariance"
    frames: tuple[int, ...] = (160, 240, 480)
    noise_levels: tuple[float, ...] = (0.01, 0.03, 0.1)

    def __post_init__(self):
        super().__post_init__()
        if not self.frames or any(not isinstance(t, int) or t < 1 for t in self.frames):
            raise ValueError(f"frames must be integers >= 1, got {self.frames!r}")
        if not self.noise_levels or any(not isinstance(v, (int, float)) or v <= 0 for v in self.noise_levels):
            raise ValueError(f"noise_levels must be numbers > 0, got {self.noise_levels!r}")


def summarise(results: dict, design: Design) -> dict:
    """Per layer: the design's rule and the z rule at :data:`KEYS`, and three effect sizes."""
    out = {}
    for name, res in results.items():
        s = layer_summary(res, design, top_k=0)
        out[name] = {"rule": {k: s[k] for k in KEYS}, "z_rule": {k: s["z_rule"][k] for k in KEYS},
                     "relative_f1": s["effects"]["relative"]["f1"],
                     "share_intermodulation": s["effects"]["share"]["intermodulation"],
                     "im_ratio": s["effects"]["im_ratio"]}
    return out


def run(cfg: Config, store: Store) -> dict:
    """Record every length clean and with noise; each finished recording is a resumable step."""
    data, trained, images = load_model(cfg)
    masks = halves(*data.image_shape[:2])
    layers = stage_end_layers(cfg.model.depth)
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=layers, train=False)
    frames, noise_levels = cfg.frames, cfg.noise_levels
    clean, noisy = {}, {}  # keyed by strings, as the JSON will be
    for n_frames in frames:
        design = dataclasses.replace(cfg.design, tags=dataclasses.replace(cfg.design.tags, n_frames=n_frames))
        key = design.key(trained.checkpoint_dir, cfg.n_images, tuple(layers))
        clean[str(n_frames)] = store.step(f"clean-{key}", lambda d=design: summarise(
            analyse(fn, images, masks, d, progress=cfg.progress), d))
        zdesign = dataclasses.replace(design, significance="z")
        for level in noise_levels if n_frames == ALL_LEVELS_AT else noise_levels[-1:]:
            def noisy_step(level=level, zdesign=zdesign):
                spec = probe_dataset(fn, images, masks, zdesign, one_period=False, pixel_noise=level, noise_seed=0,
                                     progress=cfg.progress)
                return summarise(measure(spec, zdesign), zdesign)

            noisy[f"{n_frames}/{level:g}"] = store.step(f"noisy{level:g}-{key}", noisy_step)
        print(f"T = {n_frames}: {round(store.seconds())} s", flush=True)
    result = {"experiment": "invariance", "settings": job_settings(cfg, data, trained), "layers": layers,
              "frames": list(frames), "noise_levels": list(noise_levels),
              "conventions": {"rule": cfg.design.rule, "z_rule": "z > threshold against neighbouring bins, component "
                              "bins excluded", "noise": "Gaussian, standard deviation in pixel units (images in "
                              "[0, 1]), independent per pixel and frame; every frame probed",
                              "false_positive_rate": "fraction of units passing the rule at off-lattice bins"},
              "clean": clean, "noisy": noisy}
    figure = plots.plot_invariance(layers, clean, noisy, str(store.path("invariance.png")))
    return store.write({**result, "figure": str(figure).rsplit("/", 1)[-1], "seconds": round(store.seconds(), 1)})


def report(result: dict) -> str:
    """What the command line prints: intermodulation at the last layer per T, false positives under noise."""
    layers, last = result["layers"], result["layers"][-1]
    lines = []
    for n_frames in result["frames"]:
        c = result["clean"][str(n_frames)][last]
        lines.append(f"T={n_frames} {last}: any IM (amplitude test) {c['rule']['any_intermodulation']:.3f}, (z rule) "
                     f"{c['z_rule']['any_intermodulation']:.3f}; IM share {c['share_intermodulation']:.4f}")
    for key, v in result["noisy"].items():
        lines.append(f"noise {key}: z-rule false-positive rate per layer "
                     f"{[round(v[x]['z_rule']['false_positive_rate'], 3) for x in layers]}")
    return "\n".join(lines)
