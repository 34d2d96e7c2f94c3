"""Calibrate the detection limit: float32 probes of a trained ResNet against the same network in float64
(``experiments/detection_limit.py``).

A network driven by an exactly periodic stimulus has, in exact arithmetic, structural zeros: a unit that sees one
part has no response at the other tag or at intermodulation, a linear network has no harmonics. In float32 such
zeros come out as rounding, which is periodic too and lands on the same bins as real responses. The detection
limit ``L`` (``Design.detection_limit``) zeroes every coefficient whose amplitude is at or below ``L`` times the
series' AC amplitude (``sqrt(2) * std`` over time: never its DC offset, which is arbitrary).

For every recorded unit and every bin of one stimulus period (the components and the higher-order lattice bins),
the amplitude is computed in float64 (``jax_enable_x64``: the reference) and in float32, both without any floor,
relative to the unit's float64 AC amplitude, and for each candidate ``L`` it reports:

- ``false_pass``: pairs that are zero in exact arithmetic (float64 relative amplitude below :data:`ZERO`) but
  above ``L`` in float32: rounding that would be reported as a response;
- ``miss``: pairs whose float64 relative amplitude exceeds ``L`` but whose float32 one does not: real responses the
  floor deletes;
- ``miss_2x``: the same for pairs at least twice the limit (a floor must not delete clear responses);

for the trained network (ReLU), the same weights with identity activations (a linear network, where every harmonic
and intermodulation bin is a structural zero), and the old rule (``1e-4`` of the series' largest magnitude, DC
included) for comparison.

Writes ``detection_limit.json`` and ``detection_limit.png``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.experiments.config import JobConfig, job_settings, load_model
from ssvepjax.experiments.store import Store
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.recording.probing import flat_dict
from ssvepjax.report import plots
from ssvepjax.report.tables import markdown_table
from ssvepjax.spectral.fourier import bins_of_rows, make_plan, transform
from ssvepjax.tagging.masks import default_parts
from ssvepjax.tagging.tags import gains

__all__ = ["CANDIDATES", "RESOLUTIONS", "SILENT", "ZERO", "Config", "compare", "rates", "relative_amplitudes",
           "report", "run"]

#: Detection limits tried, relative to the series' AC amplitude.
CANDIDATES = (1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3)
#: Float32 resolution guards tried, relative to the series' peak magnitude.
RESOLUTIONS = (0.0, 1e-7, 1e-6, 1e-5)
#: Float64 relative amplitude below which a (unit, bin) pair is a structural zero.
ZERO = 1e-9
#: Float64 AC amplitude, as a fraction of the peak, below which a unit does not respond at all.
SILENT = 1e-10
COLUMNS = [("false pass", "false_pass"), ("miss", "miss"), ("miss (>= 2x limit)", "miss_2x")]


@dataclasses.dataclass(frozen=True)
class Config(JobConfig):
    """The job's settings; 8 test images by default (``--quick``: ResNet-8, 4 images)."""

    n_images: int = 8
    out: str = "runs/detection_limit"


def relative_amplitudes(fn, images, masks, tags, dtype):
    """``{layer: (amp [P//2, units], ac [units], peak [units])}``: amplitudes at bins 1..P/2 of one period,
    no floor, the AC amplitude and the peak magnitude, each averaged over images."""
    g = np.asarray(gains(tags.freqs_hz, fps=tags.fps, n_frames=tags.n_frames, min_gain=tags.min_gain,
                         phase=tags.phase), np.float64)[: tags.period_frames]
    gain = 1.0 + np.einsum("tp,phw->thw", g - 1.0, np.asarray(masks, np.float64))
    plan = make_plan(tags.period_frames, "fft")
    run_frames = jax.jit(lambda frames: flat_dict(jax.vmap(fn)(frames)))
    out = {}
    for image in images:
        frames = jnp.asarray(np.asarray(image, np.float64)[None] * gain[..., None], dtype)
        for k, x in run_frames(frames).items():
            x = x.reshape(x.shape[0], -1)
            amp = np.asarray(bins_of_rows(transform(x, plan, 0.0), plan), np.float64)[1:]
            ac = np.sqrt(2) * np.asarray(jnp.std(x, axis=0), np.float64)
            peak = np.asarray(jnp.max(jnp.abs(x), axis=0), np.float64)
            prev = out.get(k, (0, 0, 0))
            out[k] = (prev[0] + amp / len(images), prev[1] + ac / len(images), prev[2] + peak / len(images))
    return out


def rates(p: dict, limit: float, resolution: float, old: bool = False) -> dict:
    """False passes and misses of one floor rule against the float64 truth (module docstring)."""
    if old:
        floor = limit * p["peak32"]
    else:
        floor = np.maximum(limit * p["ac32"], resolution * p["peak32"])
    above = p["a32"] > floor
    zero, real = p["zero"], p["r64"] > limit
    clear = p["r64"] > 2 * limit
    return {"rule": "old: peak" if old else "AC amplitude", "limit": limit, "resolution": 0.0 if old else resolution,
            "false_pass": float((above & zero).sum() / max(zero.sum(), 1)),
            "miss": float((~above & real).sum() / max(real.sum(), 1)),
            "miss_2x": float((~above & clear).sum() / max(clear.sum(), 1)),
            "structural_zeros": int(zero.sum()), "responses_above_limit": int(real.sum())}


def compare(fn32, fn64, images, masks, tags) -> dict:
    """Rounding quantiles, silent units and :func:`rates` for every candidate rule; ``rel64`` and ``err`` (the
    float64 relative amplitudes that are not structural zeros, and the rounding errors) for the figure."""
    r32 = relative_amplitudes(fn32, images, masks, tags, jnp.float32)
    r64 = relative_amplitudes(fn64, images, masks, tags, jnp.float64)
    cat = lambda d, i: np.concatenate([d[k][i] for k in r64], -1)  # noqa: E731
    a64, ac64, peak64 = cat(r64, 0), cat(r64, 1)[None], cat(r64, 2)[None]
    silent = ac64 <= SILENT * peak64
    r64_rel = np.where(silent, 0.0, a64 / np.where(silent, 1.0, ac64))
    p = {"a32": cat(r32, 0), "ac32": cat(r32, 1)[None], "peak32": cat(r32, 2)[None], "r64": r64_rel,
         "zero": np.broadcast_to(silent, a64.shape) | (r64_rel < ZERO)}
    err = np.abs(p["a32"] - a64)[:, ~silent[0]] / ac64[:, ~silent[0]]
    table = [rates(p, lim, res) for res in RESOLUTIONS for lim in CANDIDATES]
    table.append(rates(p, 1e-4, 0.0, old=True))
    return {"rounding_error_quantiles": {q: float(np.quantile(err, q)) for q in (0.5, 0.99, 0.9999, 1.0)},
            "silent_units": float(silent.mean()), "table": table, "rel64": r64_rel[~p["zero"]], "err": err}


def run(cfg: Config, store: Store) -> dict:
    """Compare float32 with float64 for the trained network and its linear twin; every conv, pre and post."""
    data, trained, images = load_model(cfg)
    tags = cfg.design.tags
    masks = default_parts(*data.image_shape[:2], tags.n_tags)
    include = cfg.model.recorded_layers()
    results, histograms = {}, {}
    for name, act in (("trained", None), ("linear", "identity")):
        module = trained.module if act is None else trained.module.clone(act=act)
        kw = dict(capture_intermediates=False, include=include, train=False)
        # 64-bit types only for the reference, scoped: the setting is global and would leak into the caller.
        with jax.enable_x64(True):
            v64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), trained.variables)
            v32 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), trained.variables)
            res = compare(linen_fn(module, v32, **kw), linen_fn(module, v64, **kw), images, masks, tags)
        histograms[name] = (res.pop("rel64"), res.pop("err"))
        results[name] = res
    figure = plots.plot_detection_limit(histograms, str(store.path("detection_limit.png")))
    return store.write({
        "experiment": "detection_limit", "settings": job_settings(cfg, data, trained),
        "conventions": {"reference": "float64 forward pass of the same weights (jax_enable_x64)",
                        "relative_amplitude": "amplitude / (sqrt(2) * std over time), one stimulus period, "
                                              "mean over images, no floor",
                        "structural_zero": f"float64 relative amplitude < {ZERO}",
                        "false_pass": "structural zeros above the limit in float32",
                        "miss": "float64 above the limit, float32 not",
                        "floor": "max(detection_limit * AC amplitude, resolution * peak magnitude), each of the "
                                 "float32 series itself; old rule: 1e-4 * peak magnitude",
                        "silent": f"float64 AC amplitude <= {SILENT} * peak magnitude: every bin a structural zero"},
        "conditions": results, "seconds": round(store.seconds(), 1),
        "figure": str(figure).rsplit("/", 1)[-1],
    })


def report(result: dict) -> str:
    """What the command line prints: per network, the rounding quantiles and every rule's error rates."""
    lines = []
    for name, res in result["conditions"].items():
        quantiles = {k: f"{v:.2e}" for k, v in res["rounding_error_quantiles"].items()}
        lines.append(f"{name}: float32 rounding relative to the AC amplitude, quantiles {quantiles}; silent units "
                     f"{res['silent_units']:.4f}")
        lines.append(markdown_table({f"{r['rule']} {r['limit']:g}, resolution {r['resolution']:g}": r
                                     for r in res["table"]}, COLUMNS, digits=4))
    return "\n".join(lines)
