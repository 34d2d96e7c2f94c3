"""The EEG frequency-tagging noise measures of an amplitude spectrum: SNR, z-score and BCA.

SCIENCE.md section 3 (amplitude spectra come from ``spectral.fourier``). Noise at bin k: the
amplitudes at offsets ``skip < |o| <= skip + n_neighbors``, restricted to bins ``1..K-1`` (DC excluded;
K = number of rfft bins), optionally without the ``drop_extremes`` smallest and largest values. Where
fewer than ``n_neighbors`` bins remain, every measure at k is NaN.
``mu`` is their mean, ``sigma`` their population standard deviation (ddof = 0), and

    SNR = A_k / mu,   BCA = A_k - mu,   z = (A_k - mu) / sigma.

The formula is written once, in :func:`measures_from_rows`, which every measure of the library calls
(on plain spectra, on the rows of ``transform``, per neuron, filter and layer). The public functions
take any axis as the frequency axis, run under ``jax.jit`` and ``jax.vmap``, and take the noise
settings as static Python values.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ssvepjax import _checks as V

#: Bins left out of noise windows (``NoiseConfig.exclude``).
EXCLUDE = ("components", "lattice", "none")


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """How the noise around a bin is estimated (static).

    Attributes:
        n_neighbors: noise bins per side.
        skip: bins next to the target left out per side.
        drop_extremes: how many of the smallest and of the largest noise values to drop.
        z_threshold: z above which a component counts as significant (1.64: one-tailed p < .05).
        exclude: which bins a noise window leaves out (SCIENCE.md section 3: a window must not hold
            another component): ``"components"`` (default) every listed component of the design,
            ``"lattice"`` every bin where a combination of the tags can land (the noise-free network's
            structural zeros elsewhere make z infinite for any response), ``"none"`` the EEG windows as
            they are. Applied by the design-aware measures (``analysis.measure``); the plain functions
            take the bins themselves (``exclude=``).
    """

    n_neighbors: int = 10
    skip: int = 1
    drop_extremes: int = 0
    z_threshold: float = 1.64
    exclude: str = "components"

    def __post_init__(self):
        _check_noise_args(self.n_neighbors, self.skip, self.drop_extremes)
        V.check_positive("z_threshold", self.z_threshold)
        V.check_choice("exclude", self.exclude, EXCLUDE)

    @property
    def kwargs(self) -> dict:
        return dict(n_neighbors=self.n_neighbors, skip=self.skip, drop_extremes=self.drop_extremes)


#: Per-unit measures at a bin: amplitude, SNR, baseline-corrected amplitude, z.
MEASURES = ("amplitude", "snr", "bca", "z")


def _check_noise_args(n_neighbors, skip, drop_extremes):
    V.check_positive("n_neighbors", n_neighbors, integer=True)
    V.check_nonneg_int("skip", skip)
    V.check_nonneg_int("drop_extremes", drop_extremes)
    if 2 * drop_extremes >= n_neighbors:
        raise ValueError(
            f"drop_extremes={drop_extremes} must leave noise bins: need 2*drop_extremes < "
            f"n_neighbors={n_neighbors}"
        )


def noise_offsets(n_neighbors: int, skip: int) -> np.ndarray:
    """Offsets o with ``skip < |o| <= skip + n_neighbors``, lower side first."""
    up = np.arange(skip + 1, skip + n_neighbors + 1)
    return np.concatenate([-up[::-1], up])


def noise_windows(n_bins: int, bins, n_neighbors: int, skip: int, exclude=()):
    """Index and validity of each target bin's noise window (static NumPy).

    Returns:
        ``(index [m, 2n], valid [m, 2n], count [m])`` for the ``m`` target ``bins``: neighbours
        outside ``1..n_bins-1`` and neighbours in ``exclude`` are invalid (their index is clipped).
    """
    bins = np.asarray(bins, dtype=np.int64).reshape(-1)
    idx = bins[:, None] + noise_offsets(n_neighbors, skip)[None, :]
    valid = (idx >= 1) & (idx <= n_bins - 1) & ~np.isin(idx, np.asarray(exclude, dtype=np.int64))
    return np.clip(idx, 0, n_bins - 1), valid, valid.sum(1)


def check_measures(names) -> tuple[str, ...]:
    """``names`` as a tuple of measures; ``ValueError`` unless a non-empty subset of ``MEASURES``."""
    names = (names,) if isinstance(names, str) else tuple(names)
    bad = [n for n in names if n not in MEASURES]
    if not names or bad:
        raise ValueError(f"measures must be a non-empty subset of {MEASURES}, got {names}")
    return names


def measures_from_rows(rows, row_of_bin, bins, noise: NoiseConfig, names=MEASURES, zero_row: int | None = None,
                       exclude=()) -> dict[str, Array]:
    """The measures at ``bins``: ``{name: [m, n]}`` from frequency-major amplitude rows ``[R, n]``. Traceable.

    The one place where SNR = A/mu, BCA = A - mu and z = (A - mu)/sigma are computed (module docstring).

    Args:
        rows: ``[R, n]`` amplitudes of n series; bin k is row ``row_of_bin[k]``.
        row_of_bin: static ``[K]`` (``np.arange(K)`` for a plain spectrum).
        bins: static target bins.
        noise: the noise window.
        names: which of ``MEASURES`` to return.
        zero_row: a row known to hold zeros (:func:`window_stats`).
        exclude: static bins left out of every noise window.
    """
    bins = tuple(int(b) for b in np.asarray(bins).reshape(-1))
    mu, sigma = window_stats(rows, row_of_bin, bins, noise.n_neighbors, noise.skip, noise.drop_extremes, zero_row,
                             exclude)
    a = rows[np.asarray(row_of_bin)[np.asarray(bins, dtype=np.int64)]]
    every = {"amplitude": lambda: a, "snr": lambda: a / mu, "bca": lambda: a - mu, "z": lambda: (a - mu) / sigma}
    return {k: every[k]() for k in names}


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _along_axis(a, bins, noise, names, axis, exclude):
    x = jnp.moveaxis(a, axis, 0)
    out = measures_from_rows(x.reshape(x.shape[0], -1), np.arange(x.shape[0]), bins, noise, names, exclude=exclude)
    return {k: jnp.moveaxis(v.reshape(len(bins), *x.shape[1:]), 0, axis) for k, v in out.items()}


def _target_bins(amplitude, bins, axis) -> tuple[int, tuple[int, ...]]:
    axis = V.check_axis("axis", axis, np.ndim(amplitude))
    n_bins = np.shape(amplitude)[axis]
    target = np.arange(n_bins) if bins is None else np.asarray(bins, dtype=np.int64).reshape(-1)
    if target.size and (target.min() < 0 or target.max() >= n_bins):
        raise ValueError(f"bins must lie in [0, {n_bins - 1}] for a spectrum of {n_bins} bins")
    V.check_finite("amplitude", amplitude)
    return axis, tuple(int(b) for b in target)


def measures_at(
    amplitude: Float[ArrayLike, "..."], bins=None, noise: NoiseConfig = NoiseConfig(), axis: int = 0, *,
    measures=MEASURES, exclude=(),
) -> dict[str, Float[Array, "..."]]:
    """Amplitude, SNR, BCA and z at ``bins`` (default: every bin) in one pass.

    Args:
        amplitude: amplitude spectrum; ``axis`` holds the K rfft bins.
        bins: target bins (a static sequence of ints); None means every bin.
        noise: the noise window (module docstring).
        axis: the frequency axis.
        measures: which of ``MEASURES`` to return.
        exclude: bins left out of every noise window (e.g. the other components of a design:
            ``Design.excluded_bins()``).

    Returns:
        ``{measure: array}`` shaped like ``amplitude`` with ``axis`` of length ``len(bins)``. SNR, BCA
        and z are NaN where fewer than ``n_neighbors`` noise bins of the window lie inside ``1..K-1`` and
        outside ``exclude``. Where every
        noise bin is 0 (a noise-free deterministic network) SNR and z are inf for a positive amplitude
        and NaN for a zero one.
    """
    names = check_measures(measures)
    axis, target = _target_bins(amplitude, bins, axis)
    return _along_axis(jnp.asarray(amplitude), target, noise, names, axis, _static(exclude, "exclude"))


def _static(bins, name: str) -> tuple[int, ...]:
    arr = np.asarray(bins, dtype=np.float64).reshape(-1)
    if arr.size and (np.any(arr != np.round(arr)) or arr.min() < 0):
        raise ValueError(f"{name} must be rfft bins (integers >= 0), got {np.asarray(bins).tolist()}")
    return tuple(sorted({int(b) for b in arr}))


def snr(amplitude: Float[ArrayLike, "..."], *, n_neighbors: int = 10, skip: int = 1, drop_extremes: int = 0,
        axis: int = 0, bins=None, exclude=()) -> Float[Array, "..."]:
    """Signal-to-noise ratio ``A_k / mu_k`` of each bin (or of ``bins``) along ``axis`` (see :func:`measures_at`)."""
    noise = NoiseConfig(n_neighbors, skip, drop_extremes)
    return measures_at(amplitude, bins, noise, axis, measures="snr", exclude=exclude)["snr"]


def bca(amplitude: Float[ArrayLike, "..."], *, n_neighbors: int = 10, skip: int = 1, drop_extremes: int = 0,
        axis: int = 0, bins=None, exclude=()) -> Float[Array, "..."]:
    """Baseline-corrected amplitude ``A_k - mu_k``, in the units of the amplitude (see :func:`measures_at`)."""
    noise = NoiseConfig(n_neighbors, skip, drop_extremes)
    return measures_at(amplitude, bins, noise, axis, measures="bca", exclude=exclude)["bca"]


def zscore(amplitude: Float[ArrayLike, "..."], *, n_neighbors: int = 10, skip: int = 1, drop_extremes: int = 0,
           axis: int = 0, bins=None, exclude=()) -> Float[Array, "..."]:
    """z-score ``(A_k - mu_k) / sigma_k`` against the neighbouring noise bins (see :func:`measures_at`)."""
    noise = NoiseConfig(n_neighbors, skip, drop_extremes)
    return measures_at(amplitude, bins, noise, axis, measures="z", exclude=exclude)["z"]


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _noise_along(a, bins, noise, axis, exclude):
    x = jnp.moveaxis(a, axis, 0)
    mu, sigma = window_stats(x.reshape(x.shape[0], -1), np.arange(x.shape[0]), bins, noise.n_neighbors, noise.skip,
                             noise.drop_extremes, exclude=exclude)
    return tuple(jnp.moveaxis(v.reshape(len(bins), *x.shape[1:]), 0, axis) for v in (mu, sigma))


def noise_stats(
    amplitude: Float[ArrayLike, "..."], *, n_neighbors: int = 10, skip: int = 1, drop_extremes: int = 0,
    axis: int = 0, bins=None, exclude=(),
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    """Noise mean and population standard deviation ``(mu, sigma)`` around each bin (or ``bins``).

    Shaped like ``amplitude`` with ``axis`` of length ``len(bins)`` (or K); NaN where fewer than
    ``n_neighbors`` noise bins lie inside ``1..K-1``.
    """
    noise = NoiseConfig(n_neighbors, skip, drop_extremes)
    axis, target = _target_bins(amplitude, bins, axis)
    return _noise_along(jnp.asarray(amplitude), target, noise, axis, _static(exclude, "exclude"))


def window_stats(rows, row_of_bin, target, n_neighbors: int, skip: int, drop_extremes: int,
                 zero_row: int | None = None, exclude=()):
    """Noise mean and SD ``([m, n], [m, n])`` at the m ``target`` bins, from frequency-major rows.

    The one implementation of the noise window (module docstring), used by :func:`measures_from_rows`
    and :func:`noise_stats`. Traceable (call it inside ``jit``).

    Args:
        rows: ``[R, n]`` amplitudes of n series; bin k of a ``K = len(row_of_bin)``-bin spectrum is
            row ``row_of_bin[k]`` (``np.arange(K)`` for a plain spectrum).
        row_of_bin, target: static NumPy bins.
        n_neighbors, skip, drop_extremes: the noise window.
        zero_row: a row known to hold zeros (the off-lattice bins of a repeated series). Without
            ``drop_extremes`` its bins count in each window's mean and variance without being read.
        exclude: static bins left out of every window (other components: ``NoiseConfig.exclude``).
    """
    idx, valid, count = noise_windows(len(row_of_bin), target, n_neighbors, skip, exclude)
    ok = count >= n_neighbors
    r = np.asarray(row_of_bin)[idx]  # [m, 2 n_neighbors] rows of the window bins
    d = drop_extremes
    if d == 0:
        # Each window's mean and mean square as one product of static weights [m, R'] with the R' rows some window
        # reads (the default design on one period reads 12 of 46): a cache-friendly pass instead of m x 2n
        # gathers. Bins of the zero row weigh in the count without being read. var = E[x^2] - mu^2 in float32 is
        # exact for all-zero windows and loses relative precision only where the window's spread is below ~1e-3
        # of its level.
        n_rows = rows.shape[0]
        m = len(target)
        w = np.zeros((m, n_rows), np.float64)
        read = valid & (r < n_rows) & ((r != zero_row) if zero_row is not None else True)
        rows_i = np.broadcast_to(np.arange(m)[:, None], r.shape)
        np.add.at(w, (rows_i[read], r[read]), (1.0 / np.where(ok, count, 1))[rows_i[read]])
        used = np.flatnonzero(np.any(w != 0, axis=0))
        part, w = (rows, w) if len(used) == n_rows else (rows[used], w[:, used])
        weights = jnp.asarray(w, rows.dtype)
        hi = jax.lax.Precision.HIGHEST
        mu = jnp.matmul(weights, part, precision=hi)
        msq = jnp.matmul(weights, jnp.square(part), precision=hi)
        var = jnp.maximum(msq - jnp.square(mu), 0.0)
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


def harmonic_range(significant) -> int:
    """How many harmonics to sum: those before the first two consecutive non-significant ones.

    Retter, Rossion & Schiltz (2021): the range is chosen on the grand-averaged response and then applied
    to every unit, significant or not (choosing it per unit biases the sums upward).

    Args:
        significant: ``[n]`` booleans for harmonics 1..n of the grand average, in order.
    """
    sig = np.asarray(significant, bool).reshape(-1)
    for i in range(len(sig) - 1):
        if not sig[i] and not sig[i + 1]:
            return i
    return len(sig) if len(sig) == 0 or sig[-1] else len(sig) - 1


def harmonic_sum(
    values: Float[ArrayLike, "... n"], significant, *, per_unit: bool = False
) -> Float[Array, "..."]:
    """Summed values (BCA or amplitude) over harmonics 1..n in order (Retter, Rossion & Schiltz 2021).

    Args:
        values: ``[..., n]`` values at harmonics 1..n (NaN counts as 0).
        significant: ``[n]`` significance of the grand-averaged response: the harmonics before the first two
            consecutive non-significant ones (:func:`harmonic_range`) are summed for every unit. With
            ``per_unit``, ``[..., n]`` per-unit flags instead: each unit sums its own significant harmonics
            until its own first two consecutive misses (biased upward; kept for comparison).

    Returns:
        ``[...]`` sums.
    """
    v = jnp.nan_to_num(jnp.asarray(values))
    if not per_unit:
        if np.ndim(significant) != 1 or np.shape(significant)[0] != v.shape[-1]:
            raise ValueError(f"significant must be [n] = [{v.shape[-1]}] grand-average flags, got shape "
                             f"{np.shape(significant)} (per_unit=True takes per-unit flags)")
        return jnp.sum(v[..., : harmonic_range(significant)], axis=-1)
    sig = jnp.asarray(significant, bool)
    pair_miss = ~sig & jnp.concatenate([~sig[..., 1:], jnp.zeros_like(sig[..., :1])], axis=-1)
    # A harmonic counts only if no pair of consecutive misses starts before it.
    stopped = jnp.cumsum(pair_miss, axis=-1) > 0
    return jnp.sum(jnp.where(sig & ~stopped, v, 0.0), axis=-1)


__all__ = ["EXCLUDE", "MEASURES", "NoiseConfig", "bca", "check_measures", "harmonic_range", "harmonic_sum",
           "measures_at", "measures_from_rows", "noise_offsets", "noise_stats", "noise_windows", "snr",
           "window_stats", "zscore"]
