"""A task with known informative and uninformative parts, and pruning by part selectivity.

:func:`two_part_dataset` puts the digit that decides the class in one half of a double-width image
and a distractor in the other: another digit of a different class (``"digit"``) or stroke clutter
cut from other digits (``"clutter"``). A network trained on it must use one half and ignore the
other, so its filters that follow the uninformative half's tag should matter little for accuracy.

:func:`part_shares` turns per-part tag scores (``"tag1"``, ``"tag2"``, ...) into each filter's share
of its response that follows each part, and :func:`part_keep_masks` removes the filters most
selective for one part (highest share), in every budget set (as ``structure.keep_masks``).
:func:`filter_classes` labels filters as following one part, integrating the parts
(intermodulation), or weak, for the interpretability figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ssvepjax.data.datasets import Dataset
from ssvepjax.pruning.structure import keep_masks

__all__ = ["DISTRACTORS", "filter_classes", "part_keep_masks", "part_shares", "top_keep_masks", "two_part_dataset"]

#: What fills the uninformative half of the two-part task: another digit or clutter.
DISTRACTORS = ("digit", "clutter")


def _clutter(pool: np.ndarray, n: int, rng: np.random.Generator, pieces: int = 6) -> np.ndarray:
    """``n`` images ``[H, W, C]`` of stroke clutter: ``pieces`` random square crops (side ~0.3 H) of pool images."""
    h, w = pool.shape[1:3]
    size, margin = max(2, round(0.3 * h)), h // 7  # 8 and 4 pixels for 28x28 digits: crops of strokes
    out = np.zeros((n, *pool.shape[1:]), np.float32)
    for i in range(n):
        for _ in range(pieces):
            src = pool[rng.integers(len(pool))]
            y0, x0 = rng.integers(margin, h - size - margin + 1), rng.integers(margin, w - size - margin + 1)
            y1, x1 = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            out[i, y1:y1 + size, x1:x1 + size] = np.maximum(out[i, y1:y1 + size, x1:x1 + size],
                                                            src[y0:y0 + size, x0:x0 + size])
    return out


def _compose(x, y, distractor, informative, rng):
    if distractor == "digit":
        # A distractor of another class: the same image never decides the label from both halves.
        j = np.empty(len(x), np.int64)
        for i in range(len(x)):
            choices = np.flatnonzero(y != y[i])
            j[i] = choices[rng.integers(len(choices))]
        other = x[j]
    else:
        other = _clutter(x, len(x), rng)
    pair = (x, other) if informative == "left" else (other, x)
    return np.concatenate(pair, axis=2).astype(np.float32)


def two_part_dataset(
    data,
    *,
    distractor: str = "digit",
    informative: str = "left",
    seed: int = 0,
):
    """Double-width images: the class digit in one half, a distractor in the other.

    Args:
        data: an ``sj.Dataset`` of single digits ``[N, H, W, C]`` (e.g. ``sj.load_dataset("mnist5k")``).
        distractor: ``"digit"`` (a digit of another class, from the same split) or ``"clutter"``
            (six crops of other digits, 8x8 for 28x28 digits, at random places).
        informative: ``"left"`` or ``"right"``: the half that holds the class digit.
        seed: seed of the distractors.

    Returns:
        An ``sj.Dataset`` of ``[N, H, 2W, C]`` images with the labels of the informative digits; its
        name records the construction (it keys ``sj.train_or_load``'s cache).
    """
    if distractor not in DISTRACTORS:
        raise ValueError(f"distractor must be one of {DISTRACTORS}, got {distractor!r}")
    if informative not in ("left", "right"):
        raise ValueError(f"informative must be 'left' or 'right', got {informative!r}")
    rng = np.random.default_rng(seed)
    xtr = _compose(data.train_images, data.train_labels, distractor, informative, rng)
    xte = _compose(data.test_images, data.test_labels, distractor, informative, rng)
    name = f"{data.name}_{informative}_{distractor}_s{seed}"
    return Dataset(name, xtr, data.train_labels, xte, data.test_labels, data.num_classes,
                      f"{data.source}, two-part ({informative} informative, {distractor} distractor)")


def part_shares(part_scores: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Share of each filter's tag response that follows each part.

    Args:
        part_scores: ``{"tag1": {layer: [c]}, "tag2": {layer: [c]}, ...}`` non-negative scores.

    Returns:
        ``{layer: [P, c]}`` shares in [0, 1] that sum to 1 over parts (``1/P`` where a filter does not
        respond at any part's tag).
    """
    parts = sorted(part_scores)
    if not parts:
        raise ValueError("part_scores is empty")
    layers = list(part_scores[parts[0]])
    out = {}
    for name in layers:
        s = np.stack([np.asarray(part_scores[p][name], np.float64) for p in parts])
        if not np.all(np.isfinite(s)) or (s < 0).any():
            raise ValueError(f"part scores of {name} must be finite and non-negative")
        tot = s.sum(0, keepdims=True)
        out[name] = np.where(tot > 0, s / np.where(tot > 0, tot, 1.0), 1.0 / len(parts))
    return out


def top_keep_masks(
    scores: Mapping[str, np.ndarray],
    model,
    fraction,
    *,
    budget: str = "layer",
    policy: str = "grouped",
) -> dict[str, np.ndarray]:
    """Keep masks that remove the HIGHEST-scored filters (``structure.keep_masks`` removes the lowest).

    Scores are flipped per layer (``max - s``), so a group's rank follows its members' ranks as in
    ``keep_masks``. ``fraction``, ``budget`` and ``policy`` as there.
    """
    flipped = {}
    for name, s in scores.items():
        s = np.asarray(s, np.float64)
        if not np.all(np.isfinite(s)):
            raise ValueError(f"scores of {name} hold NaN or infinite values; every score must be finite")
        flipped[name] = s.max() - s if s.size else s
    return keep_masks(flipped, model, fraction, budget=budget, policy=policy)


def part_keep_masks(
    part_scores: Mapping[str, Mapping[str, np.ndarray]],
    part: str,
    model,
    fraction,
    *,
    rank: str = "share",
    budget: str = "layer",
    policy: str = "grouped",
) -> dict[str, np.ndarray]:
    """Keep masks that remove the ``fraction`` of filters that follow ``part`` most.

    Args:
        part_scores: ``{"tag1": {layer: [c]}, ...}`` (``importance`` methods ``"tag1"``, ``"tag2"``...).
        part: the part whose followers are removed (a key of ``part_scores``).
        model: the ``CifarResNet``.
        fraction: share removed in every budget set, in [0, 1), or ``{set: share}`` (``keep_masks``).
        rank: ``"share"`` removes the filters with the highest share of their response at ``part``'s
            tag (selective followers); ``"amplitude"`` those with the largest response there.
        budget, policy: as in ``structure.keep_masks``.

    Returns:
        ``{layer: bool [c]}`` keep masks.
    """
    if part not in part_scores:
        raise ValueError(f"part must be one of {sorted(part_scores)}, got {part!r}")
    if rank not in ("share", "amplitude"):
        raise ValueError(f"rank must be 'share' or 'amplitude', got {rank!r}")
    if rank == "share":
        i = sorted(part_scores).index(part)
        scores = {name: s[i] for name, s in part_shares(part_scores).items()}
    else:
        scores = part_scores[part]
    return top_keep_masks(scores, model, fraction, budget=budget, policy=policy)


def filter_classes(
    part_scores: Mapping[str, Mapping[str, np.ndarray]],
    im_scores: Mapping[str, np.ndarray],
    *,
    share: float = 0.65,
    im_ratio: float = 0.1,
    weak: float = 0.1,
) -> dict[str, np.ndarray]:
    """Label every filter ``"weak"``, ``"integrating"``, or ``"tag<p>"`` (follows part p), else ``"mixed"``.

    Args:
        part_scores: ``{"tag1": {layer: [c]}, ...}``.
        im_scores: ``{layer: [c]}`` intermodulation scores (``"tag_intermodulation"``).
        share: a filter follows part p when p's share of its tag response is at least this.
        im_ratio: a filter integrates the parts when its intermodulation score is at least this
            fraction of its summed part scores.
        weak: a filter is weak when its summed part scores are below this fraction of its layer's median.

    Returns:
        ``{layer: [c]}`` string labels (checked in that order: weak, integrating, a part, mixed).
    """
    parts = sorted(part_scores)
    shares = part_shares(part_scores)
    out = {}
    for name, sh in shares.items():
        total = sum(np.asarray(part_scores[p][name], np.float64) for p in parts)
        im = np.asarray(im_scores[name], np.float64)
        med = np.median(total)
        lab = np.full(total.shape, "mixed", dtype=object)
        best = sh.argmax(0)
        for i, p in enumerate(parts):
            lab[(best == i) & (sh[i] >= share)] = p
        lab[im >= im_ratio * np.maximum(total, 1e-30)] = "integrating"
        lab[total < weak * med] = "weak"
        out[name] = lab.astype(str)
    return out
