"""Parts of an image: boolean masks ``[P, H, W]``, one per tag, disjoint and non-empty.

The default parts for P tags (``default_parts``, what ``ssvepjax run --freqs`` uses):

- 1 tag: the whole image;
- 2 tags: the left and the right half (the paper's design);
- 3 tags: three vertical stripes (left, middle, right);
- 4 tags: the four quadrants (top-left, top-right, bottom-left, bottom-right);
- 5 or more: P vertical stripes of (nearly) equal width.

Any other parts work everywhere: pass your own masks (``grid`` builds rows x columns of cells).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool

from ssvepjax import _checks as V


def _check_size(height, width) -> None:
    V.check_positive("height", height, integer=True)
    V.check_positive("width", width, integer=True)


def halves(height: int, width: int) -> Bool[np.ndarray, "2 h w"]:
    """Left half and right half of an image, as boolean masks ``[2, height, width]``.

    With an odd width the middle column goes to the right half.
    """
    _check_size(height, width)
    if width < 2:
        raise ValueError(f"width must be >= 2 to split into halves, got {width}")
    return stripes(height, width, 2)


def stripes(height: int, width: int, n: int) -> Bool[np.ndarray, "n h w"]:
    """``n`` vertical stripes of (nearly) equal width, left to right: ``[n, height, width]``."""
    _check_size(height, width)
    V.check_positive("n", n, integer=True)
    if n > width:
        raise ValueError(f"n={n} stripes need a width of at least {n} pixels, got width={width}")
    edges = np.linspace(0, width, n + 1)
    edges = np.floor(edges).astype(int) if n == 2 else np.round(edges).astype(int)
    cols = np.arange(width)
    return np.stack([np.broadcast_to((cols >= edges[i]) & (cols < edges[i + 1]), (height, width)) for i in range(n)])


def grid(height: int, width: int, rows: int, cols: int) -> Bool[np.ndarray, "p h w"]:
    """``rows x cols`` cells of (nearly) equal size, row-major: ``[rows * cols, height, width]``."""
    _check_size(height, width)
    V.check_positive("rows", rows, integer=True)
    V.check_positive("cols", cols, integer=True)
    if rows > height or cols > width:
        raise ValueError(f"a {rows}x{cols} grid needs at least {rows}x{cols} pixels, got {height}x{width}")
    r_edges = np.round(np.linspace(0, height, rows + 1)).astype(int)
    c_edges = np.round(np.linspace(0, width, cols + 1)).astype(int)
    r, c = np.arange(height)[:, None], np.arange(width)[None, :]
    return np.stack([(r >= r_edges[i]) & (r < r_edges[i + 1]) & (c >= c_edges[j]) & (c < c_edges[j + 1])
                     for i in range(rows) for j in range(cols)])


def quadrants(height: int, width: int) -> Bool[np.ndarray, "4 h w"]:
    """Top-left, top-right, bottom-left, bottom-right quadrants as masks ``[4, height, width]``."""
    _check_size(height, width)
    rows = np.arange(height)[:, None] < height // 2
    cols = np.arange(width)[None, :] < width // 2
    return np.stack([rows & cols, rows & ~cols, ~rows & cols, ~rows & ~cols])


PART_NAMES = {1: ("whole image",), 2: ("left half", "right half"), 3: ("left", "middle", "right"),
              4: ("top-left", "top-right", "bottom-left", "bottom-right")}


def default_parts(height: int, width: int, n_tags: int) -> Bool[np.ndarray, "p h w"]:
    """The default parts for ``n_tags`` tags (module docstring): whole, halves, stripes, quadrants, stripes."""
    V.check_positive("n_tags", n_tags, integer=True)
    if n_tags == 1:
        _check_size(height, width)
        return np.ones((1, height, width), bool)
    if n_tags == 2:
        return halves(height, width)
    if n_tags == 4:
        return quadrants(height, width)
    return stripes(height, width, n_tags)


def part_names(n_tags: int) -> tuple[str, ...]:
    """Names of the default parts (``"left half"``, ...; ``"stripe k"`` beyond four tags)."""
    return PART_NAMES.get(n_tags, tuple(f"stripe {i + 1} (from the left)" for i in range(n_tags)))


def check_masks(masks, height: int, width: int, n_parts: int | None = None) -> np.ndarray:
    """Validate part masks ``[P, H, W]``: boolean, matching the image, non-empty, non-overlapping."""
    if not V.is_concrete(masks):
        raise ValueError("masks must be concrete (NumPy or a non-traced array); build them outside jit")
    m = np.asarray(masks)
    if m.ndim != 3:
        raise ValueError(f"masks must have shape [P, H, W], got shape {m.shape}")
    if m.shape[1:] != (height, width):
        raise ValueError(f"masks have spatial shape {m.shape[1:]}, the image has {(height, width)}")
    if m.dtype != bool:
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("masks must be boolean (or 0/1), got other values")
        m = m.astype(bool)
    if n_parts is not None and m.shape[0] != n_parts:
        raise ValueError(f"masks has {m.shape[0]} parts but freqs_hz has {n_parts} frequencies")
    empty = [p for p in range(m.shape[0]) if not m[p].any()]
    if empty:
        raise ValueError(f"masks {empty} are empty: every part needs at least one pixel")
    if (m.sum(0) > 1).any():
        raise ValueError(f"masks overlap at {int((m.sum(0) > 1).sum())} pixel(s): parts must be disjoint")
    return m


__all__ = ["check_masks", "default_parts", "grid", "halves", "part_names", "quadrants", "stripes"]
