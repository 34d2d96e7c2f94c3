"""Control conditions, per-harmonic measures and receptive-field analysis for part-based tagging.

What a reviewer asks of "the network responds at intermodulation frequencies", and where it is answered:

- :func:`layer_summary` extends ``analysis.significance_summary`` with the fraction of units
  significant at each harmonic order, the Retter et al. (2021) summed baseline-corrected amplitude
  over significant harmonics, and SNR summaries that survive the infinite SNR of noise-free units.
- :func:`control_conditions` builds the controls of one trained network: the same architecture
  untrained (random init), the trained weights with every nonlinearity replaced by identity (an affine
  network: only f1 and f2 can respond), only one part modulated (no intermodulation possible), and the
  tags swapped between parts (responses must follow the part). :func:`run_condition` measures each one
  with the *original* design, so every condition is evaluated at the same bins: a bin where the
  stimulus cannot drive any response is a false-positive check. :func:`part_following` compares the
  swapped condition with the original unit by unit.
- :func:`receptive_field_spans`, :func:`rf_classes` and :func:`rf_class_summary` compute each
  spatial position's theoretical receptive field from the architecture (3x3 convs, padding 1, their
  strides) and report how often units are significant at each component when their receptive field
  covers one part only or several.

A CIFAR ResNet's theoretical receptive field is that of its longest path (all convs): the option-A
shortcut reads the centre pixel of the conv path's window, so every shortcut path lies inside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax import analysis as A
from ssvepjax.frequency_components import FUNDAMENTAL, HARMONIC, INTERMODULATION, unique_bins
from ssvepjax.models import conv_layer_names, resnet_blocks
from ssvepjax.probe import linen_fn
from ssvepjax.spectral import harmonic_sum
from ssvepjax.stimulus import TagConfig, check_masks, halves

CONDITIONS = ("trained", "untrained", "linear", "one_part", "swapped")
CONDITION_DESCRIPTIONS = {
    "trained": "the trained network, every part at its own tag",
    "untrained": "the same architecture with random initial weights (seeded), not trained",
    "linear": "the trained weights with every nonlinearity replaced by identity (batch norm at inference is "
              "affine, so the network is affine: only f1 and f2 can respond)",
    "one_part": "only the first part modulated (at f1), the others static: no intermodulation can exist, and "
                "f2 and its harmonics are bins the stimulus cannot drive",
    "swapped": "the tags swapped between parts (f1 on the last part, ...); measured at the original labels, "
               "so 'f1' is the frequency now on the right half",
}


def _sig(z, threshold: float) -> np.ndarray:
    """z > threshold with NaN (no noise estimate, or zero response and zero noise) never significant."""
    return np.nan_to_num(np.asarray(z, np.float64), nan=-np.inf) > threshold


def component_row(design: A.Design, label: str) -> int:
    """Row of component ``label`` (e.g. ``"f1+f2"``) in ``design.bins()``; ValueError if unknown."""
    _, labels, _ = design.bins()
    for i, lab in enumerate(labels):
        if label in lab.split("="):
            return i
    raise ValueError(f"unknown component label {label!r}; components of this design: {labels}")


def harmonic_bins(design: A.Design) -> dict[int, list[tuple[int, int]]]:
    """``{tag index: [(n, bin), ...]}``: each tag's harmonics n = 1, 2, ... that share no bin, in order.

    Shared bins (6 and 7.5 Hz: 30 Hz = 5f1 = 4f2) belong to two tags at once and are left out.
    """
    out: dict[int, list[tuple[int, int]]] = {p: [] for p in range(len(design.tags.freqs_hz))}
    for c in design.components:
        if c.kind in (FUNDAMENTAL, HARMONIC) and not c.shared:
            out[c.tag].append((c.order, c.bin))
    return {p: sorted(v) for p, v in out.items()}


def layer_summary(res: A.LayerResult, design: A.Design = A.Design(), top_k: int = 5, *,
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
    out = A.significance_summary(res, design, top_k)
    thr = design.noise.z_threshold
    cb, labels, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    m = len(cb)
    z = res.neuron["z"].reshape(m, -1)
    bca = np.nan_to_num(res.neuron["bca"].reshape(m, -1))
    frac = _sig(z, thr).mean(1)
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
    sig_big = _sig(z, thr) & (amp > rounding_ratio * fund[None])
    above = {"ratio": rounding_ratio}
    for kind in (HARMONIC, INTERMODULATION):
        rows = [row[b] for b in unique_bins(design.components, kind, include_shared=False)]
        above[f"mean_{kind}"] = float(sig_big[rows].mean(1).mean()) if rows else float("nan")
        above[f"any_{kind}"] = float(sig_big[rows].any(0).mean()) if rows else float("nan")
    out["above_rounding"] = above
    return out


def amplitude_ratios(res: A.LayerResult, design: A.Design = A.Design()) -> dict[str, dict]:
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


# --- control conditions ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class Condition:
    """One stimulus/network condition: a per-frame function, part masks and tags.

    Attributes:
        name: one of ``CONDITIONS``.
        description: what differs from the trained condition.
        fn: per-frame function ``[H, W, C] -> {layer: activation}``.
        masks: ``[P', H, W]`` part masks actually modulated.
        tags: the tags actually shown (one per mask).
    """

    name: str
    description: str
    fn: Callable
    masks: np.ndarray
    tags: TagConfig


def control_conditions(
    module,
    variables,
    image_shape: Sequence[int],
    tags: TagConfig = TagConfig(),
    *,
    conditions: Sequence[str] = CONDITIONS,
    masks=None,
    include: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Condition]:
    """The control conditions of a trained Linen network.

    Args:
        module: the trained ``flax.linen`` module (a ``CifarResNet``: ``linear`` needs its ``act`` field).
        variables: its trained variables.
        image_shape: ``(H, W, C)`` of one image.
        tags: the tag design of the trained condition (>= 2 tags for ``swapped``).
        conditions: which of ``CONDITIONS`` to build.
        masks: ``[P, H, W]`` part masks (default: left and right halves).
        include: recorded intermediates (``linen_fn``'s ``include``).
        seed: the seed of the random initialisation of ``untrained``.

    Returns:
        ``{name: Condition}`` in the order of ``conditions``.
    """
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; valid: {CONDITIONS}")
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {tuple(image_shape)}")
    h, w, c = (int(v) for v in image_shape)
    p = len(tags.freqs_hz)
    if "swapped" in conditions and p < 2:
        raise ValueError("the 'swapped' condition needs at least 2 tags")
    masks = check_masks(halves(h, w) if masks is None else masks, h, w, p)
    kw = dict(capture_intermediates=False, include=include, train=False)
    out = {}
    for name in conditions:
        mod, var, m, t = module, variables, masks, tags
        if name == "untrained":
            var = module.init(jax.random.key(seed), jnp.zeros((1, h, w, c)), train=False)
        elif name == "linear":
            if not hasattr(module, "act"):
                raise ValueError("the 'linear' condition needs a module with an 'act' field (CifarResNet)")
            mod = module.clone(act="identity")
        elif name == "one_part":
            m, t = masks[:1], dataclasses.replace(tags, freqs_hz=tags.freqs_hz[:1])
        elif name == "swapped":
            t = dataclasses.replace(tags, freqs_hz=tags.freqs_hz[::-1])
        out[name] = Condition(name, CONDITION_DESCRIPTIONS[name], linen_fn(mod, var, **kw), m, t)
    return out


def run_condition(
    cond: Condition, images: np.ndarray, design: A.Design = A.Design(), *, progress: bool = False
) -> dict[str, A.LayerResult]:
    """Probe ``images`` under ``cond`` and measure every layer at the bins of ``design``.

    ``design`` is the original design (its tags, frame count and noise settings), whatever tags the
    condition shows: each condition is read at the same component and noise bins.
    """
    if cond.tags.n_frames != design.tags.n_frames or cond.tags.fps != design.tags.fps:
        raise ValueError(
            f"condition {cond.name!r} has {cond.tags.n_frames} frames at {cond.tags.fps} fps, the design "
            f"{design.tags.n_frames} at {design.tags.fps}: they must match")
    spec = A.spectra(cond.fn, images, cond.masks, cond.tags, progress=progress)
    return A.measure(spec, design)


def tag_significance(results: dict[str, A.LayerResult], design: A.Design = A.Design()) -> dict[str, np.ndarray]:
    """``{layer: bool [P, n_units]}``: which units are significant at each tag's fundamental."""
    rows = [component_row(design, f"f{p + 1}") for p in range(len(design.tags.freqs_hz))]
    thr = design.noise.z_threshold
    return {n: _sig(r.neuron["z"][rows].reshape(len(rows), -1), thr) for n, r in results.items()}


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def part_following(reference: dict[str, np.ndarray], swapped: dict[str, np.ndarray]) -> dict[str, dict]:
    """Do responses follow the part or the frequency when the tags are swapped?

    Args:
        reference: ``tag_significance`` of the original condition (tag p on part p).
        swapped: ``tag_significance`` of the swapped condition, measured with the original design, so
            its row q is the frequency of tag q, now on part ``P - 1 - q``.

    Returns:
        ``{layer: {...}}`` with, averaged over parts, the Jaccard index between the units significant for
        a part in both conditions (``follow_part``) and between the units significant at a frequency in
        both (``follow_frequency``); ``*_exclusive`` use only units significant at one tag and not the
        others (units that see one part), where the two hypotheses disagree most.
    """
    out = {}
    for layer, ref in reference.items():
        if layer not in swapped:
            continue
        sw = swapped[layer]
        p = ref.shape[0]
        excl_ref = ref & (ref.sum(0, keepdims=True) == 1)
        excl_sw = sw & (sw.sum(0, keepdims=True) == 1)
        row = {}
        for key, r, s in (("", ref, sw), ("_exclusive", excl_ref, excl_sw)):
            row[f"follow_part{key}"] = float(np.nanmean([_jaccard(r[i], s[p - 1 - i]) for i in range(p)]))
            row[f"follow_frequency{key}"] = float(np.nanmean([_jaccard(r[i], s[i]) for i in range(p)]))
        row["exclusive_units"] = [int(excl_ref[i].sum()) for i in range(p)]
        out[layer] = row
    return out


# --- receptive fields ------------------------------------------------------------------------------


def _base_layer(layer: str) -> str:
    for suffix in ("/pre", "/post"):
        if layer.endswith(suffix):
            return layer[: -len(suffix)]
    return layer


def conv_strides(depth: int, layer: str) -> list[int]:
    """Strides of the 3x3 convs from the input up to and including ``layer`` (a CIFAR ResNet name).

    ``layer`` is a name of ``conv_layer_names(depth)``, optionally with ``/pre`` or ``/post``.
    """
    n = resnet_blocks(depth)
    names = conv_layer_names(depth)
    base = _base_layer(layer)
    if base not in names:
        raise ValueError(f"unknown layer name {layer!r} for depth {depth}; valid: {names} (optionally /pre, /post)")
    strides = [1]  # stem
    for s in range(3):
        for b in range(n):
            strides += [2 if (s > 0 and b == 0) else 1, 1]
    return strides[: names.index(base) + 1]


def receptive_field_size(depth: int, layer: str) -> int:
    """Width in input pixels of the theoretical receptive field of one position of ``layer`` (unclipped)."""
    size, jump = 1, 1
    for s in conv_strides(depth, layer):
        size, jump = size + 2 * jump, jump * s
    return size


def receptive_field_spans(depth: int, layer: str, size: int) -> np.ndarray:
    """Input pixel span ``[n_out, 2]`` (first, last; clipped to the image) of each position of ``layer``.

    One axis: the same for rows and columns of a square kernel. A 3x3 conv with padding 1 and stride s
    maps output position j to inputs ``j*s - 1 .. j*s + 1``; spans compose backwards from the layer.
    ``n_out`` is the layer's size along the axis: ``(n - 1) // s + 1`` per conv.
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    strides = conv_strides(depth, layer)
    n = int(size)
    for s in strides:
        n = (n - 1) // s + 1
    lo = np.arange(n)
    hi = np.arange(n)
    for s in reversed(strides):
        lo, hi = lo * s - 1, hi * s + 1
    return np.stack([np.clip(lo, 0, size - 1), np.clip(hi, 0, size - 1)], axis=1)


def rf_parts(depth: int, layer: str, masks) -> np.ndarray:
    """``bool [h_out, w_out, P]``: which parts each position's receptive field touches."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"masks must have shape [P, H, W], got {m.shape}")
    m = check_masks(m, m.shape[1], m.shape[2])
    rows = receptive_field_spans(depth, layer, m.shape[1])
    cols = receptive_field_spans(depth, layer, m.shape[2])
    # Summed-area table: "any pixel of part p in the box" in O(1) per box.
    sat = np.pad(m.astype(np.int64).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    r0, r1 = rows[:, 0][:, None], rows[:, 1][:, None] + 1
    c0, c1 = cols[:, 0][None, :], cols[:, 1][None, :] + 1
    count = sat[:, r1, c1] - sat[:, r0, c1] - sat[:, r1, c0] + sat[:, r0, c0]
    return np.moveaxis(count > 0, 0, -1)


def rf_classes(depth: int, layer: str, masks, part_names: Sequence[str] | None = None):
    """Classify each position of ``layer`` by the parts its receptive field covers.

    Returns:
        ``(classes [h_out, w_out] int, names)``: class p < P means "part p only", class P "several
        parts", class P + 1 "no part"; ``names`` has P + 2 entries (``"left-only"``, ``"right-only"``,
        ``"both"``, ``"none"`` for two parts named left and right, the default for two masks).
    """
    cover = rf_parts(depth, layer, masks)
    p = cover.shape[-1]
    if part_names is None:
        part_names = ("left", "right") if p == 2 else tuple(f"part{i + 1}" for i in range(p))
    if len(part_names) != p:
        raise ValueError(f"part_names has {len(part_names)} names for {p} parts")
    k = cover.sum(-1)
    cls = np.where(k == 0, p + 1, np.where(k > 1, p, np.argmax(cover, -1)))
    names = [f"{n}-only" for n in part_names] + ["both" if p == 2 else "several", "none"]
    return cls, names


def rf_class_summary(
    res: A.LayerResult,
    design: A.Design,
    classes: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str] = ("f1", "f2", "f1+f2", "f2-f1"),
) -> dict[str, dict]:
    """Per receptive-field class: units, and the fraction significant at ``labels``, per kind and at noise bins.

    Args:
        res: a layer's measures (activations ``[h, w, c]``).
        design: the design.
        classes, names: from :func:`rf_classes` for this layer (``classes`` is ``[h, w]``).
        labels: components to report one by one.
    """
    if len(res.unit_shape) != 3 or tuple(res.unit_shape[:2]) != classes.shape:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; classes are {classes.shape} (need [h, w, c])")
    thr = design.noise.z_threshold
    comps = design.components
    cb, _, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    sig = _sig(res.neuron["z"], thr)  # [m, h, w, c]
    im_rows = [row[b] for b in unique_bins(comps, INTERMODULATION, include_shared=False)]
    h_rows = [row[b] for b in unique_bins(comps, HARMONIC, include_shared=False)]
    noise = _sig(res.neuron_noise_z, thr)
    out = {}
    for k, name in enumerate(names):
        sel = classes == k
        n_pos = int(sel.sum())
        entry = {"positions": n_pos, "units": n_pos * int(res.unit_shape[-1])}
        if n_pos:
            s = sig[:, sel]  # [m, n_pos, c]
            for lab in labels:
                entry[lab] = float(s[component_row(design, lab)].mean())
            entry["mean_harmonic"] = float(s[h_rows].mean()) if h_rows else float("nan")
            entry["mean_intermodulation"] = float(s[im_rows].mean()) if im_rows else float("nan")
            entry["any_intermodulation"] = float(s[im_rows].any(0).mean()) if im_rows else float("nan")
            entry["false_positive_rate"] = float(noise[:, sel].mean()) if noise.size else float("nan")
        out[name] = entry
    return out


def significance_map(res: A.LayerResult, design: A.Design, label: str) -> np.ndarray:
    """``[h, w]`` fraction of channels with z > threshold at component ``label``."""
    if len(res.unit_shape) != 3:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; need [h, w, c]")
    return _sig(res.neuron["z"][component_row(design, label)], design.noise.z_threshold).mean(-1)


def column_profile(res: A.LayerResult, design: A.Design, label: str) -> np.ndarray:
    """``[w]`` fraction of units (rows x channels) of each column with z > threshold at ``label``."""
    return significance_map(res, design, label).mean(0)


__all__ = [
    "CONDITIONS",
    "Condition",
    "amplitude_ratios",
    "column_profile",
    "component_row",
    "control_conditions",
    "conv_strides",
    "harmonic_bins",
    "layer_summary",
    "markdown_table",
    "part_following",
    "receptive_field_size",
    "receptive_field_spans",
    "rf_class_summary",
    "rf_classes",
    "rf_parts",
    "run_condition",
    "significance_map",
    "tag_significance",
]


def markdown_table(summaries: dict[str, dict], columns: Sequence[tuple[str, str]], *, digits: int = 2) -> str:
    """A markdown table with one row per layer; ``columns`` are ``(header, key path)`` pairs.

    A key path is dot-separated (``"harmonic_order.2"``, ``"snr.f1.median"``); missing or None values
    print as ``-``, infinite ones as ``inf``.
    """
    def get(d, path):
        for k in path.split("."):
            if not isinstance(d, dict):
                return None
            d = d.get(k, d.get(int(k)) if k.isdigit() else None)
        return d

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, str):
            return v
        if isinstance(v, float) and np.isinf(v):
            return "inf"
        if isinstance(v, float) and np.isnan(v):
            return "-"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = ["| layer | " + " | ".join(h for h, _ in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join(fmt(get(s, k)) for _, k in columns) + " |")
    return "\n".join(lines)
