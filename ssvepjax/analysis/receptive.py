"""Receptive fields of a CIFAR ResNet and where (which positions) units respond.

:func:`receptive_field_spans`, :func:`rf_classes` and :func:`rf_class_summary` compute each spatial
position's theoretical receptive field from the architecture (3x3 convs, padding 1, their strides) and
report how often units respond at each component when their receptive field covers one part
only or several. A CIFAR ResNet's theoretical receptive field is that of its longest path (all convs):
the option-A shortcut reads the centre pixel of the conv path's window, so every shortcut path lies
inside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.analysis.results import LayerResult
from ssvepjax.analysis.summaries import component_row, defined_units, responding, significant
from ssvepjax.models.cifar_resnet import conv_layer_names, resnet_blocks
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.frequency_components import HARMONIC, INTERMODULATION, unique_bins
from ssvepjax.tagging.masks import check_masks


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
    res: LayerResult,
    design: Design,
    classes: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str] = ("f1", "f2", "f1+f2", "f2-f1"),
) -> dict[str, dict]:
    """Per receptive-field class: units, and the fraction responding at ``labels``, per kind and at noise bins.

    Args:
        res: a layer's measures (activations ``[h, w, c]``).
        design: the design.
        classes, names: from :func:`rf_classes` for this layer (``classes`` is ``[h, w]``).
        labels: components to report one by one.
    """
    if len(res.unit_shape) != 3 or tuple(res.unit_shape[:2]) != classes.shape:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; classes are {classes.shape} (need [h, w, c])")
    comps = design.components
    cb, _, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    # 1 responds, 0 does not, NaN undefined (summaries.defined_units): an undefined unit is never a "no".
    sig = _decided(res, design).reshape(len(cb), *res.unit_shape)  # [m, h, w, c]
    im_rows = [row[b] for b in unique_bins(comps, INTERMODULATION, include_shared=False)]
    h_rows = [row[b] for b in unique_bins(comps, HARMONIC, include_shared=False)]
    if design.significance == "z":
        noise = significant(res.neuron_noise_z, design.noise.z_threshold)
    else:
        noise = np.nan_to_num(res.neuron_noise_relative, nan=0.0) > design.detection_limit
    out = {}
    for k, name in enumerate(names):
        sel = classes == k
        n_pos = int(sel.sum())
        entry = {"positions": n_pos, "units": n_pos * int(res.unit_shape[-1])}
        if n_pos:
            s = sig[:, sel]  # [m, n_pos, c]
            for lab in labels:
                entry[lab] = _mean(s[component_row(design, lab)])
            entry["mean_harmonic"] = _mean([_mean(s[r]) for r in h_rows]) if h_rows else float("nan")
            entry["mean_intermodulation"] = _mean([_mean(s[r]) for r in im_rows]) if im_rows else float("nan")
            used = [r for r in im_rows if not np.isnan(s[r]).all()]  # as summaries: undefined components skipped
            if used:
                yes = (s[used] == 1).any(0)
                entry["any_intermodulation"] = _mean(np.where(yes, 1.0, np.where(np.isnan(s[used]).any(0),
                                                                                  np.nan, 0.0)))
            else:
                entry["any_intermodulation"] = float("nan")
            entry["false_positive_rate"] = float(noise[:, sel].mean()) if noise.size else float("nan")
        out[name] = entry
    return out


def _decided(res: LayerResult, design: Design) -> np.ndarray:
    """``[m, n_units]`` 1.0 where a unit responds, 0.0 where it does not, NaN where the rule is undefined."""
    return np.where(defined_units(res, design), responding(res, design).astype(np.float64), np.nan)


def _mean(x) -> float:
    """The mean of the defined (non-NaN) values; NaN where none is."""
    x = np.asarray(x, np.float64).ravel()
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def significance_map(res: LayerResult, design: Design, label: str) -> np.ndarray:
    """``[h, w]`` fraction of channels that respond (the design's rule) at component ``label``.

    Over the channels where the rule is defined (``summaries.defined_units``); NaN where none is.
    """
    if len(res.unit_shape) != 3:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; need [h, w, c]")
    d = _decided(res, design)[component_row(design, label)].reshape(res.unit_shape)
    n = (~np.isnan(d)).sum(-1)
    return np.where(n > 0, np.nansum(d, -1) / np.maximum(n, 1), np.nan)


def column_profile(res: LayerResult, design: Design, label: str) -> np.ndarray:
    """``[w]`` fraction of units (rows x channels) of each column that respond at ``label``."""
    return significance_map(res, design, label).mean(0)



def snr_map(res: LayerResult, row: int) -> np.ndarray:
    """``[h, w]`` log10 of the median SNR over channels at component row ``row``, clipped to [-1, 3].

    Channels with undefined SNR (0/0: silent, or no noise estimate) are left out of the median; a position
    where every channel is undefined is NaN. Infinite SNR (a response with zero noise around it, as in a
    noise-free network) clips to 3.
    """
    s = np.asarray(res.neuron["snr"][row], np.float64)
    defined = ~np.isnan(s)
    filled = np.where(defined, s, np.inf)
    # The median of the defined channels: sort, undefined last, and take the middle of the defined ones.
    srt = np.sort(filled, axis=-1)
    n = defined.sum(-1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0)[..., None], -1)[..., 0]
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0)[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):
        med = np.where(n > 0, np.where(lo == hi, lo, (lo + hi) / 2), np.nan)
    with np.errstate(divide="ignore"):
        return np.clip(np.log10(med), -1, 3)


__all__ = ["column_profile", "conv_strides", "receptive_field_size", "receptive_field_spans", "rf_class_summary",
           "rf_classes", "rf_parts", "significance_map", "snr_map"]
