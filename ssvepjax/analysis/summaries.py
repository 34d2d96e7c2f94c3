"""Per-layer summaries of tag responses: fractions significant, harmonic orders, summed BCA, SNR, ratios.

:func:`layer_summary` reduces one layer's :class:`~ssvepjax.analysis.results.LayerResult` to the numbers
the report, the experiments and the README tables print. Every summary of a layer lives here.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ssvepjax.analysis.results import LayerResult
from ssvepjax.spectral.design import Design
from ssvepjax.spectral.noise import harmonic_sum
from ssvepjax.tagging.frequency_components import FUNDAMENTAL, HARMONIC, INTERMODULATION, unique_bins


def significant(z, threshold: float) -> np.ndarray:
    """z > threshold with NaN (no noise estimate, or zero response and zero noise) never significant."""
    return np.nan_to_num(np.asarray(z, np.float64), nan=-np.inf) > threshold


def component_row(design: Design, label: str) -> int:
    """Row of component ``label`` (e.g. ``"f1+f2"``) in ``design.bins()``; ValueError if unknown."""
    _, labels, _ = design.bins()
    for i, lab in enumerate(labels):
        if label in lab.split("="):
            return i
    raise ValueError(f"unknown component label {label!r}; components of this design: {labels}")


def harmonic_bins(design: Design) -> dict[int, list[tuple[int, int]]]:
    """``{tag index: [(n, bin), ...]}``: each tag's harmonics n = 1, 2, ... that share no bin, in order.

    Shared bins (6 and 7.5 Hz: 30 Hz = 5f1 = 4f2) belong to two tags at once and are left out.
    """
    out: dict[int, list[tuple[int, int]]] = {p: [] for p in range(len(design.tags.freqs_hz))}
    for c in design.components:
        if c.kind in (FUNDAMENTAL, HARMONIC) and not c.shared:
            out[c.tag].append((c.order, c.bin))
    return {p: sorted(v) for p, v in out.items()}


def significance_summary(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """Fractions of significant units (z > threshold) of one layer, per component and per kind.

    "Per kind" values are means over the non-shared components of that kind of the fraction of units
    significant at each, so they compare with ``false_positive_rate`` (the same fraction at noise-only
    bins). ``any_*`` is the fraction of units significant at one or more components of the kind.
    """
    thr = design.noise.z_threshold
    comps = design.components
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    z = res.neuron["z"].reshape(len(cb), -1)
    sig = np.nan_to_num(z, nan=-np.inf) > thr
    frac = sig.mean(1)
    per_comp = {labels[i]: float(frac[i]) for i in range(len(cb))}
    out = {"n_units": res.n_units, "unit_shape": list(res.unit_shape), "per_component": per_comp}
    for i in range(len(design.tags.freqs_hz)):
        out[f"f{i + 1}"] = float(frac[row[design.tags.tag_bins[i]]])
    for kind in (HARMONIC, INTERMODULATION):
        rows = [row[b] for b in unique_bins(comps, kind, include_shared=False)]
        out[f"mean_{kind}"] = float(frac[rows].mean()) if rows else float("nan")
        out[f"any_{kind}"] = float(sig[rows].any(0).mean()) if rows else float("nan")
    by_order = {}
    for c in comps:
        if c.kind == INTERMODULATION and not c.shared:
            by_order.setdefault(c.order, set()).add(row[c.bin])
    for o, rows in sorted(by_order.items()):
        out[f"intermodulation_order{o}"] = float(frac[sorted(rows)].mean())
    for key, zz in (("false_positive_rate", res.neuron_noise_z), ("higher_order_rate", res.neuron_lattice_z)):
        zz = np.nan_to_num(zz.reshape(zz.shape[0], -1), nan=-np.inf)
        out[key] = float((zz > thr).mean()) if zz.size else float("nan")
    amp = res.neuron["amplitude"].reshape(len(cb), -1)
    out["silent_fraction"] = float((amp.max(0) == 0).mean())
    snr = res.neuron["snr"].reshape(len(cb), -1)
    # Units that see one part only respond with zero noise around their tag (a deterministic network
    # has no noise): their SNR is infinite, so the robust median summarises SNR, not the mean.
    out["median_snr"] = {lab: float(np.nanmedian(snr[row[b]])) for b, lab in
                         ((design.tags.tag_bins[i], f"f{i + 1}") for i in range(len(design.tags.freqs_hz)))}
    out["strongest_units"] = strongest_units(res, design, top_k)
    return out


def strongest_units(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """The ``top_k`` units by z at each tag and at f1+f2 (if two tags): index, z and SNR."""
    cb, labels, _ = design.bins()
    out = {}
    targets = [f"f{i + 1}" for i in range(len(design.tags.freqs_hz))]
    if len(targets) >= 2:
        targets.append("f1+f2")
    for lab in targets:
        i = next((j for j, lb in enumerate(labels) if lab in lb.split("=")), None)
        if i is None:
            continue
        z = np.nan_to_num(res.neuron["z"][i].reshape(-1), nan=-np.inf)
        b = np.nan_to_num(res.neuron["bca"][i].reshape(-1), nan=-np.inf)
        top = np.lexsort((-b, -z))[:top_k]  # by z, ties (infinite z: zero noise) by BCA
        out[lab] = [
            {"index": [int(v) for v in np.unravel_index(t, res.unit_shape)], "z": float(z[t]),
             "snr": float(res.neuron["snr"][i].reshape(-1)[t]), "bca": float(b[t])}
            for t in top if z[t] > -np.inf
        ]
    return out


def layer_summary(res: LayerResult, design: Design = Design(), top_k: int = 5, *,
                  rounding_ratio: float = 1e-4) -> dict:
    """``analysis.significance_summary`` plus harmonic orders, summed BCA and robust SNR summaries.

    Added keys:

    - ``harmonic_order``: ``{n: fraction}``, the fraction of units with z > threshold at the n-th
      harmonic, averaged over the tags whose n-th harmonic has a bin of its own (n = 1: fundamentals);
      ``harmonic_order_by_tag``: the same per tag.
    - ``summed_bca``: ``{"f1": ..., ...}``, the mean over units of the BCA summed over significant
      harmonics of that tag (Retter, Rossion & Schiltz 2021: harmonics in order, selection stops after
      two consecutive non-significant ones; shared bins are skipped); ``summed_bca_layer``: the same on
      the layer's mean spectrum. In the units of the activations: compare within a network, not across.
    - ``snr``: per tag and at f1+f2, the median SNR, the mean over units with finite SNR, and the
      fraction of units with infinite SNR (a response with zero noise floor: a deterministic unit that
      sees one part only).
    - ``amplitude_ratio``: :func:`amplitude_ratios`.
    - ``above_rounding``: ``mean_/any_harmonic`` and ``mean_/any_intermodulation`` counting a unit only
      where it is significant *and* its amplitude exceeds ``rounding_ratio`` times its largest
      fundamental. The z rule is scale-free, and in a noise-free float32 network rounding error lands on
      the same bins as real responses (the frames are exactly periodic): the linear control shows it.
    """
    out = significance_summary(res, design, top_k)
    thr = design.noise.z_threshold
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    m = len(cb)
    z = res.neuron["z"].reshape(m, -1)
    bca = np.nan_to_num(res.neuron["bca"].reshape(m, -1))
    frac = significant(z, thr).mean(1)
    by_tag: dict[str, dict[int, float]] = {}
    by_order: dict[int, list[float]] = {}
    summed, summed_layer = {}, {}
    for p, hb in harmonic_bins(design).items():
        tag = f"f{p + 1}"
        by_tag[tag] = {n: float(frac[row[b]]) for n, b in hb}
        for n, b in hb:
            by_order.setdefault(n, []).append(float(frac[row[b]]))
        rows = [row[b] for _, b in hb]
        hs = harmonic_sum(bca[rows].T, np.asarray(z[rows], np.float32).T, thr)
        summed[tag] = float(jnp.mean(hs))
        summed_layer[tag] = float(harmonic_sum(np.nan_to_num(res.layer["bca"][rows]),
                                               np.asarray(res.layer["z"][rows], np.float32), thr))
    out["harmonic_order"] = {n: float(np.mean(v)) for n, v in sorted(by_order.items())}
    out["harmonic_order_by_tag"] = by_tag
    out["summed_bca"] = summed
    out["summed_bca_layer"] = summed_layer
    snr = res.neuron["snr"].reshape(m, -1)
    snr_out = {}
    targets = [f"f{p + 1}" for p in range(len(design.tags.freqs_hz))]
    if len(targets) >= 2:
        targets.append("f1+f2")
    for lab in targets:
        s = snr[component_row(design, lab)]
        finite = s[np.isfinite(s)]
        defined = s[~np.isnan(s)]
        snr_out[lab] = {"median": float(np.median(defined)) if defined.size else None,
                        "mean_finite": float(finite.mean()) if finite.size else None,
                        "infinite_fraction": float(np.isinf(s).mean())}
    out["snr"] = snr_out
    out["amplitude_ratio"] = amplitude_ratios(res, design)
    # z is scale-free: in a noise-free network float32 rounding on the lattice can pass it. Also report the
    # fractions counting only responses at least `rounding_ratio` of the unit's largest fundamental.
    amp = res.neuron["amplitude"].reshape(m, -1)
    fund = amp[[row[b] for b in design.tags.tag_bins]].max(0)
    sig_big = significant(z, thr) & (amp > rounding_ratio * fund[None])
    above = {"ratio": rounding_ratio}
    for kind in (HARMONIC, INTERMODULATION):
        rows = [row[b] for b in unique_bins(design.components, kind, include_shared=False)]
        above[f"mean_{kind}"] = float(sig_big[rows].mean(1).mean()) if rows else float("nan")
        above[f"any_{kind}"] = float(sig_big[rows].any(0).mean()) if rows else float("nan")
    out["above_rounding"] = above
    return out


def amplitude_ratios(res: LayerResult, design: Design = Design()) -> dict[str, dict]:
    """How large harmonics and intermodulation are next to the fundamentals, unit by unit.

    ``"2f1/f1"``: ``A(2 f_1) / A(f_1)`` per unit (units with ``A(f_1) > 0``); ``"f1+f2/sqrt(f1*f2)"``:
    ``A(f_1 + f_2) / sqrt(A(f_1) A(f_2))``. Each is summarised by its median and 99th percentile over
    units. This separates a real nonlinearity (ratios of order 0.01-1) from float32 rounding, which in a
    noise-free network also lands on harmonic bins (the frames are exactly periodic, so rounding error
    is too) but at ratios of order 1e-6 to 1e-4.
    """
    amp = res.neuron["amplitude"].reshape(res.neuron["amplitude"].shape[0], -1).astype(np.float64)
    out = {}

    def stats(num, den):
        ok = den > 0
        if not ok.any():
            return {"median": None, "p99": None, "units": 0}
        r = num[ok] / den[ok]
        return {"median": float(np.median(r)), "p99": float(np.percentile(r, 99)), "units": int(ok.sum())}

    for p, hb in harmonic_bins(design).items():
        bins = dict(hb)
        if 1 in bins and 2 in bins:
            f, f2 = (amp[component_row(design, lab)] for lab in (f"f{p + 1}", f"2f{p + 1}"))
            out[f"2f{p + 1}/f{p + 1}"] = stats(f2, f)
    if len(design.tags.freqs_hz) >= 2:
        a1, a2, s = (amp[component_row(design, lab)] for lab in ("f1", "f2", "f1+f2"))
        out["f1+f2/sqrt(f1*f2)"] = stats(s, np.sqrt(a1 * a2))
    return out


__all__ = ["amplitude_ratios", "component_row", "harmonic_bins", "layer_summary", "significance_summary",
           "significant", "strongest_units"]
