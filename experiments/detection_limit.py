"""Calibrate the detection limit: float32 probes of a trained ResNet against the same network in float64.

A network driven by an exactly periodic stimulus has, in exact arithmetic, structural zeros: a unit that
sees one part has no response at the other tag or at intermodulation, a linear network has no harmonics.
In float32 such zeros come out as rounding, which is periodic too and lands on the same bins as real
responses. The detection limit ``L`` (``Design.detection_limit``) zeroes every coefficient whose amplitude
is at or below ``L`` times the series' AC amplitude (``sqrt(2) * std`` over time: never its DC offset,
which is arbitrary).

For every recorded unit and every bin of one stimulus period (the components and the higher-order lattice
bins), this script computes the amplitude in float64 (``jax_enable_x64``: the reference) and in float32,
both without any floor, relative to the unit's float64 AC amplitude, and reports for each candidate ``L``:

- ``false_pass``: pairs that are zero in exact arithmetic (float64 relative amplitude below 1e-9) but
  above ``L`` in float32: rounding that would be reported as a response;
- ``miss``: pairs whose float64 relative amplitude exceeds ``L`` but whose float32 one does not: real
  responses the floor deletes;
- ``miss_2x``: the same for pairs at least twice the limit (a floor must not delete clear responses);

for the trained network (ReLU), the same weights with identity activations (a linear network, where
every harmonic and intermodulation bin is a structural zero), and the old rule (``1e-4`` of the series'
largest magnitude, DC included) for comparison.

    python experiments/detection_limit.py --quick --out runs/detection_limit_quick   # CI size
    python experiments/detection_limit.py --out runs/detection_limit                 # ResNet-32, 8 images

Writes ``detection_limit.json`` and ``detection_limit.png``.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import ssvepjax as sj

CANDIDATES = (1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # detection_limit: relative to the AC amplitude
RESOLUTIONS = (0.0, 1e-7, 1e-6, 1e-5)  # float32 resolution guard: relative to the series' peak magnitude
ZERO = 1e-9  # float64 relative amplitude below which a pair is a structural zero
SILENT = 1e-10  # float64 AC amplitude below this fraction of the peak: the unit does not respond at all


def relative_amplitudes(fn, images, masks, tags, dtype):
    """``{layer: (amp [P//2, units], ac [units], peak [units])}``: amplitudes at bins 1..P/2 of one period,
    no floor, the AC amplitude and the peak magnitude, each averaged over images."""
    g = np.asarray(sj.gains(tags.freqs_hz, fps=tags.fps, n_frames=tags.n_frames, min_gain=tags.min_gain,
                            phase=tags.phase), np.float64)[: tags.period_frames]
    gain = 1.0 + np.einsum("tp,phw->thw", g - 1.0, np.asarray(masks, np.float64))
    plan = sj.make_plan(tags.period_frames, "fft")
    run = jax.jit(lambda frames: sj.flat_dict(jax.vmap(fn)(frames)))
    out = {}
    for image in images:
        frames = jnp.asarray(np.asarray(image, np.float64)[None] * gain[..., None], dtype)
        for k, x in run(frames).items():
            x = x.reshape(x.shape[0], -1)
            amp = np.asarray(sj.bins_of_rows(sj.transform(x, plan, 0.0), plan), np.float64)[1:]
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


def compare(fn32, fn64, images, masks, tags):
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


def main(argv=None) -> dict:
    p = sj.job_parser(__doc__.splitlines()[0], "runs/detection_limit", n_images=8)
    cfg = sj.config_from_args(p.parse_args(argv), n_images=8)
    t0 = time.time()
    out = cfg.out_dir
    data, trained, images = sj.load_model(cfg)
    tags = cfg.design.tags
    masks = sj.default_parts(*data.image_shape[:2], tags.n_tags)
    names = sj.conv_layer_names(cfg.model.depth)
    include = [f"{n}/{s}" for n in names for s in ("pre", "post")]
    results, figs = {}, {}
    for name, act in (("trained", None), ("linear", "identity")):
        module = trained.module if act is None else trained.module.clone(act=act)
        kw = dict(capture_intermediates=False, include=include, train=False)
        # 64-bit types only for the reference, scoped: the setting is global and would leak into the caller.
        with jax.enable_x64(True):
            v64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), trained.variables)
            v32 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), trained.variables)
            res = compare(sj.linen_fn(module, v32, **kw), sj.linen_fn(module, v64, **kw), images, masks, tags)
        figs[name] = (res.pop("rel64"), res.pop("err"))
        results[name] = res
        print(f"{name}: float32 rounding relative to the AC amplitude, quantiles "
              f"{ {k: f'{v:.2e}' for k, v in res['rounding_error_quantiles'].items()} }; silent units "
              f"{res['silent_units']:.4f}")
        print(sj.markdown_table({f"{r['rule']} {r['limit']:g}, resolution {r['resolution']:g}": r
                                 for r in res["table"]},
                                [("false pass", "false_pass"), ("miss", "miss"), ("miss (>= 2x limit)", "miss_2x")],
                                digits=4))
    report = {"experiment": "detection_limit", "settings": sj.job_settings(cfg, data, trained),
              "conventions": {"reference": "float64 forward pass of the same weights (jax_enable_x64)",
                              "relative_amplitude": "amplitude / (sqrt(2) * std over time), one stimulus period, "
                                                    "mean over images, no floor",
                              "structural_zero": f"float64 relative amplitude < {ZERO}",
                              "false_pass": "structural zeros above the limit in float32",
                              "miss": "float64 above the limit, float32 not"},
              "conditions": results, "seconds": round(time.time() - t0, 1)}
    report["conventions"]["floor"] = ("max(detection_limit * AC amplitude, resolution * peak magnitude), each of the "
                                      "float32 series itself; old rule: 1e-4 * peak magnitude")
    report["conventions"]["silent"] = f"float64 AC amplitude <= {SILENT} * peak magnitude: every bin a structural zero"
    sj.write_json(out / "detection_limit.json", report)
    report["figure"] = _figure(figs, str(out / "detection_limit.png"))
    print(f"wrote {out}/detection_limit.json and detection_limit.png in {report['seconds']} s")
    return report


def _figure(figs, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.logspace(-12, 0, 61)
    for ax, (name, (rel64, err)) in zip(axes, figs.items()):
        ax.hist(np.clip(rel64[np.isfinite(rel64)], 1e-12, 1), bins=bins, alpha=0.6, label="float64 amplitude")
        ax.hist(np.clip(err.ravel(), 1e-12, 1), bins=bins, alpha=0.6, label="|float32 - float64|")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative to the unit's AC amplitude")
        ax.set_ylabel("(unit, bin) pairs")
        ax.set_title(f"{name} network", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Amplitudes and float32 rounding at every bin of one stimulus period", fontsize=10)
    return sj.save_figure(fig, path)


if __name__ == "__main__":
    sj.run_script(main)
