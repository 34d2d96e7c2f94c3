"""The main job behind ``ssvepjax run``: train or load a ResNet, tag test images, probe, report.

``run_job(JobConfig(...))`` writes a run folder:

- ``report.json``: settings, accuracy, conventions, and per recorded layer the fractions of units
  that respond at each component and kind (the design's rule, and the z rule beside it), effect sizes,
  harmonic sums, median SNR, and the strongest units;
- ``filter_spectra.npz``: per layer, the image-averaged amplitude spectrum of each filter ``[K, c]``;
- ``neuron_components.npz``: per layer, per-neuron amplitude, SNR and z at every component bin
  ``[m, h, w, c]`` (amplitude float32, SNR and z float16), with the bins and labels;
- ``spectrum_strongest.png``, ``layer_fractions.png``, ``snr_maps.png``.

The probe is ``streaming.probe_dataset``: ``chunk_size`` images per step, one stimulus period
per image (``one_period``), and after every step an orbax checkpoint of the running sums, so an
interrupted probe resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ssvepjax.analysis.maps import snr_map
from ssvepjax.analysis.results import measure
from ssvepjax.analysis.summaries import layer_summary
from ssvepjax.data.datasets import Dataset, default_cache_dir, load_dataset
from ssvepjax.experiments.config import JobConfig
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.report.io import write_json, write_npz
from ssvepjax.spectral.fourier import frequencies
from ssvepjax.streaming.loop import probe_dataset
from ssvepjax.streaming.runtime import enable_compilation_cache
from ssvepjax.tagging.masks import check_masks, default_parts
from ssvepjax.training.train import train_or_load


def writable_dir(path, name: str) -> Path:
    """``path`` created (with its parents) and writable; ``ValueError`` naming ``name`` otherwise."""
    p = Path(path).expanduser()
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{name} {str(path)!r} cannot be created: {e.strerror or e}") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {str(path)!r} is not writable")
    return p


def prepare(cfg: JobConfig) -> Dataset:
    """Every check of the user's settings that needs the file system or the data, before any long work.

    Creates the output and cache folders, loads the dataset and checks the image count. Every problem is a
    ``ValueError`` naming the setting (the command line prints it as one line and exits with status 2).
    """
    writable_dir(cfg.out, "--out")
    writable_dir(cfg.cache_dir or default_cache_dir(), "--cache-dir")
    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, max_train=cfg.max_train, cache_dir=cfg.cache_dir)
    if cfg.n_images > len(data.test_images):
        raise ValueError(f"n_images={cfg.n_images} exceeds the {len(data.test_images)} test images of {data.name}")
    h, w, _ = data.image_shape
    default_parts(h, w, cfg.design.tags.n_tags)  # enough pixels for the parts
    return data


def run_job(cfg: JobConfig, data: Dataset | None = None) -> dict:
    """Run the main job; return the report (also written to ``<out_dir>/report.json``).

    ``data`` is the result of ``prepare(cfg)`` (called here when None).
    """
    t0 = time.time()
    data = prepare(cfg) if data is None else data
    out = cfg.out_dir
    cache = Path(cfg.cache_dir or default_cache_dir()).expanduser().resolve()
    if cfg.compile_cache:
        path = cache / "jax"
        path.mkdir(parents=True, exist_ok=True)
        enable_compilation_cache(str(path), min_compile_time_s=0.2)
    tags = cfg.design.tags
    h, w, _ = data.image_shape
    masks = check_masks(default_parts(h, w, tags.n_tags), h, w, tags.n_tags)
    trained = train_or_load(data, cfg.model, cfg.train, cache_dir=cfg.cache_dir, progress=cfg.progress)
    t_model = time.time() - t0
    include = cfg.model.recorded_layers()
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=False, include=include, train=False)
    images = data.test_images[: cfg.n_images]
    key = cfg.design.key(trained.checkpoint_dir, cfg.n_images, cfg.one_period, cfg.pixel_noise)
    ckpt = out / "probe_ckpt" / key
    spec, relative = probe_dataset(fn, images, masks, cfg.design, chunk_size=cfg.chunk_size, progress=cfg.progress,
                                   one_period=cfg.one_period, relative=True, pixel_noise=cfg.pixel_noise,
                                   checkpoint_dir=ckpt, checkpoint_every=1)
    # The probe finished: its checkpoint (the running sums, tens of MB) is no result to keep.
    shutil.rmtree(ckpt, ignore_errors=True)
    with contextlib.suppress(OSError):
        ckpt.parent.rmdir()
    results = measure(spec, cfg.design, relative)
    summaries = {n: layer_summary(results[n], cfg.design) for n in include}
    cb, labels, nb = cfg.design.bins()
    freqs = frequencies(tags.n_frames, tags.fps)
    write_npz(out / "filter_spectra.npz", freqs_hz=freqs,
              **{n.replace("/", "."): results[n].filter_spectrum for n in include})
    write_npz(out / "neuron_components.npz", bins=cb, labels=np.asarray(labels), freqs_hz=freqs[cb],
              **{f"{n.replace('/', '.')}.{m}": _compact(results[n].neuron[m], dt)
                 for n in include for m, dt in (("amplitude", np.float32), ("snr", np.float16), ("z", np.float16))})
    figures = _figures(out, spec, results, summaries, cfg, labels, freqs)
    report = {
        "config": {**dataclasses.asdict(cfg), "cache_dir": str(cache)},
        "dataset": {"name": data.name, "source": data.source, "image_shape": list(data.image_shape),
                    "n_train": len(data.train_images), "n_test": len(data.test_images)},
        "model": {"arch": cfg.model.arch, "label": cfg.model.label, **dataclasses.asdict(cfg.model),
                  "test_accuracy": trained.test_accuracy,
                  "restored_from_cache": trained.restored,
                  "checkpoint": os.path.relpath(trained.checkpoint_dir, cache)},
        "conventions": {
            "amplitude": "2|rfft|/T (one-sided), rectangular window, averaged over images before SNR/z/BCA",
            "noise": dataclasses.asdict(cfg.design.noise),
            "filter_spectrum": "mean of the neurons' amplitude spectra over spatial positions",
            "significant": cfg.design.rule,
            "detection_floor": f"coefficients at or below max({cfg.design.detection_limit:g} x AC amplitude, "
                               f"{cfg.design.resolution:g} x peak magnitude) of their series are 0 (float32 rounding)",
            "effects": "relative amplitude = amplitude / AC amplitude (sqrt(2) x std over time); share = part of a "
                       "unit's AC power at a kind of bin; im_ratio = sqrt(P_intermodulation / P_fundamental); all "
                       "independent of the recording length for a noise-free network",
            "false_positive_rate": "the same rule at off-lattice bins (not multiples of the tags' common bin step), "
                                   "where no combination of tags can respond: 0 by construction for a noise-free "
                                   "network probed over whole periods",
            "z_rule": f"z > {cfg.design.noise.z_threshold:g} against neighbouring bins (component bins "
                      f"excluded: {cfg.design.noise.exclude}); depends on the recording length for a noise-free "
                      "network; its higher_order_rate counts on-lattice bins that are no component up to max_order",
            "pre/post": "pre = after batch norm (and the residual addition), post = after the nonlinearity",
            "silent_fraction": "units with no AC content above the detection floor in any image: no response at "
                               "any bin (e.g. units that only ever see the black background)",
            "strongest_units.index": "the unit's index in the layer's activation: [row, column, channel] for a conv "
                                     "layer [h, w, c], [token, channel] for a transformer's [tokens, dim]",
            "model.checkpoint": "relative to config.cache_dir",
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


def _figures(out, spec, results, summaries, cfg, labels, freqs):
    design = cfg.design
    comps = design.components
    posts = cfg.model.nonlinear_layers()
    layer = posts[-1]
    res = results[layer]
    # The deepest layer's unit with the largest relative amplitude at f1+f2 (where the paper's claim lives), or at
    # f1 when the design has one tag.
    target = "f1+f2" if design.tags.n_tags >= 2 else "f1"
    best = summaries[layer]["strongest_units"].get(target) or summaries[layer]["strongest_units"].get("f1")
    figs = {}
    if best:
        idx = tuple(int(v) for v in best[0]["index"])
        amp = np.asarray(spec[layer])[(slice(None), *idx)]
        figs["spectrum"] = plots.plot_spectrum(
            freqs, amp, comps, str(out / "spectrum_strongest.png"),
            title=f"{layer}, unit {idx}: the largest relative amplitude at {target} "
                  f"({best[0]['relative']:.3g} of its AC amplitude); mean spectrum of {cfg.n_images} images")
    figs["fractions"] = plots.plot_layer_fractions(
        {n: summaries[n] for n in posts}, str(out / "layer_fractions.png"),
        ylabel=f"fraction of units that respond ({design.significance} rule)",
        title=f"{cfg.model.label}, {cfg.n_images} images, after the nonlinearities: units that respond, by the "
              f"{'amplitude test across images' if design.significance == 'amplitude' else 'z rule'}")
    map_layers = cfg.model.map_layers()
    if not map_layers:
        return {k: os.path.basename(v) for k, v in figs.items()}
    map_labels = [lab for lab in ("f1", "f2", "f1+f2") if any(lab in lb.split("=") for lb in labels)]
    maps = {n: {lab: snr_map(results[n], res.row(lab)) for lab in map_labels} for n in map_layers}
    parts = default_parts(1, 1000, design.tags.n_tags)[:, 0]  # the default parts' column edges, as fractions
    splits = tuple(float(np.argmax(p)) / 1000 for p in parts[1:]) if design.tags.n_tags != 4 else (0.5,)
    figs["snr_maps"] = plots.plot_maps(
        maps, str(out / "snr_maps.png"), vmin=-1, vmax=3, splits=splits,
        colorbar_label="log10 SNR, median over channels (3: SNR >= 1000, e.g. no noise around the response)",
        bad_label="no channel has a defined SNR (silent units)",
        title=f"SNR at each position of {len(map_layers)} layers (post-activation), mean spectrum of {cfg.n_images} "
              f"images; "
              f"dashed: where the parts meet")
    return {k: os.path.basename(v) for k, v in figs.items()}


__all__ = ["prepare", "run_job", "writable_dir"]
