"""The main job behind ``ssvepjax run``: train or load a ResNet, tag test images, probe, report.

``run_job(RunConfig(...))`` writes a run folder:

- ``report.json``: settings, accuracy, conventions, and per recorded layer the fractions of units
  significant at each component and kind, median SNR, and the strongest units;
- ``filter_spectra.npz``: per layer, the image-averaged amplitude spectrum of each filter ``[K, c]``;
- ``neuron_components.npz``: per layer, per-neuron amplitude, SNR and z at every component bin
  ``[m, h, w, c]`` (amplitude float32, SNR and z float16), with the bins and labels;
- ``spectrum_strongest.png``, ``layer_fractions.png``, ``snr_maps.png``.

The probe is ``stream.probe_dataset``: ``checkpoint_every`` images per step, one stimulus period
per image (``one_period``), and after every step an orbax checkpoint of the running sums, so an
interrupted probe resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ssvepjax import analysis as A
from ssvepjax import plots
from ssvepjax.data import default_cache_dir, load_dataset
from ssvepjax.models import ModelConfig, conv_layer_names
from ssvepjax.probe import linen_fn
from ssvepjax.spectral import NoiseConfig, frequencies
from ssvepjax.stimulus import TagConfig, check_masks, halves
from ssvepjax.stream import enable_compilation_cache, probe_dataset
from ssvepjax.train import TrainConfig, train_or_load


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything ``ssvepjax run`` does, with the defaults of the main job."""

    dataset: str = "mnist5k"
    data_dir: str | None = None
    max_train: int | None = None
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    design: A.Design = A.Design()
    n_images: int = 16
    out_dir: str = "runs/default"
    cache_dir: str | None = None
    checkpoint_every: int = 8
    progress: bool = True
    compile_cache: bool = True
    one_period: bool = True

    def __post_init__(self):
        if not isinstance(self.n_images, int) or self.n_images < 1:
            raise ValueError(f"n_images must be an integer >= 1, got {self.n_images!r}")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be an integer >= 1, got {self.checkpoint_every!r}")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else None)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as JSON atomically (temporary file, then rename); inf becomes "inf", NaN null."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=1, allow_nan=False))
    os.replace(tmp, path)


def write_npz(path: Path, **arrays) -> None:
    """Write compressed npz atomically."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def snr_map(res: A.LayerResult, row: int) -> np.ndarray:
    """``[h, w]`` log10 of the channel-median SNR at component row ``row``, clipped to [-1, 3]."""
    s = res.neuron["snr"][row]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(np.log10(np.nanmedian(np.where(np.isnan(s), 0, s), axis=-1)), -1, 3)


def run_job(cfg: RunConfig) -> dict:
    """Run the main job; return the report (also written to ``<out_dir>/report.json``)."""
    t0 = time.time()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.compile_cache:
        path = os.path.join(cfg.cache_dir or default_cache_dir(), "jax")
        os.makedirs(path, exist_ok=True)
        enable_compilation_cache(path, min_compile_time_s=0.2)
    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, max_train=cfg.max_train, cache_dir=cfg.cache_dir)
    if cfg.n_images > len(data.test_images):
        raise ValueError(f"n_images={cfg.n_images} exceeds the {len(data.test_images)} test images")
    tags = cfg.design.tags
    h, w, _ = data.image_shape
    masks = check_masks(halves(h, w) if len(tags.freqs_hz) == 2 else _columns(h, w, len(tags.freqs_hz)),
                        h, w, len(tags.freqs_hz))
    trained = train_or_load(data, cfg.model, cfg.train, cache_dir=cfg.cache_dir, progress=cfg.progress)
    t_model = time.time() - t0
    names = conv_layer_names(cfg.model.depth)
    include = [f"{n}/{s}" for n in names for s in ("pre", "post")]
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=include, train=False)
    images = data.test_images[: cfg.n_images]
    key = A.design_key(cfg.design, trained.checkpoint_dir, cfg.n_images, cfg.one_period)
    spec = probe_dataset(fn, images, masks, cfg.design, chunk_size=cfg.checkpoint_every, progress=cfg.progress,
                         one_period=cfg.one_period, checkpoint_dir=out / "probe_ckpt" / key, checkpoint_every=1)
    results = A.measure(spec, cfg.design)
    summaries = {n: A.significance_summary(results[n], cfg.design) for n in include}
    cb, labels, nb = cfg.design.bins()
    freqs = frequencies(tags.n_frames, tags.fps)
    write_npz(out / "filter_spectra.npz", freqs_hz=freqs,
              **{n.replace("/", "."): results[n].filter_spectrum for n in include})
    write_npz(out / "neuron_components.npz", bins=cb, labels=np.asarray(labels), freqs_hz=freqs[cb],
              **{f"{n.replace('/', '.')}.{m}": _compact(results[n].neuron[m], dt)
                 for n in include for m, dt in (("amplitude", np.float32), ("snr", np.float16), ("z", np.float16))})
    figures = _figures(out, spec, results, summaries, cfg, labels, names, freqs)
    report = {
        "config": dataclasses.asdict(cfg),
        "dataset": {"name": data.name, "source": data.source, "image_shape": list(data.image_shape),
                    "n_train": len(data.train_images), "n_test": len(data.test_images)},
        "model": {"depth": cfg.model.depth, "test_accuracy": trained.test_accuracy,
                  "restored_from_cache": trained.restored, "checkpoint": trained.checkpoint_dir},
        "conventions": {
            "amplitude": "2|rfft|/T (one-sided), rectangular window, averaged over images before SNR/z/BCA",
            "noise": dataclasses.asdict(cfg.design.noise),
            "filter_spectrum": "mean of the neurons' amplitude spectra over spatial positions",
            "significant": f"z > {cfg.design.noise.z_threshold}",
            "false_positive_rate": "fraction of units with z > threshold at off-lattice bins (not multiples of "
                                   "the tags' common bin step): no combination of tags can respond there",
            "higher_order_rate": "same at on-lattice bins that are no component up to max_order",
            "pre/post": "pre = after batch norm (and the residual addition), post = after the nonlinearity",
        },
        "components": [{"label": lab, "bin": int(b), "frequency_hz": float(freqs[b])} for b, lab in zip(cb, labels)],
        "n_images": cfg.n_images,
        "layers": summaries,
        "figures": figures,
        "seconds": {"model": round(t_model, 1), "total": round(time.time() - t0, 1)},
    }
    write_json(out / "report.json", report)
    return report


def _compact(x: np.ndarray, dtype) -> np.ndarray:
    """Cast to ``dtype``; finite values beyond its range saturate at its largest value (inf stays inf)."""
    big = np.finfo(dtype).max
    return np.where(np.isfinite(x), np.clip(x, -big, big), x).astype(dtype)


def _columns(h: int, w: int, p: int) -> np.ndarray:
    """``p`` vertical stripes of (nearly) equal width: the default parts for more than two tags."""
    edges = np.linspace(0, w, p + 1).round().astype(int)
    cols = np.arange(w)
    return np.stack([np.broadcast_to((cols >= edges[i]) & (cols < edges[i + 1]), (h, w)) for i in range(p)])


def _figures(out, spec, results, summaries, cfg, labels, names, freqs):
    design = cfg.design
    comps = design.components
    # The strongest intermodulation unit of the deepest layer: where the paper's claim lives.
    target = "f1+f2" if "f1+f2" in labels else labels[0]
    layer = f"{names[-1]}/post"
    best = summaries[layer]["strongest_units"].get(target) or summaries[layer]["strongest_units"].get("f1")
    figs = {}
    if best:
        idx = tuple(best[0]["index"])
        amp = np.asarray(spec[layer])[(slice(None), *idx)]
        figs["spectrum"] = plots.plot_spectrum(
            freqs, amp, comps, str(out / "spectrum_strongest.png"),
            title=f"{layer} unit {idx} (z at {target} = {best[0]['z']:.3g}), mean over {cfg.n_images} images")
    posts = {f"{n}/post": summaries[f"{n}/post"] for n in names}
    figs["fractions"] = plots.plot_layer_fractions(
        posts, str(out / "layer_fractions.png"),
        title=f"ResNet-{cfg.model.depth}, post-activation: units with z > {design.noise.z_threshold}")
    n_blocks = (cfg.model.depth - 2) // 6
    map_layers = ["stem"] + [f"stage{s}_block{n_blocks - 1}/conv2" for s in (1, 2, 3)]
    map_labels = [lab for lab in ("f1", "f2", "f1+f2") if lab in labels]
    maps = {f"{n}/post": {lab: snr_map(results[f"{n}/post"], labels.index(lab)) for lab in map_labels}
            for n in map_layers}
    figs["snr_maps"] = plots.plot_snr_maps(
        maps, str(out / "snr_maps.png"),
        title="log10 SNR (median over channels; clipped to [-1, 3], 3 = noise-free response)")
    return {k: os.path.basename(v) for k, v in figs.items()}


def summary_table(report: dict) -> str:
    """A short plain-text table of the report for the terminal."""
    rows = [("layer", "units", "f1", "f2", "harm", "IM", "IM any", "FP")]
    for name, s in report["layers"].items():
        if not name.endswith("/post"):
            continue
        rows.append((name.removesuffix("/post"), str(s["n_units"]), *(f"{s[k]:.2f}" for k in (
            "f1", "f2", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths)))
             for r in rows]
    return "\n".join(lines)


__all__ = ["RunConfig", "run_job", "summary_table", "NoiseConfig", "TagConfig"]
