"""A localisation task with known object boxes: one digit on a larger canvas among clutter.

Each canvas holds one whole digit (the object, whose class is the label) at a random position and
a few fragments of other digits (square crops that hold ink) as clutter. The object's box is the
tight box of its ink (pixels above ``ink_threshold``), so it is known exactly and explanation maps
can be scored against it (``ssvepjax.explain.metrics``). Fragments never touch the box dilated by
``margin`` pixels, so the box holds only the object and the clutter competes for attention outside
it. Images composite by maximum (ink over a black background), grey ``[N, S, S, 1]`` in [0, 1].

The generator is NumPy with an explicit seed: the same source images, config and seed always give
the same canvases.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssvepjax.data.datasets import Dataset

__all__ = ["BoxedImages", "CanvasConfig", "CanvasDataset", "boxed_digits", "canvas_dataset", "ink_box"]


@dataclasses.dataclass(frozen=True)
class CanvasConfig:
    """Static settings of the boxed-digit task.

    Attributes:
        size: canvas side S in pixels (the canvas is S x S).
        n_fragments: clutter fragments per canvas.
        fragment_size: side of a square fragment in pixels (smaller than the digit, so no fragment
            is a whole digit).
        margin: free pixels between the object's box and any fragment.
        ink_threshold: a pixel above it is ink; the object's box is the tight box of its ink.
        min_fragment_ink: a fragment needs at least this many ink pixels.
        tries: placement attempts per fragment before it is skipped (a crowded canvas).
    """

    size: int = 64
    n_fragments: int = 4
    fragment_size: int = 12
    margin: int = 2
    ink_threshold: float = 0.1
    min_fragment_ink: int = 12
    tries: int = 50

    def __post_init__(self):
        for name in ("size", "fragment_size", "tries", "min_fragment_ink"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("n_fragments", "margin"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if not 0.0 <= float(self.ink_threshold) < 1.0:
            raise ValueError(f"ink_threshold must lie in [0, 1), got {self.ink_threshold!r}")
        if self.min_fragment_ink > self.fragment_size**2:
            raise ValueError(f"min_fragment_ink must be at most fragment_size**2 = {self.fragment_size**2}, "
                             f"got {self.min_fragment_ink}")


@dataclasses.dataclass(frozen=True)
class BoxedImages:
    """Canvases with one labelled object each.

    Attributes:
        images: ``[N, S, S, 1]`` float32 in [0, 1].
        labels: ``[N]`` int32 class of the object.
        boxes: ``[N, 4]`` int32 object boxes ``(y0, x0, y1, x1)`` in pixels, half-open (rows
            ``y0..y1-1`` and columns ``x0..x1-1``).
    """

    images: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray


@dataclasses.dataclass(frozen=True)
class CanvasDataset:
    """A :class:`~ssvepjax.data.Dataset` of canvases (for ``train_or_load``) and the boxes of both splits.

    Attributes:
        dataset: the canvases as a ``Dataset``; its ``name`` encodes the source, config and seed, so
            the training cache never mixes two tasks.
        train_boxes: ``[N_train, 4]`` boxes ``(y0, x0, y1, x1)`` of the training canvases.
        test_boxes: ``[N_test, 4]`` boxes of the test canvases.
        config: the settings that made it.
    """

    dataset: Dataset
    train_boxes: np.ndarray
    test_boxes: np.ndarray
    config: CanvasConfig


def ink_box(patch: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """Tight half-open box ``(y0, x0, y1, x1)`` of the pixels of ``patch [h, w]`` above ``threshold``."""
    rows = np.flatnonzero((patch > threshold).any(1))
    cols = np.flatnonzero((patch > threshold).any(0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _fragment(rng, digit: np.ndarray, config: CanvasConfig) -> np.ndarray | None:
    f = config.fragment_size
    h, w = digit.shape
    for _ in range(config.tries):
        y, x = rng.integers(0, h - f + 1), rng.integers(0, w - f + 1)
        crop = digit[y:y + f, x:x + f]
        if int((crop > config.ink_threshold).sum()) >= config.min_fragment_ink:
            return crop
    return None


def boxed_digits(images: np.ndarray, labels: np.ndarray, config: CanvasConfig = CanvasConfig(), *,
                 seed: int = 0) -> BoxedImages:
    """Place every digit of ``images`` on its own canvas with clutter from the other digits.

    Args:
        images: ``[N, h, w, 1]`` or ``[N, h, w]`` digits in [0, 1] on a black background (e.g.
            ``load_dataset("mnist5k").train_images``); ``h, w <= config.size`` and ``N >= 2``.
        labels: ``[N]`` integer classes.
        config: the task settings.
        seed: seed of positions, fragment sources and crops.

    Returns:
        :class:`BoxedImages` with one canvas per input digit, in input order.
    """
    x = np.asarray(images, np.float32)
    if x.ndim == 4:
        if x.shape[-1] != 1:
            raise ValueError(f"images must be grey [N, h, w, 1] or [N, h, w], got shape {x.shape}")
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"images must have shape [N, h, w, 1] or [N, h, w], got shape {np.shape(images)}")
    n, h, w = x.shape
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape [{n}] (one per image), got shape {y.shape}")
    if n < 2:
        raise ValueError(f"images must hold at least 2 digits (clutter comes from the others), got {n}")
    if h > config.size or w > config.size:
        raise ValueError(f"digits of {h}x{w} pixels do not fit a canvas of size={config.size}")
    if config.fragment_size >= min(h, w):
        raise ValueError(f"fragment_size must be smaller than the digits ({min(h, w)} pixels), "
                         f"got {config.fragment_size}")
    if x.size and (x.min() < 0 or x.max() > 1 or not np.all(np.isfinite(x))):
        raise ValueError("images must hold finite values in [0, 1]")
    rng = np.random.default_rng(seed)
    s, f = config.size, config.fragment_size
    out = np.zeros((n, s, s), np.float32)
    boxes = np.zeros((n, 4), np.int32)
    for i in range(n):
        local = ink_box(x[i], config.ink_threshold)
        if local is None:
            raise ValueError(f"images[{i}] holds no ink above ink_threshold={config.ink_threshold}")
        oy, ox = rng.integers(0, s - h + 1), rng.integers(0, s - w + 1)
        out[i, oy:oy + h, ox:ox + w] = x[i]
        box = (oy + local[0], ox + local[1], oy + local[2], ox + local[3])
        boxes[i] = box
        m = config.margin
        keep_out = (box[0] - m, box[1] - m, box[2] + m, box[3] + m)
        for _ in range(config.n_fragments):
            src = (i + 1 + rng.integers(0, n - 1)) % n  # any digit but this one
            crop = _fragment(rng, x[src], config)
            if crop is None:
                continue
            for _ in range(config.tries):
                fy, fx = rng.integers(0, s - f + 1), rng.integers(0, s - f + 1)
                if not _overlaps((fy, fx, fy + f, fx + f), keep_out):
                    out[i, fy:fy + f, fx:fx + f] = np.maximum(out[i, fy:fy + f, fx:fx + f], crop)
                    break
    return BoxedImages(out[..., None], y.astype(np.int32), boxes)


def canvas_dataset(source: Dataset, config: CanvasConfig = CanvasConfig(), *, seed: int = 0) -> CanvasDataset:
    """Turn a grey digit dataset into the boxed-digit task, split by split.

    Args:
        source: e.g. ``load_dataset("mnist5k")`` (grey ``[N, 28, 28, 1]``).
        config: the task settings.
        seed: layout seed (the splits use ``2 * seed`` and ``2 * seed + 1``, so their layouts differ).

    Returns:
        A :class:`CanvasDataset`; every canvas's label is its object's class.
    """
    if not isinstance(source, Dataset):
        raise ValueError(f"source must be a ssvepjax.data.Dataset, got {type(source).__name__}")
    tr = boxed_digits(source.train_images, source.train_labels, config, seed=2 * seed)
    te = boxed_digits(source.test_images, source.test_labels, config, seed=2 * seed + 1)
    c = config
    name = (f"{source.name}-canvas{c.size}-f{c.n_fragments}x{c.fragment_size}-m{c.margin}"
            f"-t{c.ink_threshold:g}-i{c.min_fragment_ink}-s{seed}")
    data = Dataset(name, tr.images, tr.labels, te.images, te.labels, source.num_classes,
                   f"boxed digits from {source.name} ({source.source})")
    return CanvasDataset(data, tr.boxes, te.boxes, config)
