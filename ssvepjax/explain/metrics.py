"""How well an explanation map points at a known object: energy, concentration, localisation, deletion.

Maps ``[N, H, W]`` are non-negative and image-sized (``cams.upsample``); boxes are ``[N, 4]``
``(y0, x0, y1, x1)`` in pixels, half-open, as ``ssvepjax.data.canvas`` makes them. "Energy" is the
sum of a map's values (Score-CAM's energy-based pointing game, Wang et al. 2020). A map that is 0
everywhere carries no information and is scored as a uniform map (chance level).

- :func:`energy_in_box`: share of the map's energy inside the object's box (chance: the box's
  share of the image).
- :func:`energy_concentration`: share of the energy in the map's top ``top`` fraction of pixels (0.2
  in Boege et al., xAI 2025; 0.2 for a uniform map, 1 for a map confined to 20 % of the pixels).
  It rewards compact maps whether or not they sit on the object.
- :func:`localisation`: the map thresholded at ``threshold`` (0.15) of its maximum, the largest
  8-connected region's bounding box, correct when its IoU with the object box is at least
  ``iou_threshold`` (0.5), the weakly supervised localisation protocol of the CAM papers.
- :func:`deletion_insertion`: Petsiuk et al. (2018). Pixels are removed (set to ``baseline``) in
  order of decreasing saliency, or inserted into a baseline canvas in that order, in ``steps``
  equal steps; the class probability is traced and its area under the curve over the removed
  fraction [0, 1] reported (trapezoid rule). Lower deletion and higher insertion AUC are better.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

__all__ = [
    "box_iou",
    "box_masks",
    "deletion_insertion",
    "energy_concentration",
    "energy_in_box",
    "localisation",
]


def _maps(saliency, name: str = "saliency") -> Array:
    s = jnp.asarray(saliency, jnp.float32)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3:
        raise ValueError(f"{name} must have shape [N, H, W] or [H, W], got shape {np.shape(saliency)}")
    if not isinstance(s, jax.core.Tracer) and s.size and bool(jnp.any(s < 0)):
        raise ValueError(f"{name} must be non-negative (maps after the CAM's ReLU)")
    return s


def _boxes(boxes, n: int, size: tuple[int, int]) -> np.ndarray:
    b = np.asarray(boxes)
    if b.shape == (4,):
        b = np.broadcast_to(b, (n, 4))
    if b.shape != (n, 4) or not np.issubdtype(b.dtype, np.integer):
        raise ValueError(f"boxes must be integers of shape [{n}, 4] (y0, x0, y1, x1), got {b.dtype} of shape "
                         f"{np.shape(boxes)}")
    h, w = size
    ok = (b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 2] <= h) & (b[:, 3] <= w) & (b[:, 0] < b[:, 2]) & (b[:, 1] < b[:, 3])
    if not ok.all():
        raise ValueError(f"boxes must satisfy 0 <= y0 < y1 <= {h} and 0 <= x0 < x1 <= {w}; bad box "
                         f"{b[np.flatnonzero(~ok)[0]].tolist()}")
    return b


def _uniform_if_empty(s: Array) -> Array:
    total = s.sum((1, 2), keepdims=True)
    return jnp.where(total > 0, s, 1.0)


def box_masks(boxes: ArrayLike, size: tuple[int, int]) -> Bool[Array, "n h w"]:
    """Boolean masks ``[N, H, W]`` of half-open boxes ``[N, 4]`` ``(y0, x0, y1, x1)``."""
    b = jnp.asarray(boxes)
    b = b[None] if b.ndim == 1 else b
    rows = jnp.arange(size[0])[None, :, None]
    cols = jnp.arange(size[1])[None, None, :]
    return ((rows >= b[:, 0, None, None]) & (rows < b[:, 2, None, None])
            & (cols >= b[:, 1, None, None]) & (cols < b[:, 3, None, None]))


@jax.jit
def _energy_in_box(s, b):
    s = _uniform_if_empty(s)
    inside = jnp.where(box_masks(b, s.shape[1:]), s, 0.0).sum((1, 2))
    return inside / s.sum((1, 2))


def energy_in_box(saliency: Float[ArrayLike, "n h w"], boxes: ArrayLike) -> Float[Array, " n"]:
    """Share of each map's energy (sum of values) inside its box, in [0, 1].

    Args:
        saliency: ``[N, H, W]`` non-negative maps (or one ``[H, W]``).
        boxes: ``[N, 4]`` (or one ``[4]``) half-open ``(y0, x0, y1, x1)``.

    Returns:
        ``[N]``; a map that is 0 everywhere scores the box's share of the image.
    """
    s = _maps(saliency)
    b = _boxes(boxes, s.shape[0], s.shape[1:])
    return _energy_in_box(s, jnp.asarray(b))


def energy_concentration(saliency: Float[ArrayLike, "n h w"], top: float = 0.2) -> Float[Array, " n"]:
    """Share of each map's energy in its ``ceil(top * H * W)`` largest pixels, in [top, 1] (about).

    Args:
        saliency: ``[N, H, W]`` non-negative maps (or one ``[H, W]``).
        top: the fraction of pixels, in (0, 1].

    Returns:
        ``[N]``.
    """
    if isinstance(top, bool) or not isinstance(top, (int, float)) or not 0.0 < top <= 1.0:
        raise ValueError(f"top must lie in (0, 1], got {top!r}")
    s = _maps(saliency)
    k = int(np.ceil(top * s.shape[1] * s.shape[2]))
    return _concentration(s, k)


@jax.jit
def _concentration_impl(s, k_onehot):
    s = _uniform_if_empty(s).reshape(s.shape[0], -1)
    srt = -jnp.sort(-s, axis=1)
    return (srt * k_onehot).sum(1) / s.sum(1)


def _concentration(s, k: int):
    first_k = (jnp.arange(s.shape[1] * s.shape[2]) < k).astype(jnp.float32)
    return _concentration_impl(s, first_k)


def box_iou(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Intersection over union of half-open boxes ``[..., 4]`` ``(y0, x0, y1, x1)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape[-1:] != (4,) or b.shape[-1:] != (4,):
        raise ValueError(f"boxes must have a last axis of 4 (y0, x0, y1, x1), got shapes {a.shape} and {b.shape}")
    ih = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iw = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ih * iw
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def localisation(
    saliency: Float[ArrayLike, "n h w"],
    boxes: ArrayLike,
    *,
    threshold: float = 0.15,
    iou_threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Box from the largest region of the thresholded map, and its IoU with the object box.

    Args:
        saliency: ``[N, H, W]`` non-negative maps (or one ``[H, W]``).
        boxes: ``[N, 4]`` (or ``[4]``) object boxes.
        threshold: keep pixels at or above this fraction of the map's maximum, in [0, 1].
        iou_threshold: IoU at which a box counts as correct, in (0, 1].

    Returns:
        ``{"iou": [N], "correct": bool [N], "box": int [N, 4]}``; ties between equally large regions
        go to the first in raster order.
    """
    from scipy import ndimage

    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must lie in (0, 1], got {iou_threshold!r}")
    s = np.asarray(_maps(saliency), np.float64)
    b = _boxes(boxes, s.shape[0], s.shape[1:])
    pred = np.zeros((s.shape[0], 4), np.int64)
    eight = np.ones((3, 3), bool)
    for i, m in enumerate(s):
        on = m >= threshold * m.max()
        labels, count = ndimage.label(on, structure=eight)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
        region = labels == (int(np.argmax(sizes)) + 1)
        rows, cols = np.flatnonzero(region.any(1)), np.flatnonzero(region.any(0))
        pred[i] = rows[0], cols[0], rows[-1] + 1, cols[-1] + 1
    iou = box_iou(pred, b)
    return {"iou": iou, "correct": iou >= iou_threshold, "box": pred}


def _ranks(s: Array, tiebreak: Array) -> Array:
    order = jnp.lexsort((tiebreak, -s))
    return jnp.zeros_like(order).at[order].set(jnp.arange(order.shape[0]))


@jax.jit
def _curve_images(xb, sb, tb, counts, baseline):
    b, h, w, c = xb.shape
    ranks = jax.vmap(_ranks)(sb.reshape(b, -1), tb).reshape(b, h, w)
    gone = (ranks[:, None] < counts[None, :, None, None])[..., None]  # [B, S+1, H, W, 1]
    keep = xb[:, None]
    base = jnp.full_like(keep, baseline)
    deleted = jnp.where(gone, base, keep).reshape(-1, h, w, c)
    inserted = jnp.where(gone, keep, base).reshape(-1, h, w, c)
    return deleted, inserted


def deletion_insertion(
    prob_fn: Callable[[Array], Array],
    images: Float[ArrayLike, "n h w c"],
    saliency: Float[ArrayLike, "n h w"],
    labels: ArrayLike,
    *,
    steps: int = 16,
    baseline: float = 0.0,
    key: jax.Array | None = None,
    batch_size: int = 16,
) -> dict[str, np.ndarray]:
    """Deletion and insertion curves and their AUC (Petsiuk et al. 2018).

    Args:
        prob_fn: ``images [B, H, W, C] -> class probabilities [B, K]`` (jit it: it runs on
            ``batch_size * (steps + 1)`` images at a time).
        images: ``[N, H, W, C]``.
        saliency: ``[N, H, W]`` maps (any non-negative scale).
        labels: ``[N]`` class whose probability is traced.
        steps: equal steps from 0 to every pixel (``steps + 1`` points per curve).
        baseline: value of a removed pixel (0: black, the canvas background).
        key: breaks ties between equal saliency values at random (maps are often 0 over large areas);
            None breaks them in raster order.
        batch_size: maps per call of ``prob_fn``.

    Returns:
        ``{"deletion": [N], "insertion": [N], "deletion_curve": [N, steps + 1],
        "insertion_curve": [N, steps + 1]}``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    x = np.asarray(images, np.float32)
    s = np.asarray(_maps(saliency))
    if x.ndim != 4 or x.shape[:3] != s.shape:
        raise ValueError(f"images must have shape [N, H, W, C] matching saliency {s.shape}, got shape {x.shape}")
    y = np.asarray(labels)
    if y.shape != (s.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be {s.shape[0]} integers, got {y.dtype} of shape {y.shape}")
    n, h, w = s.shape
    hw = h * w
    if n == 0:
        raise ValueError("saliency holds no maps (N = 0)")
    counts = jnp.asarray(np.round(np.arange(steps + 1) * hw / steps).astype(np.int32))
    if key is None:
        ties = jnp.broadcast_to(jnp.arange(hw, dtype=jnp.float32), (n, hw))
    else:
        ties = jax.random.uniform(key, (n, hw))

    dele, ins = [], []
    for i in range(0, n, batch_size):
        xb, sb, tb, yb = x[i:i + batch_size], s[i:i + batch_size], ties[i:i + batch_size], y[i:i + batch_size]
        nb, pad = len(xb), batch_size - len(xb) if n > batch_size else 0
        if pad:  # one shape for every call, so prob_fn compiles once
            xb, sb = (np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)]) for a in (xb, sb))
            tb = jnp.concatenate([tb, jnp.zeros((pad, hw), tb.dtype)])
        d_img, i_img = _curve_images(jnp.asarray(xb), jnp.asarray(sb), tb, counts, jnp.float32(baseline))
        pd = np.asarray(prob_fn(d_img)).reshape(len(xb), steps + 1, -1)[:nb]
        pi = np.asarray(prob_fn(i_img)).reshape(len(xb), steps + 1, -1)[:nb]
        if np.any(yb >= pd.shape[-1]) or np.any(yb < 0):
            raise ValueError(f"labels must lie in [0, {pd.shape[-1] - 1}]")
        dele.append(pd[np.arange(nb), :, yb])
        ins.append(pi[np.arange(nb), :, yb])
    dc, ic = np.concatenate(dele), np.concatenate(ins)

    def auc(c):
        return (c.sum(1) - 0.5 * (c[:, 0] + c[:, -1])) / steps

    return {"deletion": auc(dc), "insertion": auc(ic), "deletion_curve": dc, "insertion_curve": ic}
