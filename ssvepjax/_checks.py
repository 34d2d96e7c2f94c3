"""Input checks shared by the public functions: one place that says what is allowed (private module).

Every check raises ``ValueError`` naming the argument and the valid range. Checks that need
concrete values (NaN, range) run only when the value is concrete, i.e. outside ``jax.jit``; the
public entry points call them before tracing where they can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np

BIN_TOL = 1e-6


def is_concrete(x) -> bool:
    """True when ``x`` holds values (NumPy, Python, or a non-traced JAX array)."""
    return not isinstance(x, jax.core.Tracer)


def check_positive(name: str, value, *, integer: bool = False) -> None:
    if integer:
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    elif not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_nonneg_int(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def frequency_bin(freq_hz: float, fps: float, n_frames: int, name: str = "freqs_hz", all_freqs=None) -> int:
    """The rfft bin of ``freq_hz``; ``ValueError`` if it is off-bin or outside (0, Nyquist).

    A tag must sit exactly on a bin (``f * n_frames / fps`` an integer): off-bin energy leaks into
    the neighbouring bins that the noise estimate uses. ``all_freqs`` (default: this one) are the
    frequencies that the suggested frame count must put on bins together.
    """
    check_positive("fps", fps)
    check_positive("n_frames", n_frames, integer=True)
    f = float(freq_hz)
    if not math.isfinite(f) or f <= 0:
        raise ValueError(f"{name}: {freq_hz!r} Hz must be a finite frequency > 0")
    nyquist = fps / 2
    if f >= nyquist:
        raise ValueError(
            f"{name}: {f} Hz is at or above Nyquist ({nyquist} Hz for fps={fps}); "
            f"valid tags lie in (0, {nyquist}) Hz"
        )
    exact = f * n_frames / fps
    k = round(exact)
    if abs(exact - k) > BIN_TOL:
        raise ValueError(
            f"{name}: {f} Hz is off-bin for n_frames={n_frames} at fps={fps} "
            f"(f*n_frames/fps = {exact:.6g} is not an integer; resolution {fps / n_frames} Hz). "
            f"Choose a multiple of {fps / n_frames} Hz or a frame count like "
            f"{nearest_valid_n_frames(all_freqs or [f], fps, n_frames)} that puts every tag on a bin"
        )
    return k


def nearest_valid_n_frames(freqs_hz: Sequence[float], fps: float, n_frames: int, limit: int = 100_000):
    """The frame count nearest ``n_frames`` that puts every frequency on a bin (None if none <= limit)."""
    for delta in range(0, limit):
        for t in (n_frames - delta, n_frames + delta):
            if t >= 2 and all(abs(f * t / fps - round(f * t / fps)) <= BIN_TOL for f in freqs_hz):
                return t
    return None


def check_finite(name: str, x) -> None:
    if is_concrete(x):
        arr = np.asarray(x)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            n_bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ValueError(f"{name} holds {n_bad} NaN or infinite value(s); all values must be finite")


def check_axis(name: str, axis: int, ndim: int) -> int:
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis!r} is out of range for an array of rank {ndim}")
    return int(axis) % ndim


def check_choice(name: str, value, choices) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def check_fraction(name: str, value, *, low_open: bool = False, high_open: bool = True) -> float:
    """``value`` as a float in [0, 1) (or the interval the flags give); ``ValueError`` otherwise."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
    lo_ok = ok and (value > 0 if low_open else value >= 0)
    hi_ok = ok and (value < 1 if high_open else value <= 1)
    if not (lo_ok and hi_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)


def check_input_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` of one example as ``(H, W, C)`` positive ints; ``ValueError`` otherwise."""
    shape = tuple(input_shape)
    if len(shape) != 3 or any(not isinstance(d, (int, np.integer)) or d < 1 for d in shape):
        raise ValueError(f"input_shape must be (H, W, C) of positive integers, got {input_shape!r}")
    return tuple(int(d) for d in shape)
