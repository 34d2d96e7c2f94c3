"""Amplitude spectra and the EEG frequency-tagging noise measures: SNR, z-score and BCA.

SCIENCE.md sections 2 and 3. For a real series of length T (rectangular window, no padding):
``A_k = 2 |rfft(x)_k| / T`` for ``0 < k < T/2``, ``A_0 = |rfft(x)_0| / T`` and, for even T, the
Nyquist bin ``|rfft(x)_{T/2}| / T``; bin k is ``k * fps / T`` Hz.

Noise at bin k: the amplitudes at offsets ``skip < |o| <= skip + n_neighbors``, restricted to bins
``1..K-1`` (DC excluded; K = number of rfft bins), optionally without the ``drop_extremes`` smallest
and largest values. Where fewer than ``n_neighbors`` bins remain, every measure at k is NaN.
``mu`` is their mean, ``sigma`` their population standard deviation (ddof = 0), and

    SNR = A_k / mu,   BCA = A_k - mu,   z = (A_k - mu) / sigma.

All functions take any axis as the frequency axis, run under ``jax.jit`` and ``jax.vmap``, and take
the noise settings as static Python values.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ssvepjax import _validate as V


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """How the noise around a bin is estimated (static).

    Attributes:
        n_neighbors: noise bins per side.
        skip: bins next to the target left out per side.
        drop_extremes: how many of the smallest and of the largest noise values to drop.
        z_threshold: z above which a component counts as significant (1.64: one-tailed p < .05).
    """

    n_neighbors: int = 10
    skip: int = 1
    drop_extremes: int = 0
    z_threshold: float = 1.64

    def __post_init__(self):
        _check_noise_args(self.n_neighbors, self.skip, self.drop_extremes)
        V.check_positive("z_threshold", self.z_threshold)

    @property
    def kwargs(self) -> dict:
        return dict(n_neighbors=self.n_neighbors, skip=self.skip, drop_extremes=self.drop_extremes)


def _check_noise_args(n_neighbors, skip, drop_extremes):
    V.check_positive("n_neighbors", n_neighbors, integer=True)
    V.check_nonneg_int("skip", skip)
    V.check_nonneg_int("drop_extremes", drop_extremes)
    if 2 * drop_extremes >= n_neighbors:
        raise ValueError(
            f"drop_extremes={drop_extremes} must leave noise bins: need 2*drop_extremes < "
            f"n_neighbors={n_neighbors}"
        )


def frequencies(n_frames: int, fps: float) -> np.ndarray:
    """Frequencies in Hz of the ``n_frames // 2 + 1`` rfft bins."""
    V.check_positive("n_frames", n_frames, integer=True)
    V.check_positive("fps", fps)
    return np.arange(n_frames // 2 + 1) * (float(fps) / n_frames)


def amplitude_spectrum(
    x: Float[ArrayLike, "..."], fps: float, axis: int = 0
) -> tuple[np.ndarray, Float[Array, "..."]]:
    """One-sided amplitude spectrum of real series along ``axis``.

    Args:
        x: real time series; ``axis`` is time (T samples at ``fps`` Hz).
        fps: sampling rate in Hz (frames per second).
        axis: the time axis.

    Returns:
        ``(freqs_hz, amplitude)``: ``freqs_hz`` is ``[T // 2 + 1]`` (NumPy, Hz); ``amplitude`` has
        ``x``'s shape with ``axis`` of length ``T // 2 + 1``, in the units of ``x`` (a sinusoid of
        amplitude a on a bin gives a). Amplitudes at or below ``RESOLUTION_RTOL`` (1e-4) times the
        series' largest magnitude are float32 rounding error and set to exactly 0 (DC excepted).
    """
    V.check_positive("fps", fps)
    axis = V.check_axis("axis", axis, np.ndim(x))
    n = np.shape(x)[axis]
    if n < 2:
        raise ValueError(f"x needs at least 2 samples along axis {axis}, got {n}")
    V.check_finite("x", x)
    return frequencies(n, fps), _amplitude(jnp.asarray(x), axis)


# Float32 resolution floor. Activations and the FFT are float32 (about 1e-7 relative per
# operation), and a deep network accumulates rounding over its layers' sums. Because the frames are
# exactly periodic, that rounding is periodic too: it lands on component bins (a linear ResNet-32
# showed "harmonics" at up to 5e-5 of its fundamental) and on a few other bins, and a scale-free z
# or SNR test calls it significant. Amplitudes at or below RESOLUTION_RTOL times the series' largest
# magnitude are therefore set to 0: a bin with zero amplitude and zero noise has NaN SNR and z
# (never significant), and a component above the floor with zero noise around it has infinite SNR
# and z (a noise-free deterministic response). Responses weaker than 1e-4 of a unit's magnitude are
# below what float32 resolves through a deep network.
RESOLUTION_RTOL = 1e-4


@functools.partial(jax.jit, static_argnums=1)
def _amplitude(x, axis):
    n = x.shape[axis]
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    spec = jnp.abs(jnp.fft.rfft(x, axis=axis))
    k = spec.shape[axis]
    scale = np.full(k, 2.0 / n)
    scale[0] = 1.0 / n
    if n % 2 == 0:
        scale[-1] = 1.0 / n
    shape = [1] * x.ndim
    shape[axis] = k
    amp = spec * jnp.asarray(scale.reshape(shape), spec.dtype)
    floor = RESOLUTION_RTOL * jnp.max(jnp.abs(x), axis, keepdims=True)
    dc = np.zeros(shape, bool)
    dc.flat[0] = True
    return jnp.where(jnp.logical_or(amp > floor, jnp.asarray(dc)), amp, 0.0)


def repeated_spectrum(
    amplitude: Float[ArrayLike, "..."], period: int, repeats: int, axis: int = 0
) -> Float[Array, "..."]:
    """Amplitude spectrum of a series repeated ``repeats`` times, from the spectrum of one period.

    If ``x`` has P samples and ``y = tile(x, R)`` has ``T = R * P``, then ``rfft(y)[R * m] =
    R * rfft(x)[m]`` and every other bin of ``y`` is exactly 0; with the one-sided scaling of
    :func:`amplitude_spectrum` (``2 / T`` against ``2 / P``, ``1 / T`` at DC and Nyquist) the
    amplitudes at bins ``R * m`` equal those of ``x`` at m. A network driven by an exactly periodic
    stimulus (``TagConfig.repeats`` periods) therefore needs one period of frames only.

    Args:
        amplitude: one-period spectrum, ``period // 2 + 1`` bins along ``axis``.
        period: P, samples in one period.
        repeats: R >= 1, the number of periods.
        axis: the frequency axis.

    Returns:
        The spectrum of the ``T = R * P`` samples: ``T // 2 + 1`` bins along ``axis``, zero off the
        multiples of R.
    """
    V.check_positive("period", period, integer=True)
    V.check_positive("repeats", repeats, integer=True)
    axis = V.check_axis("axis", axis, np.ndim(amplitude))
    if np.shape(amplitude)[axis] != period // 2 + 1:
        raise ValueError(f"amplitude has {np.shape(amplitude)[axis]} bins along axis {axis}; a period of "
                         f"{period} samples has {period // 2 + 1}")
    return _repeat_bins(jnp.asarray(amplitude), int(repeats), axis, repeats * period // 2 + 1)


def _repeat_bins(amp, repeats: int, axis: int, n_bins: int):
    """Place bin m of ``amp`` at ``repeats * m`` of an ``n_bins``-bin spectrum (zeros between)."""
    if repeats == 1:
        return amp
    k = amp.shape[axis]
    shape = list(amp.shape)
    shape[axis] = n_bins
    index = [slice(None)] * amp.ndim
    index[axis] = slice(0, repeats * (k - 1) + 1, repeats)
    return jnp.zeros(shape, amp.dtype).at[tuple(index)].set(amp)


def noise_offsets(n_neighbors: int, skip: int) -> np.ndarray:
    """Offsets o with ``skip < |o| <= skip + n_neighbors``, lower side first."""
    up = np.arange(skip + 1, skip + n_neighbors + 1)
    return np.concatenate([-up[::-1], up])


def noise_windows(n_bins: int, bins, n_neighbors: int, skip: int):
    """Index and validity of each target bin's noise window (static NumPy).

    Returns:
        ``(index [m, 2n], valid [m, 2n], count [m])`` for the ``m`` target ``bins``: neighbours
        outside ``1..n_bins-1`` are invalid (their index is clipped).
    """
    bins = np.asarray(bins, dtype=np.int64).reshape(-1)
    idx = bins[:, None] + noise_offsets(n_neighbors, skip)[None, :]
    valid = (idx >= 1) & (idx <= n_bins - 1)
    return np.clip(idx, 0, n_bins - 1), valid, valid.sum(1)


def noise_stats(
    amplitude: Float[ArrayLike, "..."],
    *,
    n_neighbors: int = 10,
    skip: int = 1,
    drop_extremes: int = 0,
    axis: int = 0,
    bins=None,
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Noise mean and population standard deviation around each bin.

    Args:
        amplitude: amplitude spectrum; ``axis`` holds the K rfft bins.
        n_neighbors, skip, drop_extremes: the noise window (module docstring).
        axis: the frequency axis.
        bins: target bins (a static sequence of ints); None means every bin.

    Returns:
        ``(mu, sigma)``, shaped like ``amplitude`` with ``axis`` of length ``len(bins)`` (or K);
        NaN where fewer than ``n_neighbors`` noise bins lie inside ``1..K-1``.
    """
    _check_noise_args(n_neighbors, skip, drop_extremes)
    axis = V.check_axis("axis", axis, np.ndim(amplitude))
    n_bins = np.shape(amplitude)[axis]
    target = np.arange(n_bins) if bins is None else np.asarray(bins, dtype=np.int64).reshape(-1)
    if target.size and (target.min() < 0 or target.max() >= n_bins):
        raise ValueError(f"bins must lie in [0, {n_bins - 1}] for a spectrum of {n_bins} bins")
    V.check_finite("amplitude", amplitude)
    return _noise_stats(jnp.asarray(amplitude), tuple(int(b) for b in target), n_neighbors, skip,
                        drop_extremes, axis)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _noise_stats(a, target, n_neighbors, skip, drop_extremes, axis):
    a = jnp.moveaxis(a, axis, 0)
    rows = a.reshape(a.shape[0], -1)
    mu, sigma = window_stats(rows, np.arange(a.shape[0]), target, n_neighbors, skip, drop_extremes)
    shape = (len(target), *a.shape[1:])
    return jnp.moveaxis(mu.reshape(shape), 0, axis), jnp.moveaxis(sigma.reshape(shape), 0, axis)


def window_stats(rows, row_of_bin, target, n_neighbors: int, skip: int, drop_extremes: int,
                 zero_row: int | None = None):
    """Noise mean and SD ``([m, n], [m, n])`` at the m ``target`` bins, from frequency-major rows.

    The one implementation of the noise window (module docstring), used by :func:`noise_stats`
    and by ``stream``'s blocked reduction. Traceable (call it inside ``jit``).

    Args:
        rows: ``[R, n]`` amplitudes of n series; bin k of a ``K = len(row_of_bin)``-bin spectrum is
            row ``row_of_bin[k]`` (``np.arange(K)`` for a plain spectrum).
        row_of_bin, target: static NumPy bins.
        n_neighbors, skip, drop_extremes: the noise window.
        zero_row: a row known to hold zeros (the off-lattice bins of a repeated series). Without
            ``drop_extremes`` its bins count in each window's mean and variance without being read.
    """
    idx, valid, count = noise_windows(len(row_of_bin), target, n_neighbors, skip)
    ok = count >= n_neighbors
    r = np.asarray(row_of_bin)[idx]  # [m, 2 n_neighbors] rows of the window bins
    d = drop_extremes
    if d == 0:
        live = valid & (r != zero_row) if zero_row is not None else valid
        n_zero = (valid & ~live).sum(1)
        width = max(int(live.sum(1).max()), 1)
        # Each window's live rows first (a stable sort keeps their order); the rest weigh 0. A sum
        # over static shifts: XLA fuses it into one pass, never materialising [m, width, n].
        order = np.argsort(~live, axis=1, kind="stable")[:, :width]
        r, live = np.take_along_axis(r, order, 1), np.take_along_axis(live, order, 1)
        w = (live / np.where(ok, count, 1)[:, None]).astype(np.float32)
        mu = sum(rows[r[:, j]] * w[:, j, None] for j in range(width))
        var = sum(jnp.square(rows[r[:, j]] - mu) * w[:, j, None] for j in range(width))
        if n_zero.any():  # the zero bins: (0 - mu)^2 each
            var = var + (n_zero / np.where(ok, count, 1)).astype(np.float32)[:, None] * jnp.square(mu)
    else:
        vals = jnp.sort(jnp.where(valid[:, :, None], rows[r], jnp.inf), axis=1)  # invalid bins sort last
        pos = np.arange(idx.shape[1])[None, :]
        keep = (pos >= d) & (pos < (count - d)[:, None])
        kept = count - 2 * d
        w = (keep / np.where(kept > 0, kept, 1)[:, None]).astype(np.float32)[:, :, None]
        vals = jnp.where(keep[:, :, None], vals, 0.0)
        mu = jnp.sum(vals * w, axis=1)
        var = jnp.sum(jnp.square(vals - mu[:, None]) * w, axis=1)
    nan = np.where(ok, 0.0, np.nan).astype(np.float32)[:, None]
    return mu + nan, jnp.sqrt(var) + nan


def _measure(amplitude, fn, n_neighbors, skip, drop_extremes, axis, bins):
    mu, sigma = noise_stats(amplitude, n_neighbors=n_neighbors, skip=skip,
                            drop_extremes=drop_extremes, axis=axis, bins=bins)
    a = jnp.asarray(amplitude)
    if bins is not None:
        a = jnp.take(a, jnp.asarray(np.asarray(bins).reshape(-1)), axis=V.check_axis("axis", axis, a.ndim))
    return fn(a, mu, sigma)


def snr(
    amplitude: Float[ArrayLike, "..."],
    *,
    n_neighbors: int = 10,
    skip: int = 1,
    drop_extremes: int = 0,
    axis: int = 0,
    bins=None,
) -> Float[Array, "..."]:
    """Signal-to-noise ratio ``A_k / mu_k`` of each bin (or of ``bins``) along ``axis``."""
    return _measure(amplitude, lambda a, mu, s: a / mu, n_neighbors, skip, drop_extremes, axis, bins)


def bca(
    amplitude: Float[ArrayLike, "..."],
    *,
    n_neighbors: int = 10,
    skip: int = 1,
    drop_extremes: int = 0,
    axis: int = 0,
    bins=None,
) -> Float[Array, "..."]:
    """Baseline-corrected amplitude ``A_k - mu_k`` (units of the amplitude)."""
    return _measure(amplitude, lambda a, mu, s: a - mu, n_neighbors, skip, drop_extremes, axis, bins)


def zscore(
    amplitude: Float[ArrayLike, "..."],
    *,
    n_neighbors: int = 10,
    skip: int = 1,
    drop_extremes: int = 0,
    axis: int = 0,
    bins=None,
) -> Float[Array, "..."]:
    """z-score ``(A_k - mu_k) / sigma_k`` against the neighbouring noise bins."""
    return _measure(amplitude, lambda a, mu, s: (a - mu) / s, n_neighbors, skip, drop_extremes, axis,
                    bins)


def measures_at(
    amplitude: Float[ArrayLike, "..."], bins, noise: NoiseConfig = NoiseConfig(), axis: int = 0
) -> dict[str, Float[Array, "..."]]:
    """Amplitude, SNR, BCA and z at ``bins`` in one pass: a dict of arrays with ``axis`` = len(bins)."""
    mu, sigma = noise_stats(amplitude, axis=axis, bins=bins, **noise.kwargs)
    a = jnp.take(jnp.asarray(amplitude), jnp.asarray(np.asarray(bins).reshape(-1)),
                 axis=V.check_axis("axis", axis, np.ndim(amplitude)))
    return {"amplitude": a, "snr": a / mu, "bca": a - mu, "z": (a - mu) / sigma}


def harmonic_sum(
    bca_values: Float[ArrayLike, "... n"], z_values: Float[ArrayLike, "... n"], z_threshold: float = 1.64
) -> Float[Array, "..."]:
    """Summed BCA over the significant harmonics (Retter, Rossion & Schiltz 2021).

    Harmonics are taken in order along the last axis; selection stops at the first run of two
    consecutive non-significant harmonics (``z <= z_threshold``, NaN counting as non-significant).
    Every significant harmonic before that point adds its BCA; isolated non-significant ones do not.

    Args:
        bca_values: ``[..., n]`` BCA at harmonics 1..n (in order).
        z_values: ``[..., n]`` their z-scores.
        z_threshold: significance threshold.

    Returns:
        ``[...]`` summed BCA.
    """
    b = jnp.asarray(bca_values)
    sig = jnp.asarray(z_values) > z_threshold
    pair_miss = ~sig & jnp.concatenate([~sig[..., 1:], jnp.zeros_like(sig[..., :1])], axis=-1)
    # A harmonic counts only if no pair of consecutive misses starts before it.
    stopped = jnp.cumsum(pair_miss, axis=-1) > 0
    return jnp.sum(jnp.where(sig & ~stopped, b, 0.0), axis=-1)
