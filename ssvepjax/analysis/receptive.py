"""Receptive fields of any convolutional network, and where (which positions) units respond.

A layer's receptive-field geometry is the ``(kernel, stride, padding)`` of each conv on the path from the input
to it (for a CIFAR ResNet: ``ssvepjax.models.cifar_resnet.conv_geometry``; the architecture's knowledge lives with
the architecture). :func:`receptive_field_spans`, :func:`rf_classes` and :func:`rf_class_summary` compute each
spatial position's theoretical receptive field from that geometry and report how often units respond at each
component when their receptive field covers one part only or several.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.analysis.results import LayerResult
from ssvepjax.analysis.summaries import component_row, decisions, significant
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.frequency_components import HARMONIC, INTERMODULATION, unique_bins
from ssvepjax.tagging.masks import check_masks

Geometry = Sequence[tuple[int, int, int]]


def _checked(geometry: Geometry) -> list[tuple[int, int, int]]:
    """``geometry`` as ``(kernel, stride, padding)`` integer triples; ``ValueError`` for anything else."""
    out = []
    for g in geometry:
        try:
            k, s, p = (int(v) for v in g)
        except (TypeError, ValueError):
            raise ValueError(f"geometry holds (kernel, stride, padding) triples, got {g!r}") from None
        if k < 1 or s < 1 or p < 0 or tuple(g) != (k, s, p):
            raise ValueError(f"geometry: kernel >= 1, stride >= 1 and padding >= 0 integers, got {tuple(g)!r}")
        out.append((k, s, p))
    return out


def receptive_field_size(geometry: Geometry) -> int:
    """Width in input pixels of the theoretical receptive field of one position (unclipped).

    Args:
        geometry: ``(kernel, stride, padding)`` of each conv from the input up to the layer.
    """
    size, jump = 1, 1
    for k, s, _ in _checked(geometry):
        size, jump = size + (k - 1) * jump, jump * s
    return size


def receptive_field_spans(geometry: Geometry, size: int) -> np.ndarray:
    """Input pixel span ``[n_out, 2]`` (first, last; clipped to the image) of each position of a layer.

    One axis: the same for rows and columns of a square kernel. A conv with kernel k, padding p and stride s maps
    output position j to inputs ``j*s - p .. j*s - p + k - 1``; spans compose backwards from the layer.
    ``n_out`` is the layer's size along the axis: ``(n + 2p - k) // s + 1`` per conv.

    Args:
        geometry: ``(kernel, stride, padding)`` of each conv from the input up to the layer.
        size: the input's size along the axis, in pixels.
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    convs = _checked(geometry)
    n = int(size)
    for k, s, p in convs:
        n = (n + 2 * p - k) // s + 1
    if n < 1:
        raise ValueError(f"an input of {size} pixels leaves no output position after {convs}")
    lo = np.arange(n)
    hi = np.arange(n)
    for k, s, p in reversed(convs):
        lo, hi = lo * s - p, hi * s - p + k - 1
    return np.stack([np.clip(lo, 0, size - 1), np.clip(hi, 0, size - 1)], axis=1)


def rf_parts(geometry: Geometry, masks) -> np.ndarray:
    """``bool [h_out, w_out, P]``: which parts each position's receptive field (``geometry``: see
    :func:`receptive_field_spans`) touches."""
    m = np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"masks must have shape [P, H, W], got {m.shape}")
    m = check_masks(m, m.shape[1], m.shape[2])
    rows = receptive_field_spans(geometry, m.shape[1])
    cols = receptive_field_spans(geometry, m.shape[2])
    # Summed-area table: "any pixel of part p in the box" in O(1) per box.
    sat = np.pad(m.astype(np.int64).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    r0, r1 = rows[:, 0][:, None], rows[:, 1][:, None] + 1
    c0, c1 = cols[:, 0][None, :], cols[:, 1][None, :] + 1
    count = sat[:, r1, c1] - sat[:, r0, c1] - sat[:, r1, c0] + sat[:, r0, c0]
    return np.moveaxis(count > 0, 0, -1)


def rf_classes(geometry: Geometry, masks, part_names: Sequence[str] | None = None):
    """Classify each position of a layer by the parts its receptive field covers.

    Args:
        geometry: ``(kernel, stride, padding)`` of each conv from the input up to the layer.
        masks: ``[P, H, W]`` parts.
        part_names: one name per part (default left and right for two parts, part1, part2, ... otherwise).

    Returns:
        ``(classes [h_out, w_out] int, names)``: class p < P means "part p only", class P "several
        parts", class P + 1 "no part"; ``names`` has P + 2 entries (``"left-only"``, ``"right-only"``,
        ``"both"``, ``"none"`` for two parts named left and right, the default for two masks).
    """
    cover = rf_parts(geometry, masks)
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
        res: a layer's measures (activations ``[*positions, c]``: ``[h, w, c]`` for a conv layer, ``[tokens, c]``
            for a transformer's).
        design: the design.
        classes: the class of each position, ``res.unit_shape[:-1]`` (:func:`rf_classes` for a conv layer).
        names: the classes' names.
        labels: components to report one by one.
    """
    classes = np.asarray(classes)
    if len(res.unit_shape) < 2 or tuple(res.unit_shape[:-1]) != classes.shape:
        raise ValueError(f"layer {res.name} has units {res.unit_shape}; classes are {classes.shape} (need the "
                         f"units' position axes, [*positions, c])")
    comps = design.components
    cb, _, _ = design.bins()
    row = {int(b): i for i, b in enumerate(cb)}
    # 1 responds, 0 does not, NaN undefined (summaries.defined_units): an undefined unit is never a "no".
    sig = decisions(res, design).reshape(len(cb), *res.unit_shape)  # [m, *positions, c]
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


def _mean(x) -> float:
    """The mean of the defined (non-NaN) values; NaN where none is."""
    x = np.asarray(x, np.float64).ravel()
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


__all__ = ["Geometry", "receptive_field_size", "receptive_field_spans", "rf_class_summary", "rf_classes", "rf_parts"]
