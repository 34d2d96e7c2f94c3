"""Per-layer summaries of tag responses: who responds (by a stated rule), how much, and where the power goes.

:func:`layer_summary` reduces one layer's :class:`~ssvepjax.analysis.results.LayerResult` to the numbers
the report, the experiments and the README tables print. Every summary of a layer lives here.

Two kinds of number, kept apart (SCIENCE.md section 6):

- **effect sizes** (``effects``): relative amplitudes at the components, the share of each unit's AC power
  at each kind of bin, intermodulation relative to the fundamentals, summed amplitudes over harmonics.
  For a noise-free network they do not depend on the recording length;
- **fractions of units that respond**, under the rule of ``design.significance`` (``rule`` says which):
  the amplitude test across images by default (T-invariant), or the EEG z rule. The z-rule fractions are
  always reported too, under ``z_rule``, because they are what the EEG literature reports; for a
  noise-free network they change with the recording length alone.
"""

from __future__ import annotations

import numpy as np

from ssvepjax.analysis.effects import POWER_KINDS, unit_effects
from ssvepjax.analysis.results import LayerResult
from ssvepjax.spectral.design import Design
from ssvepjax.spectral.noise import harmonic_range, harmonic_sum
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
    out: dict[int, list[tuple[int, int]]] = {p: [] for p in range(design.tags.n_tags)}
    for c in design.components:
        if c.kind in (FUNDAMENTAL, HARMONIC) and not c.shared:
            out[c.tag].append((c.order, c.bin))
    return {p: sorted(v) for p, v in out.items()}


def responding(res: LayerResult, design: Design, rule: str | None = None) -> np.ndarray:
    """``bool [m, n_units]``: which units respond at each component bin under ``rule`` (default the design's).

    ``"amplitude"`` needs the amplitude test (``measure(..., relative=...)``); ``"z"`` uses the z rule.
    """
    rule = rule or design.significance
    m = res.neuron["z"].shape[0]
    if rule == "z":
        return significant(res.neuron["z"].reshape(m, -1), design.noise.z_threshold)
    if res.test is None:
        raise ValueError("the amplitude test needs per-image moments: probe_dataset(..., relative=True) and "
                         "measure(spec, design, relative=...); or choose Design(significance='z')")
    return np.asarray(res.test["reject"]).reshape(m, -1)


def defined_units(res: LayerResult, design: Design, rule: str | None = None) -> np.ndarray:
    """``bool [m, n_units]``: where ``rule`` (default the design's) can decide whether a unit responds.

    The z rule cannot decide where there is no noise estimate (fewer than ``n_neighbors`` noise bins around
    the component, as at f1 with T = 160 frames: BCA is NaN); where there is one, a z of 0 / 0 (an amplitude
    equal to a noise window with no spread, e.g. a silent unit) is a defined "no": the amplitude does not
    exceed its noise. The amplitude test decides wherever its p-value is a number. Fractions of units
    (:func:`significance_summary`) are over the defined units and NaN where none is: an undefined measure is
    never counted as "does not respond".
    """
    rule = rule or design.significance
    m = res.neuron["z"].shape[0]
    if rule == "z":
        return ~np.isnan(np.asarray(res.neuron["bca"], np.float64).reshape(m, -1))
    if res.test is None:
        return np.ones((m, res.n_units), bool)
    return ~np.isnan(np.asarray(res.test["p"], np.float64)).reshape(m, -1)


def decisions(res: LayerResult, design: Design, rule: str | None = None) -> np.ndarray:
    """``float [m, n_units]``: 1.0 where a unit responds (:func:`responding`), 0.0 where it does not, NaN where
    ``rule`` (default the design's) cannot decide (:func:`defined_units`): an undefined unit is never a "no"."""
    return np.where(defined_units(res, design, rule), responding(res, design, rule).astype(np.float64), np.nan)


def _fraction(sig: np.ndarray, defined: np.ndarray) -> float:
    """The fraction of defined units that respond (NaN where no unit is defined)."""
    n = int(defined.sum())
    return float((sig & defined).sum() / n) if n else float("nan")


def _nanmean(values) -> float:
    v = np.asarray(values, np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def _fractions(sig: np.ndarray, design: Design, labels: list[str], row: dict[int, int],
               defined: np.ndarray | None = None) -> dict:
    """Fractions of units responding, per component, per tag, per kind and per intermodulation order.

    Over the units where the rule is ``defined`` (:func:`defined_units`; NaN where none is); ``defined``
    holds the count of those units per component. Means over components skip undefined components (no
    defined unit); so does "any": a unit responds at any component of a kind if it responds at one of the
    others, does not if it is defined at all of them, and is undefined otherwise.
    """
    comps = design.components
    defined = np.ones_like(sig, bool) if defined is None else np.asarray(defined, bool)
    frac = np.array([_fraction(sig[i], defined[i]) for i in range(sig.shape[0])])
    out = {"per_component": {labels[i]: float(frac[i]) for i in range(len(labels))},
           "defined": {labels[i]: int(defined[i].sum()) for i in range(len(labels))}}
    for i, b in enumerate(design.tags.tag_bins):
        out[f"f{i + 1}"] = float(frac[row[b]])
    for kind in (HARMONIC, INTERMODULATION):
        rows = [row[b] for b in unique_bins(comps, kind, include_shared=False)]
        out[f"mean_{kind}"] = _nanmean(frac[rows]) if rows else float("nan")
        rows = [r for r in rows if defined[r].any()]
        if rows:
            yes = (sig[rows] & defined[rows]).any(0)
            out[f"any_{kind}"] = _fraction(yes, yes | defined[rows].all(0))
        else:
            out[f"any_{kind}"] = float("nan")
    by_order: dict[int, set[int]] = {}
    for c in comps:
        if c.kind == INTERMODULATION and not c.shared:
            by_order.setdefault(c.order, set()).add(row[c.bin])
    for o, rows in sorted(by_order.items()):
        out[f"intermodulation_order{o}"] = _nanmean(frac[sorted(rows)])
    return out


def _nanmedian(x) -> float:
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    return float(np.median(x)) if x.size else float("nan")


def _rate(values: np.ndarray, threshold: float, zero=None) -> float:
    """The fraction of defined ``values`` above ``threshold``: NaN values are undefined unless ``zero`` (an
    amplitude of the same shape) is 0 there; NaN where none is defined (no rows: one tag)."""
    v = np.asarray(values, np.float64).ravel()
    defined = ~np.isnan(v) if zero is None else ~np.isnan(v) | (np.asarray(zero).ravel() == 0)
    return _fraction(np.nan_to_num(v, nan=-np.inf) > threshold, defined)


def significance_summary(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """Which units of one layer respond, per component and kind, under the design's rule and the z rule.

    Keys: ``rule`` (a sentence), ``n_units``, ``unit_shape``, ``silent_fraction`` (units with no AC content
    above the detection floor: no response at any bin), the fractions of units responding (per component,
    per tag, per kind and per intermodulation order) under the design's rule, ``false_positive_rate`` (the
    same rule at off-lattice bins, where no combination of the tags can respond: exactly 0 for a noise-free
    network probed over whole periods, by construction), ``z_rule`` (the fractions under z > threshold, with
    its own ``false_positive_rate`` and ``higher_order_rate``: dependent on the recording length for a
    noise-free network), ``median_snr`` and ``strongest_units``. "Per kind" values are means over the
    non-shared components of that kind; ``any_*`` is the fraction of units responding at one or more
    components of the kind.
    """
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    thr = design.noise.z_threshold
    z_sig = responding(res, design, "z")
    out = {"rule": design.rule, "n_units": res.n_units, "unit_shape": list(res.unit_shape),
           "silent_fraction": float((np.asarray(res.effects["ac"]) == 0).mean())}
    out.update(_fractions(responding(res, design), design, labels, row, defined_units(res, design)))
    # A NaN z at a bin where the unit's relative amplitude is 0 cannot be above threshold: a defined "no".
    noise_zero = None if res.neuron_noise_relative is None else res.neuron_noise_relative
    if design.significance == "z":
        out["false_positive_rate"] = _rate(res.neuron_noise_z, thr, noise_zero)
    else:
        out["false_positive_rate"] = _rate(res.neuron_noise_relative, design.detection_limit)
    z_rule = _fractions(z_sig, design, labels, row, defined_units(res, design, "z"))
    z_rule["false_positive_rate"] = _rate(res.neuron_noise_z, thr, noise_zero)
    z_rule["higher_order_rate"] = _rate(res.neuron_lattice_z, thr)
    out["z_rule"] = z_rule
    snr = res.neuron["snr"].reshape(len(cb), -1)
    # Units that see one part only respond with zero noise around their tag (a deterministic network
    # has no noise): their SNR is infinite, so the robust median summarises SNR, not the mean.
    out["median_snr"] = {f"f{i + 1}": _nanmedian(snr[row[b]]) for i, b in enumerate(design.tags.tag_bins)}
    out["strongest_units"] = strongest_units(res, design, top_k)
    return out


def strongest_units(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """The ``top_k`` units by relative amplitude at each tag and at f1+f2 (if two tags): index, relative
    amplitude, amplitude, z and SNR."""
    _, labels, _ = design.bins()
    out = {}
    targets = [f"f{i + 1}" for i in range(design.tags.n_tags)] + (["f1+f2"] if design.tags.n_tags >= 2 else [])
    for lab in targets:
        i = next((j for j, lb in enumerate(labels) if lab in lb.split("=")), None)
        if i is None:
            continue
        rel = np.nan_to_num(np.asarray(res.effects["relative"][i], np.float64).reshape(-1), nan=-np.inf)
        top = np.argsort(-rel, kind="stable")[:top_k]
        out[lab] = [
            {"index": [int(v) for v in np.unravel_index(t, res.unit_shape)], "relative": float(rel[t]),
             "amplitude": float(res.neuron["amplitude"][i].reshape(-1)[t]),
             "z": float(res.neuron["z"][i].reshape(-1)[t]), "snr": float(res.neuron["snr"][i].reshape(-1)[t])}
            for t in top if rel[t] > 0
        ]
    return out


def effect_summary(res: LayerResult, design: Design = Design()) -> dict:
    """T-invariant effect sizes of one layer, over its non-silent units.

    ``relative``: median relative amplitude (amplitude / AC amplitude) at each tag and at f1+f2;
    ``share``: the mean share of the units' AC power per kind of bin (``analysis.effects.POWER_KINDS``);
    ``im_ratio``: the median of ``sqrt(P_intermodulation / P_fundamental)``; ``layer_share``: the shares of
    the layer's mean spectrum (one number per kind, the grand average).
    """
    ac = np.asarray(res.effects["ac"]).reshape(-1)
    live = ac > 0
    rel = np.asarray(res.effects["relative"]).reshape(len(design.bins()[0]), -1)[:, live]
    targets = [f"f{i + 1}" for i in range(design.tags.n_tags)] + (["f1+f2"] if design.tags.n_tags >= 2 else [])
    med = lambda x: float(np.median(x)) if x.size else float("nan")  # noqa: E731
    layer = unit_effects(res.layer_spectrum, design)
    return {
        "units": int(live.sum()),
        "relative": {lab: med(rel[component_row(design, lab)]) for lab in targets},
        "share": {k: float(np.mean(np.asarray(res.effects["share"][k]).reshape(-1)[live])) if live.any()
                  else float("nan") for k in POWER_KINDS},
        "im_ratio": med(np.asarray(res.effects["im_ratio"]).reshape(-1)[live & np.isfinite(
            np.asarray(res.effects["im_ratio"]).reshape(-1))]),
        "layer_share": {k: float(layer["share"][k]) for k in POWER_KINDS},
    }


def layer_summary(res: LayerResult, design: Design = Design(), top_k: int = 5) -> dict:
    """:func:`significance_summary`, :func:`effect_summary`, harmonic orders, harmonic sums, SNR and ratios.

    Added keys:

    - ``effects``: :func:`effect_summary`;
    - ``harmonic_order``: ``{n: fraction}``, the fraction of units responding (design's rule) at the n-th
      harmonic, averaged over the tags whose n-th harmonic has a bin of its own (n = 1: fundamentals);
      ``harmonic_order_by_tag``: the same per tag;
    - ``harmonic_range``: per tag, how many harmonics are summed: those before the first two consecutive
      harmonics where the grand-averaged response (the layer's mean spectrum) does not respond (Retter,
      Rossion & Schiltz 2021); under the amplitude rule the grand average responds where its relative
      amplitude exceeds the detection limit, under the z rule where its z exceeds the threshold;
    - ``summed_amplitude``: per tag, the mean over units of the amplitude summed over that range (activation
      units; T-invariant for a noise-free network); ``summed_bca``: the same for the baseline-corrected
      amplitude (the EEG convention; depends on the noise window);
    - ``snr``: per tag and at f1+f2, the median SNR, the mean over units with finite SNR, and the fraction
      of units with infinite SNR (a response with zero noise floor: a deterministic unit that sees one
      part only);
    - ``amplitude_ratio``: :func:`amplitude_ratios`.
    """
    out = significance_summary(res, design, top_k)
    out["effects"] = effect_summary(res, design)
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    m = len(cb)
    sig, defined = responding(res, design), defined_units(res, design)
    frac = np.array([_fraction(sig[i], defined[i]) for i in range(m)])  # NaN where undefined
    layer_effects = unit_effects(res.layer_spectrum, design)
    if design.significance == "z":
        grand = significant(res.layer["z"], design.noise.z_threshold)
    else:
        grand = np.nan_to_num(np.asarray(layer_effects["relative"], np.float64), nan=0.0) > design.detection_limit
    amp = res.neuron["amplitude"].reshape(m, -1)
    bca = res.neuron["bca"].reshape(m, -1)
    by_tag: dict[str, dict[int, float]] = {}
    by_order: dict[int, list[float]] = {}
    ranges, summed_amp, summed_bca = {}, {}, {}
    for p, hb in harmonic_bins(design).items():
        tag = f"f{p + 1}"
        by_tag[tag] = {n: float(frac[row[b]]) for n, b in hb}
        for n, b in hb:
            by_order.setdefault(n, []).append(float(frac[row[b]]))
        rows = [row[b] for _, b in hb]
        ranges[tag] = harmonic_range(grand[rows])
        summed_amp[tag] = float(np.mean(harmonic_sum(amp[rows].T, grand[rows])))
        summed_bca[tag] = float(np.mean(harmonic_sum(bca[rows].T, grand[rows])))
    out["harmonic_order"] = {n: _nanmean(v) for n, v in sorted(by_order.items())}
    out["harmonic_order_by_tag"] = by_tag
    out["harmonic_range"] = ranges
    out["summed_amplitude"] = summed_amp
    out["summed_bca"] = summed_bca
    snr = res.neuron["snr"].reshape(m, -1)
    snr_out = {}
    targets = [f"f{p + 1}" for p in range(design.tags.n_tags)] + (["f1+f2"] if design.tags.n_tags >= 2 else [])
    for lab in targets:
        s = snr[component_row(design, lab)]
        finite = s[np.isfinite(s)]
        defined = s[~np.isnan(s)]
        snr_out[lab] = {"median": float(np.median(defined)) if defined.size else None,
                        "mean_finite": float(finite.mean()) if finite.size else None,
                        "infinite_fraction": float(np.isinf(s).mean())}
    out["snr"] = snr_out
    out["amplitude_ratio"] = amplitude_ratios(res, design)
    return out


def amplitude_ratios(res: LayerResult, design: Design = Design()) -> dict[str, dict]:
    """How large harmonics and intermodulation are next to the fundamentals, unit by unit.

    ``"2f1/f1"``: ``A(2 f_1) / A(f_1)`` per unit (units with ``A(f_1) > 0``); ``"f1+f2/sqrt(f1*f2)"``:
    ``A(f_1 + f_2) / sqrt(A(f_1) A(f_2))``. Each is summarised by its median and 99th percentile over
    units. Both are Fourier-coefficient ratios: T-invariant for a noise-free network.
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
    if design.tags.n_tags >= 2:
        a1, a2, s = (amp[component_row(design, lab)] for lab in ("f1", "f2", "f1+f2"))
        out["f1+f2/sqrt(f1*f2)"] = stats(s, np.sqrt(a1 * a2))
    return out


__all__ = ["amplitude_ratios", "component_row", "decisions", "defined_units", "effect_summary", "harmonic_bins",
           "layer_summary", "responding", "significance_summary", "significant", "strongest_units"]
