"""The one Fourier transform of ssvepjax: coefficients and amplitudes of real time series.

Every spectrum in the library (probes, datasets, coefficients for statistics, loss terms) comes from
:func:`transform` with a :class:`Plan`, so the scaling, the detection floor and the bin layout are
written once. SCIENCE.md section 2: for a real series of length T (rectangular window, no padding)
the one-sided coefficient of bin k is ``c_k = s_k * rfft(x)_k`` with ``s_k = 2 / T`` for
``0 < k < T/2`` and ``1 / T`` at DC and at the Nyquist bin (even T); the amplitude is ``|c_k|`` (a
sinusoid ``a * cos(2 pi k i / T + phi)`` gives ``c_k = a * exp(1j * phi)``); bin k is ``k * fps / T`` Hz.

Two methods compute the same numbers (``method``):

- ``"fft"``: ``jnp.fft.rfft``. XLA's FFT transforms the minor axis, so ``[T, units]`` series are
  transposed first: cheap on GPUs, slow on CPUs.
- ``"matmul"``: the DFT as two small matrix products (Cooley-Tukey with ``T = t1 * t2`` for real
  input, bins up to T/2 only), about ``2 T (t1 + 2 t2)`` flops per series instead of ``2 T (T + 2)``
  for a DFT matrix, reading series in their ``[T, units]`` layout without transposes; products use
  ``Precision.HIGHEST`` (float32 is never rounded to bfloat16 or TF32). The default on CPUs and TPUs.

Its output are "rows" ``[R, n]``: bin k of the spectrum is row ``plan.row_of_bin[k]`` (conjugated
where ``plan.conj_of_bin[k]``: the row holds the mirror bin ``T - k``). :func:`bins_of_rows` turns rows
into the ``[K, n]`` spectrum.

One stimulus period (``repeats``): when the T frames are R identical periods of ``P = T / R`` frames
(``TagConfig.repeats``), ``rfft(tile(x, R))[R m] = R * rfft(x)[m]`` and every other bin is exactly 0.
A plan with ``repeats = R`` transforms one period and maps bin ``R m`` of the T-frame spectrum to the
period's bin m (same one-sided coefficient) and every other bin to a zero row.

Detection floor (SCIENCE.md section 6): float32 rounding in a network driven by an exactly periodic
stimulus is itself periodic, lands on the same bins as real responses, and passes scale-free tests.
Coefficients whose amplitude is at or below the floor of their series (:func:`detection_floor`) are set to
exactly 0 (DC excepted). The floor is ``detection_limit`` times the series' AC amplitude (``sqrt(2)`` times
its standard deviation over time: the amplitude of a sinusoid with the same AC power; never its DC offset,
which is arbitrary), and never below ``resolution`` times its peak magnitude: float32 cannot resolve AC
content under about one unit of rounding (``1.2e-7``) of the values it is computed from, so a unit whose
whole AC content is that small is silent. The defaults (``1e-4``, ``1e-7``) come from a float64 forward pass
of the trained ResNet-32 (``experiments/detection_limit.py``; ``docs/findings/detection_limit.md`` gives the miss
and false-pass rates).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from ssvepjax import _checks as V

#: Fourier transform methods: ``auto`` (FFT on GPUs, matrix DFT on CPUs), ``fft``, ``matmul``.
METHODS = ("auto", "fft", "matmul")
#: Default detection limit: coefficients at or below this fraction of a series' AC amplitude are 0.
DETECTION_LIMIT = 1e-4
#: Default resolution guard: coefficients at or below this fraction of the series' peak magnitude are 0.
RESOLUTION = 1e-7
_HIGHEST = jax.lax.Precision.HIGHEST


def resolve_method(method: str, platform: str | None = None) -> str:
    """``"fft"`` or ``"matmul"``: ``"auto"`` is the FFT on GPUs and the matmul DFT elsewhere."""
    V.check_choice("method", method, METHODS)
    if method != "auto":
        return method
    platform = platform or jax.default_backend()
    return "fft" if platform in ("gpu", "cuda", "rocm") else "matmul"


def check_detection_limit(value, name: str = "detection_limit") -> float:
    """``value`` as a float in [0, 1); ``ValueError`` naming ``name`` otherwise."""
    return V.check_fraction(name, value)


def frequencies(n_frames: int, fps: float) -> np.ndarray:
    """Frequencies in Hz of the ``n_frames // 2 + 1`` rfft bins."""
    V.check_positive("n_frames", n_frames, integer=True)
    V.check_positive("fps", fps)
    return np.arange(n_frames // 2 + 1) * (float(fps) / n_frames)


def one_sided_scale(bins, n_frames: int) -> np.ndarray:
    """One-sided scale of rfft ``bins`` of an ``n_frames`` series: ``1/T`` at DC and Nyquist, else ``2/T``."""
    b = np.asarray(bins)
    return np.where((b == 0) | (2 * b == n_frames), 1.0 / n_frames, 2.0 / n_frames)


def power_weights(n_frames: int) -> np.ndarray:
    """``[T // 2 + 1]`` Parseval weights of one-sided amplitudes: 0 at DC, 1/2 below Nyquist, 1 at Nyquist (even T).

    ``sum_k w_k a_k^2`` over the one-sided amplitudes ``a`` of a series is its AC power (variance about its mean).
    """
    w = np.full(n_frames // 2 + 1, 0.5)
    w[0] = 0.0
    if n_frames % 2 == 0:
        w[-1] = 1.0
    return w


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """How the spectrum of ``n_frames`` samples is computed from ``period = n_frames / repeats`` samples.

    NumPy constants, built once per setting by :func:`make_plan`.

    Attributes:
        n_frames: T, the length of the (repeated) series whose bins are reported.
        period: P, samples actually transformed.
        repeats: R = T / P.
        method: ``"fft"`` or ``"matmul"``.
        t1: the first matmul factor of P (``t1 = 1``: a plain DFT matrix).
        t2: the second matmul factor of P.
        w1: the first matmul stage (None for the FFT).
        w2: the second matmul stage (None for the FFT).
        row_of_bin: ``[K]`` row holding bin k (``zero_row`` for bins off the lattice of R).
        conj_of_bin: ``[K]`` True where that row holds the mirror bin (its conjugate).
        row_scale: ``[R_p]`` one-sided scale of each transformed row.
    """

    n_frames: int
    period: int
    repeats: int
    method: str
    t1: int
    t2: int
    w1: np.ndarray | None
    w2: np.ndarray | None
    row_of_bin: np.ndarray
    conj_of_bin: np.ndarray
    row_scale: np.ndarray

    @property
    def n_bins(self) -> int:
        return self.n_frames // 2 + 1

    @property
    def zero_row(self) -> int | None:
        """The extra all-zero row read by bins off the lattice (None without repeats)."""
        return len(self.row_scale) if self.repeats > 1 else None

    @property
    def n_rows(self) -> int:
        return len(self.row_scale) + (self.repeats > 1)


def _factor_cost(t1: int, t2: int) -> int:
    h1 = t1 // 2 + 1
    return 2 * h1 * t1 * t2 + h1 * (2 * t2) ** 2


def _period_plan(p: int, method: str) -> Plan:
    k = p // 2 + 1
    scale_of_bin = one_sided_scale(np.arange(k), p)
    no_conj = np.zeros(k, bool)
    if method == "fft":
        return Plan(p, p, 1, method, 1, p, None, None, np.arange(k), no_conj, scale_of_bin)
    best = (2 * k * p, 1, p)  # a plain DFT matrix [2K, P]
    for t1 in range(2, p // 2 + 1):
        if p % t1 == 0 and p // t1 >= 2:
            best = min(best, (_factor_cost(t1, p // t1), t1, p // t1))
    _, t1, t2 = best
    if t1 == 1:
        ang = 2 * np.pi * np.outer(np.arange(k), np.arange(p)) / p
        w = np.concatenate([np.cos(ang), -np.sin(ang)])  # rows: re of bins 0..K-1, then im
        return Plan(p, p, 1, method, 1, p, w, None, np.arange(k), no_conj, scale_of_bin)
    # Sample i = t2 * a + b; bin j = j1 + t1 * j2. Stage 1: real DFT of length t1 over a (bins j1 up
    # to t1/2 suffice: the input is real). Stage 2: for each j1, twiddle by exp(-2 pi i j1 b / P)
    # and DFT of length t2 over b, folded into one real [2 t2, 2 t2] matrix per j1.
    h1 = t1 // 2 + 1
    j1, a, b, j2 = np.arange(h1), np.arange(t1), np.arange(t2), np.arange(t2)
    ang1 = 2 * np.pi * np.outer(j1, a) / t1
    w1 = np.stack([np.cos(ang1), -np.sin(ang1)], 1).reshape(2 * h1, t1)
    ang2 = 2 * np.pi * (j1[:, None, None] * b[None, None, :] / p + j2[None, :, None] * b[None, None, :] / t2)
    c, s = np.cos(ang2), -np.sin(ang2)  # [j1, j2, b]
    w2 = np.zeros((h1, 2, t2, 2, t2))  # [j1, out re|im, j2, in re|im, b]
    w2[:, 0, :, 0, :], w2[:, 0, :, 1, :] = c, -s
    w2[:, 1, :, 0, :], w2[:, 1, :, 1, :] = s, c
    w2 = w2.reshape(h1, 2 * t2, 2 * t2)
    # Bin j of a real series: row (j1, j2) directly when j1 <= t1/2, else the conjugate of its mirror
    # P - j at row (t1 - j1, t2 - 1 - j2).
    jj = np.arange(k)
    q1, q2 = jj % t1, jj // t1
    mirror = q1 > t1 // 2
    row_of_bin = np.where(mirror, t1 - q1, q1) * t2 + np.where(mirror, t2 - 1 - q2, q2)
    g1, g2 = np.divmod(np.arange(h1 * t2), t2)
    freq = g1 + t1 * g2
    row_scale = scale_of_bin[np.minimum(freq, p - freq)]
    return Plan(p, p, 1, method, t1, t2, w1, w2, row_of_bin, mirror, row_scale)


@functools.lru_cache(maxsize=64)
def make_plan(n_frames: int, method: str = "matmul", repeats: int = 1) -> Plan:
    """The plan for the ``n_frames``-bin spectrum of ``repeats`` copies of one ``n_frames // repeats`` period.

    Args:
        n_frames: T, the length of the series whose spectrum is reported (>= 2).
        method: ``"fft"``, ``"matmul"`` or ``"auto"`` (module docstring).
        repeats: R, a divisor of T; the transformed series has ``T / R`` samples.
    """
    V.check_positive("n_frames", n_frames, integer=True)
    V.check_positive("repeats", repeats, integer=True)
    if n_frames % repeats or n_frames // repeats < 2:
        raise ValueError(f"repeats={repeats} must divide n_frames={n_frames} and leave periods of >= 2 samples")
    one = _period_plan(n_frames // repeats, resolve_method(method))
    if repeats == 1:
        return one
    k = np.arange(n_frames // 2 + 1)
    on = k % repeats == 0
    m = np.minimum(k // repeats, len(one.row_of_bin) - 1)
    row_of_bin = np.where(on, one.row_of_bin[m], len(one.row_scale))
    return dataclasses.replace(one, n_frames=n_frames, repeats=repeats, row_of_bin=row_of_bin,
                               conj_of_bin=on & one.conj_of_bin[m])


def detection_floor(x: Float[Array, "t n"], detection_limit: float = DETECTION_LIMIT,
                    resolution: float = RESOLUTION) -> Float[Array, " n"]:
    """The amplitude at or below which a coefficient of each series ``x [T, n]`` is rounding: ``[n]``.

    ``max(detection_limit * sqrt(2) * std(x), resolution * max|x|)`` over time (module docstring).
    """
    return floor_of(jnp.std(x, axis=0), jnp.max(jnp.abs(x), axis=0), detection_limit, resolution)


def floor_of(std, peak, detection_limit: float = DETECTION_LIMIT, resolution: float = RESOLUTION):
    """The detection floor from a series' standard deviation and peak magnitude (:func:`detection_floor`)."""
    return jnp.maximum(detection_limit * np.sqrt(2.0) * std, resolution * peak)


def transform(x: Float[Array, "t n"], plan: Plan, detection_limit: float = DETECTION_LIMIT,
              resolution: float = RESOLUTION, *, phase: bool = False):
    """One-sided coefficients of series ``x [P, n]`` (one period) as rows, scaled and floored. Traceable.

    Args:
        x: ``[plan.period, n]`` real series, time first.
        plan: from :func:`make_plan`.
        detection_limit, resolution: coefficients whose amplitude is at or below
            ``detection_floor(x, detection_limit, resolution)`` are 0 (DC excepted); both 0 keep everything.
        phase: return ``(re, im)`` rows instead of amplitude rows.

    Returns:
        Amplitude rows ``[plan.n_rows, n]``, or ``(re, im)`` rows of that shape (module docstring).
    """
    t, n = x.shape
    if t != plan.period:
        raise ValueError(f"x has {t} samples, the plan transforms periods of {plan.period}")
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    dt = x.dtype
    if plan.method == "fft":
        # XLA's FFT transforms the minor axis: transpose in, transpose the coefficients back.
        z = jnp.fft.rfft(x.T, axis=-1).T
        re, im = z.real, z.imag
    elif plan.t1 == 1:
        z = jnp.dot(jnp.asarray(plan.w1, dt), x, precision=_HIGHEST)
        re, im = z[: t // 2 + 1], z[t // 2 + 1:]
    else:
        h1, t2 = plan.w2.shape[0], plan.t2
        y = jnp.dot(jnp.asarray(plan.w1, dt), x.reshape(plan.t1, t2 * n), precision=_HIGHEST)
        z = jnp.einsum("kij,kjn->kin", jnp.asarray(plan.w2, dt), y.reshape(h1, 2 * t2, n),
                       precision=_HIGHEST).reshape(h1, 2, t2, n)
        re, im = z[:, 0].reshape(h1 * t2, n), z[:, 1].reshape(h1 * t2, n)
    scale = jnp.asarray(plan.row_scale[:, None], dt)
    re, im = re * scale, im * scale
    amp = jnp.sqrt(jnp.square(re) + jnp.square(im))
    if detection_limit or resolution:
        keep = amp > detection_floor(x, detection_limit, resolution)
        keep = keep.at[0].set(True)  # row 0 is DC in every plan
        re, im, amp = (jnp.where(keep, v, 0.0) for v in (re, im, amp))
    if plan.repeats > 1:  # the row read by every bin off the lattice of the repeated series
        zero = jnp.zeros((1, n), dt)
        re, im, amp = (jnp.concatenate([v, zero]) for v in (re, im, amp))
    return (re, im) if phase else amp


@dataclasses.dataclass(frozen=True, eq=False)
class BlockPlan:
    """Coefficients at chosen bins of an ``n_frames``-sample series, accumulated block by block of frames.

    The series is never stored: each block of ``block`` frames adds its share of every coefficient
    (``sum_t x_t e^{-2 pi i k t / F}``, scaled one-sided) to an accumulator of ``[m, n]``, together with the sums
    that give the series' standard deviation and peak for the detection floor. Memory is one block of frames
    plus ``m`` bins per unit, whatever the length of the series.

    Attributes:
        n_frames: F, samples of the series.
        bins: ``[m]`` bins of the F-sample spectrum.
        block: frames per block (the last block may be shorter).
        cos, sin: ``[m, F]`` one-sided-scaled DFT bases (``re = cos @ x``, ``im = sin @ x``).
    """

    n_frames: int
    bins: np.ndarray
    block: int
    cos: np.ndarray
    sin: np.ndarray

    @property
    def n_blocks(self) -> int:
        return -(-self.n_frames // self.block)


@functools.lru_cache(maxsize=32)
def make_block_plan(n_frames: int, bins: tuple[int, ...], block: int) -> BlockPlan:
    """The :class:`BlockPlan` of ``bins`` (a tuple of ints in ``[0, n_frames // 2]``) in blocks of ``block`` frames."""
    V.check_positive("block", block, integer=True)
    b = np.asarray(static_bins(bins, n_frames))
    ang = 2 * np.pi * np.outer(b, np.arange(n_frames)) / n_frames
    scale = one_sided_scale(b, n_frames)[:, None]
    return BlockPlan(n_frames, b, int(block), np.cos(ang) * scale, -np.sin(ang) * scale)


def block_init(plan: BlockPlan, n: int, dtype=jnp.float32) -> dict[str, Array]:
    """The zero accumulator of ``n`` series: ``{"re", "im": [m, n], "shift", "sum", "sumsq", "peak": [n]}``."""
    m = len(plan.bins)
    zero = jnp.zeros((n,), dtype)
    return {"re": jnp.zeros((m, n), dtype), "im": jnp.zeros((m, n), dtype), "shift": zero, "sum": zero,
            "sumsq": zero, "peak": zero}


def block_update(state: dict, x: Float[Array, "b n"], start, plan: BlockPlan) -> dict:
    """Add frames ``start .. start + b`` (``x [b, n]``) to the accumulator. Traceable (``start`` may be traced)."""
    b, dt = x.shape[0], state["re"].dtype
    x = x.astype(dt)
    cos = jax.lax.dynamic_slice_in_dim(jnp.asarray(plan.cos, dt), start, b, axis=1)
    sin = jax.lax.dynamic_slice_in_dim(jnp.asarray(plan.sin, dt), start, b, axis=1)
    # The standard deviation from sums about a shift (the first frame): no cancellation against a large DC.
    shift = jnp.where(start == 0, x[0], state["shift"])
    d = x - shift
    return {"re": state["re"] + jnp.dot(cos, x, precision=_HIGHEST),
            "im": state["im"] + jnp.dot(sin, x, precision=_HIGHEST), "shift": shift,
            "sum": state["sum"] + jnp.sum(d, axis=0), "sumsq": state["sumsq"] + jnp.sum(jnp.square(d), axis=0),
            "peak": jnp.maximum(state["peak"], jnp.max(jnp.abs(x), axis=0))}


def block_finish(state: dict, plan: BlockPlan, detection_limit: float = DETECTION_LIMIT,
                 resolution: float = RESOLUTION, *, phase: bool = False):
    """Amplitudes ``[m, n]`` (or ``(re, im)``) at ``plan.bins`` with the detection floor of :func:`transform`."""
    f = plan.n_frames
    mean = state["sum"] / f
    std = jnp.sqrt(jnp.maximum(state["sumsq"] / f - jnp.square(mean), 0.0))
    re, im = state["re"], state["im"]
    amp = jnp.sqrt(jnp.square(re) + jnp.square(im))
    if detection_limit or resolution:
        keep = (amp > floor_of(std, state["peak"], detection_limit, resolution)[None]) | (plan.bins == 0)[:, None]
        re, im, amp = (jnp.where(keep, v, 0.0) for v in (re, im, amp))
    return (re, im) if phase else amp


def bins_of_rows(rows: Array, plan: Plan, bins=None, *, imaginary: bool = False) -> Array:
    """The spectrum ``[len(bins), ...]`` (default all ``plan.n_bins``) from rows ``[R, ...]``.

    For the imaginary rows of :func:`transform` pass ``imaginary=True``: mirrored bins flip sign.
    """
    b = np.arange(plan.n_bins) if bins is None else np.asarray(bins).reshape(-1)
    out = rows[plan.row_of_bin[b]]
    if imaginary and plan.conj_of_bin[b].any():
        sign = np.where(plan.conj_of_bin[b], -1.0, 1.0).reshape((-1,) + (1,) * (rows.ndim - 1))
        out = out * jnp.asarray(sign, out.dtype)
    return out


def _as_series(x, axis: int):
    """``x`` with ``axis`` first and the rest flattened: ``([T, n], shape of the rest)``."""
    x = jnp.moveaxis(jnp.asarray(x), axis, 0)
    return x.reshape(x.shape[0], -1), x.shape[1:]


def _check_series(x, axis: int) -> int:
    if isinstance(x, dict):
        raise ValueError(f"x must be an array of time series, got a dict with keys {sorted(x)[:4]}...: take the "
                         f"spectrum of one entry (e.g. x[{next(iter(x), 'layer')!r}])")
    if np.ndim(x) < 1:
        raise ValueError(f"x must have a time axis, got a scalar of shape {np.shape(x)}")
    axis = V.check_axis("axis", axis, np.ndim(x))
    if jnp.iscomplexobj(x):
        raise ValueError("x must be a real time series, got a complex array")
    if np.shape(x)[axis] < 2:
        raise ValueError(f"x needs at least 2 samples along axis {axis}, got {np.shape(x)[axis]}")
    V.check_finite("x", x)
    return axis


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _amplitude(x, axis, repeats, method, floor):
    series, rest = _as_series(x, axis)
    plan = make_plan(series.shape[0] * repeats, method, repeats)
    amp = bins_of_rows(transform(series, plan, *floor), plan)
    return jnp.moveaxis(amp.reshape(plan.n_bins, *rest), 0, axis)


def amplitude_spectrum(
    x: Float[ArrayLike, "..."], fps: float, axis: int = 0, *, repeats: int = 1, method: str = "fft",
    detection_limit: float = DETECTION_LIMIT, resolution: float = RESOLUTION,
) -> tuple[np.ndarray, Float[Array, "..."]]:
    """One-sided amplitude spectrum of real series along ``axis``.

    Args:
        x: real time series; ``axis`` is time (P samples at ``fps`` Hz).
        fps: sampling rate in Hz (frames per second).
        axis: the time axis.
        repeats: R >= 1: ``x`` is one period of a series of ``R * P`` samples whose spectrum is wanted.
        method: ``"fft"`` (default), ``"matmul"`` or ``"auto"`` (same numbers).
        detection_limit, resolution: amplitudes at or below the floor of their series
            (``detection_floor``) are set to 0, DC excepted; both 0 keep everything.

    Returns:
        ``(freqs_hz, amplitude)``: ``freqs_hz`` is ``[R P // 2 + 1]`` (NumPy, Hz); ``amplitude`` has
        ``x``'s shape with ``axis`` of length ``R P // 2 + 1``, in the units of ``x`` (a sinusoid of
        amplitude a on a bin gives a).
    """
    V.check_positive("fps", fps)
    V.check_positive("repeats", repeats, integer=True)
    axis = _check_series(x, axis)
    floor = (check_detection_limit(detection_limit), check_detection_limit(resolution, "resolution"))
    n = np.shape(x)[axis] * repeats
    return frequencies(n, fps), _amplitude(jnp.asarray(x), axis, int(repeats), resolve_method(method), floor)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _coefficients(x, bins, axis, repeats, floor):
    series, rest = _as_series(x, axis)
    plan = make_plan(series.shape[0] * repeats, "fft", repeats)
    re, im = transform(series, plan, *floor, phase=True)
    coef = bins_of_rows(re, plan, bins) + 1j * bins_of_rows(im, plan, bins, imaginary=True)
    return jnp.moveaxis(coef.reshape(len(bins), *rest), 0, axis)


def fourier_coefficients(
    x: Float[ArrayLike, "..."], bins, axis: int = 0, *, repeats: int = 1, detection_limit: float = DETECTION_LIMIT,
    resolution: float = RESOLUTION,
) -> Complex[Array, "..."]:
    """Complex one-sided coefficients of real series at ``bins``: ``|coef|`` is the amplitude spectrum.

    A cosine ``a * cos(2*pi*k*i/T + phi)`` on bin k gives ``a * exp(1j*phi)``. Coefficients whose
    amplitude is at or below the detection floor are 0 (as in :func:`amplitude_spectrum`).

    Args:
        x: real time series; ``axis`` is time (P samples).
        bins: static sequence of rfft bins of the ``R * P``-sample series, each in ``[0, R P // 2]``.
        axis: the time axis.
        repeats: R (see :func:`amplitude_spectrum`).
        detection_limit, resolution: as in :func:`amplitude_spectrum`.

    Returns:
        Complex array shaped like ``x`` with ``axis`` of length ``len(bins)``.
    """
    axis = _check_series(x, axis)
    V.check_positive("repeats", repeats, integer=True)
    n = np.shape(x)[axis] * repeats
    target = static_bins(bins, n)
    floor = (check_detection_limit(detection_limit), check_detection_limit(resolution, "resolution"))
    return _coefficients(jnp.asarray(x), target, axis, int(repeats), floor)


def static_bins(bins, n_frames: int) -> tuple[int, ...]:
    """``bins`` as a tuple of ints in ``[0, n_frames // 2]``; ``ValueError`` otherwise."""
    arr = np.asarray(bins).reshape(-1)
    if arr.size == 0:
        raise ValueError("bins must name at least one rfft bin, got an empty sequence")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"bins must be integers (static rfft bin indices), got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() > n_frames // 2:
        raise ValueError(f"bins must lie in [0, {n_frames // 2}] for a series of {n_frames} samples, "
                         f"got {arr.tolist()}")
    return tuple(int(b) for b in arr)


def repeated_spectrum(
    amplitude: Float[ArrayLike, "..."], period: int, repeats: int, axis: int = 0
) -> Float[Array, "..."]:
    """Amplitude spectrum of a series repeated ``repeats`` times, from the spectrum of one period.

    If ``x`` has P samples and ``y = tile(x, R)`` has ``T = R * P``, then ``rfft(y)[R * m] =
    R * rfft(x)[m]`` and every other bin of ``y`` is exactly 0; with the one-sided scaling the
    amplitudes at bins ``R * m`` equal those of ``x`` at m.

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
    plan = make_plan(period * repeats, "fft", repeats)
    a, rest = _as_series(amplitude, axis)
    if plan.zero_row is not None:
        a = jnp.concatenate([a, jnp.zeros((1, a.shape[1]), a.dtype)])
    out = bins_of_rows(a, plan)
    return jnp.moveaxis(out.reshape(plan.n_bins, *rest), 0, axis)


__all__ = ["DETECTION_LIMIT", "METHODS", "RESOLUTION", "BlockPlan", "Plan", "amplitude_spectrum", "bins_of_rows",
           "block_finish", "block_init", "block_update", "detection_floor", "floor_of", "make_block_plan",
           "fourier_coefficients", "frequencies", "make_plan", "one_sided_scale", "power_weights", "repeated_spectrum",
           "resolve_method", "static_bins", "transform"]
