"""Tag frequencies and their contrast gains: the static settings of a frequency-tagging stimulus.

Conventions (SCIENCE.md section 1): frame ``i`` is shown at ``i / fps`` seconds, ``i = 0..T-1``
(never ``linspace(0, duration, T)``, which would put the tags off-bin), and the pixels of part
``p`` are multiplied by the gain

    g_p(i) = 1 - (1 - min_gain) * (1 - sin(2*pi*f_p*i/fps + phase)) / 2,

which oscillates between ``min_gain`` and 1 (``0.75 + 0.25*sin`` at the default ``min_gain=0.5``),
so a part never loses more than half of its luminance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ssvepjax import _checks as V


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
        V.check_fraction("min_gain", self.min_gain)

    @property
    def n_tags(self) -> int:
        return len(self.freqs_hz)

    @property
    def resolution_hz(self) -> float:
        return self.fps / self.n_frames

    @property
    def n_bins(self) -> int:
        """rfft bins of ``n_frames`` samples: ``n_frames // 2 + 1``."""
        return self.n_frames // 2 + 1

    @property
    def tag_bins(self) -> tuple[int, ...]:
        return tuple(V.frequency_bin(f, self.fps, self.n_frames) for f in self.freqs_hz)

    @property
    def repeats(self) -> int:
        """How many whole periods of the stimulus the T frames hold, ``gcd(tag bins..., T)``.

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
    V.check_fraction("min_gain", min_gain)
    # Integer frame index times an exact on-bin frequency: phases computed in float64 NumPy, so a
    # 240-frame tag is exactly periodic (float32 i*f/fps drifts by ~1e-5 rad at the last frame).
    t = np.arange(n_frames, dtype=np.float64)[:, None] / float(fps)
    f = np.asarray(freqs_hz, dtype=np.float64)[None, :]
    s = np.sin(2 * np.pi * f * t + float(phase))
    return jnp.asarray(1.0 - (1.0 - float(min_gain)) * (1.0 - s) / 2.0, dtype=jnp.float32)


__all__ = ["TagConfig", "gains", "validate_tags"]
