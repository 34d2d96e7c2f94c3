"""Frequency-tagged stimuli: parts of an image flicker in contrast at their own tag frequencies.

Conventions (SCIENCE.md section 1): frame ``i`` is shown at ``i / fps`` seconds, ``i = 0..T-1``
(never ``linspace(0, duration, T)``, which would put the tags off-bin), and the pixels of part
``p`` are multiplied by the gain

    g_p(i) = 1 - (1 - min_gain) * (1 - sin(2*pi*f_p*i/fps + phase)) / 2,

which oscillates between ``min_gain`` and 1 (``0.75 + 0.25*sin`` at the default ``min_gain=0.5``),
so a part never loses more than half of its luminance. Pixels outside every mask are unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ssvepjax import _validate as V


@dataclasses.dataclass(frozen=True)
class TagConfig:
    """Static settings of a tagging experiment (never traced).

    Attributes:
        freqs_hz: one tag frequency per part, in Hz; each must sit on an rfft bin.
        fps: frames per second (Hz).
        n_frames: number of frames T; frequency resolution is ``fps / n_frames`` Hz.
        min_gain: smallest contrast gain, in [0, 1).
        phase: phase of every tag at frame 0, in radians.
    """

    freqs_hz: tuple[float, ...] = (6.0, 7.5)
    fps: float = 120.0
    n_frames: int = 240
    min_gain: float = 0.5
    phase: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "freqs_hz", tuple(float(f) for f in self.freqs_hz))
        validate_tags(self.freqs_hz, self.fps, self.n_frames)
        if not 0.0 <= float(self.min_gain) < 1.0:
            raise ValueError(f"min_gain must lie in [0, 1), got {self.min_gain!r}")

    @property
    def resolution_hz(self) -> float:
        return self.fps / self.n_frames

    @property
    def tag_bins(self) -> tuple[int, ...]:
        return tuple(V.frequency_bin(f, self.fps, self.n_frames) for f in self.freqs_hz)

    @property
    def repeats(self) -> int:
        """How many whole periods of the stimulus the T frames hold: ``gcd(tag bins..., T)``.

        Tag p repeats every ``T / gcd(k_p, T)`` frames (``k_p`` its bin), so every gain, and the
        whole frame sequence, repeats every ``T / gcd(k_1, ..., k_P, T)`` frames (80 frames, 3
        periods, for 6 and 7.5 Hz at 120 fps and 240 frames). It is also the step of the lattice of
        bins where any combination of the tags can land (``frequency_components.lattice_step``).
        """
        return int(np.gcd.reduce([*self.tag_bins, self.n_frames]))

    @property
    def period_frames(self) -> int:
        """Frames in one period of the stimulus, ``n_frames // repeats``."""
        return self.n_frames // self.repeats

    def gains(self, one_period: bool = False) -> Float[Array, "t p"]:
        """:func:`gains` of these tags: ``[n_frames, P]``, or ``[period_frames, P]`` if ``one_period``."""
        g = gains(self.freqs_hz, fps=self.fps, n_frames=self.n_frames, min_gain=self.min_gain, phase=self.phase)
        return g[: self.period_frames] if one_period else g


def validate_tags(freqs_hz: Sequence[float], fps: float, n_frames: int) -> tuple[int, ...]:
    """Check tag frequencies; return their bins. ``ValueError`` if off-bin, >= Nyquist or repeated."""
    if isinstance(freqs_hz, (int, float)) or len(freqs_hz) == 0:
        raise ValueError(f"freqs_hz must be a non-empty sequence of frequencies, got {freqs_hz!r}")
    bins = tuple(V.frequency_bin(f, fps, n_frames, all_freqs=list(freqs_hz)) for f in freqs_hz)
    if len(set(bins)) != len(bins):
        raise ValueError(f"freqs_hz must be distinct tags, got {tuple(freqs_hz)}")
    return bins


def halves(height: int, width: int) -> Bool[np.ndarray, "2 h w"]:
    """Left half and right half of an image, as boolean masks ``[2, height, width]``.

    With an odd width the middle column goes to the right half.
    """
    V.check_positive("height", height, integer=True)
    V.check_positive("width", width, integer=True)
    if width < 2:
        raise ValueError(f"width must be >= 2 to split into halves, got {width}")
    cols = np.arange(width)
    left = np.broadcast_to(cols < width // 2, (height, width))
    return np.stack([left, ~left])


def quadrants(height: int, width: int) -> Bool[np.ndarray, "4 h w"]:
    """Top-left, top-right, bottom-left, bottom-right quadrants as masks ``[4, height, width]``."""
    V.check_positive("height", height, integer=True)
    V.check_positive("width", width, integer=True)
    rows = np.arange(height)[:, None] < height // 2
    cols = np.arange(width)[None, :] < width // 2
    return np.stack([rows & cols, rows & ~cols, ~rows & cols, ~rows & ~cols])


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


def check_image(image, name: str = "image", layout: str = "H, W, C") -> None:
    """``ValueError`` unless ``image`` has the rank of ``layout`` and finite values in [0, 1]."""
    shape = np.shape(image)
    rank = len(layout.split(","))
    if len(shape) != rank:
        raise ValueError(f"{name} must have shape [{layout}] (rank {rank}), got shape {shape}")
    if V.is_concrete(image):
        arr = np.asarray(image)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds NaN or infinite values")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"{name} values must lie in [0, 1], got [{arr.min()}, {arr.max()}]")


def gains(
    freqs_hz: Sequence[float],
    *,
    fps: float = 120.0,
    n_frames: int = 240,
    min_gain: float = 0.5,
    phase: float = 0.0,
) -> Float[Array, "t p"]:
    """Contrast gain of each part at each frame, ``[n_frames, P]``, in [min_gain, 1]."""
    validate_tags(freqs_hz, fps, n_frames)
    if not 0.0 <= float(min_gain) < 1.0:
        raise ValueError(f"min_gain must lie in [0, 1), got {min_gain!r}")
    # Integer frame index times an exact on-bin frequency: phases computed in float64 NumPy, so a
    # 240-frame tag is exactly periodic (float32 i*f/fps drifts by ~1e-5 rad at the last frame).
    t = np.arange(n_frames, dtype=np.float64)[:, None] / float(fps)
    f = np.asarray(freqs_hz, dtype=np.float64)[None, :]
    s = np.sin(2 * np.pi * f * t + float(phase))
    return jnp.asarray(1.0 - (1.0 - float(min_gain)) * (1.0 - s) / 2.0, dtype=jnp.float32)


def tag_frames(
    image: Float[ArrayLike, "h w c"],
    masks: Bool[ArrayLike, "p h w"],
    freqs_hz: Sequence[float],
    *,
    fps: float = 120.0,
    n_frames: int = 240,
    min_gain: float = 0.5,
    phase: float = 0.0,
) -> Float[Array, "t h w c"]:
    """Frames ``[n_frames, H, W, C]`` in which each masked part flickers at its tag frequency.

    Args:
        image: ``[H, W, C]`` with values in [0, 1].
        masks: ``[P, H, W]`` boolean, disjoint, non-empty parts (e.g. ``halves(H, W)``).
        freqs_hz: P tag frequencies in Hz, each on a bin (``f * n_frames / fps`` an integer) and
            below Nyquist ``fps / 2``.
        fps: frame rate in frames per second.
        n_frames: number of frames T.
        min_gain: smallest gain of a part (the gain swings between ``min_gain`` and 1).
        phase: phase of every tag at frame 0, in radians.

    Returns:
        ``[n_frames, H, W, C]`` float32 frames.
    """
    check_image(image)
    h, w, _ = np.shape(image)
    g = gains(freqs_hz, fps=fps, n_frames=n_frames, min_gain=min_gain, phase=phase)
    m = check_masks(masks, h, w, n_parts=len(freqs_hz))
    return _apply_gains(jnp.asarray(image, jnp.float32), jnp.asarray(m, jnp.float32), g)


@jax.jit
def _apply_gains(image, masks, g):
    # Parts are disjoint, so the per-pixel gain is 1 plus the sum of each part's deviation.
    pixel_gain = 1.0 + jnp.einsum("tp,phw->thw", g - 1.0, masks)
    return image[None] * pixel_gain[..., None]


def tag_batch(
    images: Float[ArrayLike, "n h w c"],
    masks: Bool[ArrayLike, "p h w"],
    config: TagConfig = TagConfig(),
) -> Float[Array, "n t h w c"]:
    """``tag_frames`` for a batch of images ``[N, H, W, C]`` -> ``[N, T, H, W, C]``."""
    check_image(images, "images", "N, H, W, C")
    shape = np.shape(images)
    m = check_masks(masks, shape[1], shape[2], n_parts=len(config.freqs_hz))
    g = gains(config.freqs_hz, fps=config.fps, n_frames=config.n_frames, min_gain=config.min_gain,
              phase=config.phase)
    return jax.vmap(_apply_gains, in_axes=(0, None, None))(
        jnp.asarray(images, jnp.float32), jnp.asarray(m, jnp.float32), g)
