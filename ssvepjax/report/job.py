"""The main job behind ``ssvepjax run``: train or load a ResNet, tag test images, probe, report.

``run_job(JobConfig(...))`` writes a run folder:

- ``report.json``: settings, accuracy, conventions, and per recorded layer the fractions of units
  significant at each component and kind, median SNR, and the strongest units;
- ``filter_spectra.npz``: per layer, the image-averaged amplitude spectrum of each filter ``[K, c]``;
- ``neuron_components.npz``: per layer, per-neuron amplitude, SNR and z at every component bin
  ``[m, h, w, c]`` (amplitude float32, SNR and z float16), with the bins and labels;
- ``spectrum_strongest.png``, ``layer_fractions.png``, ``snr_maps.png``.

The probe is ``streaming.probe_dataset``: ``chunk_size`` images per step, one stimulus period
per image (``one_period``), and after every step an orbax checkpoint of the running sums, so an
interrupted probe resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from ssvepjax.analysis.receptive import snr_map
from ssvepjax.analysis.results import measure
from ssvepjax.analysis.summaries import significance_summary
from ssvepjax.data.datasets import default_cache_dir, load_dataset
from ssvepjax.models.cifar_resnet import conv_layer_names
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.report.config import JobConfig
from ssvepjax.report.io import write_json, write_npz
from ssvepjax.spectral.fourier import frequencies
from ssvepjax.streaming.loop import probe_dataset
from ssvepjax.streaming.runtime import enable_compilation_cache
from ssvepjax.tagging.masks import check_masks, default_parts
from ssvepjax.training.train import train_or_load


def run_job(cfg: JobConfig) -> dict:
    """Run the main job; return the report (also written to ``<out_dir>/report.json``)."""
    t0 = time.time()
    out = cfg.out_dir
    if cfg.compile_cache:
        path = os.path.join(cfg.cache_dir or default_cache_dir(), "jax")
        os.makedirs(path, exist_ok=True)
        enable_compilation_cache(path, min_compile_time_s=0.2)
    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, max_train=cfg.max_train, cache_dir=cfg.cache_dir)
    if cfg.n_images > len(data.test_images):
        raise ValueError(f"n_images={cfg.n_images} exceeds the {len(data.test_images)} test images")
    tags = cfg.design.tags
    h, w, _ = data.image_shape
    masks = check_masks(default_parts(h, w, tags.n_tags), h, w, tags.n_tags)
    trained = train_or_load(data, cfg.model, cfg.train, cache_dir=cfg.cache_dir, progress=cfg.progress)
    t_model = time.time() - t0
    names = conv_layer_names(cfg.model.depth)
    include = [f"{n}/{s}" for n in names for s in ("pre", "post")]
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=include, train=False)
    images = data.test_images[: cfg.n_images]
    key = cfg.design.key(trained.checkpoint_dir, cfg.n_images, cfg.one_period)
    spec = probe_dataset(fn, images, masks, cfg.design, chunk_size=cfg.chunk_size, progress=cfg.progress,
                         one_period=cfg.one_period, checkpoint_dir=out / "probe_ckpt" / key, checkpoint_every=1)
    results = measure(spec, cfg.design)
    summaries = {n: significance_summary(results[n], cfg.design) for n in include}
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


__all__ = ["run_job"]
