"""Which filters enter a map: the top-k or top-fraction of a layer by a score.

Scores (``ssvepjax.scores``: tag scores, random, L1, mean activation, ...) are dicts ``{layer: [c]}`` (one
score per filter, shared by every image) or, per image, ``{layer: [N, c]}``. :func:`top_k` and
:func:`top_fraction` turn either into boolean masks of the same shape, ready for ``cam_batch(..., filters=mask)``.
Ties go to the lower filter index.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool

__all__ = ["top_fraction", "top_k"]


def _k_for(name: str, c: int, k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c:
        raise ValueError(f"k must be an integer in [1, {c}] (the filters of layer {name!r}), got {k!r}")
    return int(k)


def _mask_top(s: np.ndarray, k: int) -> np.ndarray:
    s = np.nan_to_num(np.asarray(s, np.float64), nan=-np.inf)
    order = np.argsort(-s, axis=-1, kind="stable")[..., :k]
    m = np.zeros(s.shape, bool)
    np.put_along_axis(m, order, True, axis=-1)
    return m


def top_k(scores, k: int) -> dict[str, Bool[np.ndarray, "... c"]] | np.ndarray:
    """Boolean masks of the ``k`` highest-scoring filters (NaN scores rank last).

    Args:
        scores: ``{layer: [..., c]}`` or one array ``[..., c]`` (e.g. ``[N, c]`` per image).
        k: filters to keep, in ``[1, c]`` for every layer.

    Returns:
        Masks of the shape of ``scores`` (a dict for a dict).
    """
    if isinstance(scores, dict):
        if not scores:
            raise ValueError("scores is empty")
        return {name: _mask_top(s, _k_for(name, np.shape(s)[-1], k)) for name, s in scores.items()}
    s = np.asarray(scores)
    if s.ndim < 1 or s.shape[-1] < 1:
        raise ValueError(f"scores must have a filter axis [..., c], got shape {s.shape}")
    return _mask_top(s, _k_for("scores", s.shape[-1], k))


def top_fraction(scores, fraction: float):
    """:func:`top_k` with ``k = max(1, round(fraction * c))`` per layer, ``fraction`` in (0, 1]."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")

    def k_of(s):
        return max(1, int(round(fraction * np.shape(s)[-1])))

    if isinstance(scores, dict):
        if not scores:
            raise ValueError("scores is empty")
        return {name: top_k(np.asarray(s), k_of(s)) for name, s in scores.items()}
    return top_k(scores, k_of(scores))
