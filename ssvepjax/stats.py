"""Statistics across images (trials) on complex Fourier coefficients.

SCIENCE.md section 4: with N images (trials), a unit's response at a bin is tested on its complex
Fourier coefficients ``z_i``, one per image. Under the null hypothesis the coefficients are noise
around zero; a response phase-locked to the tag pulls their mean away from zero.

- :func:`fourier_coefficients`: ``z`` at chosen bins, scaled like the amplitude spectrum, so
  ``|z| == A_k``; a cosine ``a * cos(2*pi*k*i/T + phi)`` gives ``z = a * exp(1j*phi)``.
- :func:`hotelling_t2`: one-sample Hotelling's T-squared on the 2-D vectors ``(Re z, Im z)``, with
  the full 2x2 sample covariance: valid for any bivariate normal noise.
- :func:`circular_t2`: Victor & Mast's (1991) circular T-squared, which pools the real and imaginary
  variances into one: more power, but valid only for circular noise (equal variance in Re and Im,
  uncorrelated).
- :func:`fdr_bh`: Benjamini-Hochberg false discovery rate over many units and components.
- :func:`coefficient_moments`, :func:`merge_moments`, :func:`hotelling_from_moments`,
  :func:`circular_from_moments`: the same tests from sufficient statistics merged chunk by chunk,
  for datasets whose coefficients do not fit in memory (``trials.stream_tests``).

Statistics run over the image axis and elementwise over every other axis (units, components); they
run under ``jax.jit`` and ``jax.vmap``. p-values come from the F distribution's survival function,
written with ``jax.scipy.special.betainc``. Where the spread of the coefficients is degenerate
(zero, or confined to a line for Hotelling's test) the statistic is undefined and every output is NaN.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc
from jaxtyping import Array, ArrayLike, Bool, Complex, Float

from ssvepjax import _validate as V


def fourier_coefficients(x: Float[ArrayLike, "..."], bins, axis: int = 0) -> Complex[Array, "..."]:
    """Complex rfft coefficients of real series at ``bins``, scaled like the amplitude spectrum.

    The scale is ``2 / T`` for ``0 < k < T/2`` and ``1 / T`` at DC and at the Nyquist bin (even T),
    so ``|coef|`` equals ``spectral.amplitude_spectrum`` at the same bins and a cosine
    ``a * cos(2*pi*k*i/T + phi)`` on bin k gives ``a * exp(1j*phi)``. Rectangular window, no padding.

    Args:
        x: real time series; ``axis`` is time (T samples).
        bins: static sequence of rfft bins, each in ``[0, T // 2]``.
        axis: the time axis.

    Returns:
        Complex array shaped like ``x`` with ``axis`` of length ``len(bins)``.
    """
    if np.ndim(x) < 1:
        raise ValueError(f"x must have a time axis, got a scalar of shape {np.shape(x)}")
    axis = V.check_axis("axis", axis, np.ndim(x))
    if jnp.iscomplexobj(x):
        raise ValueError("x must be a real time series, got a complex array")
    n = np.shape(x)[axis]
    if n < 2:
        raise ValueError(f"x needs at least 2 samples along axis {axis}, got {n}")
    target = _static_bins(bins, n)
    V.check_finite("x", x)
    return _coefficients(jnp.asarray(x), target, axis)


def _static_bins(bins, n: int) -> tuple[int, ...]:
    arr = np.asarray(bins).reshape(-1)
    if arr.size == 0:
        raise ValueError("bins must name at least one rfft bin, got an empty sequence")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"bins must be integers (static rfft bin indices), got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() > n // 2:
        raise ValueError(f"bins must lie in [0, {n // 2}] for a series of {n} samples, got {arr.tolist()}")
    return tuple(int(b) for b in arr)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _coefficients(x, bins, axis):
    n = x.shape[axis]
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    coef = jnp.take(jnp.fft.rfft(x, axis=axis), jnp.asarray(bins), axis=axis)
    b = np.asarray(bins)
    # One-sided scaling: DC and Nyquist have no mirror image to fold in.
    scale = np.where((b == 0) | (2 * b == n), 1.0 / n, 2.0 / n)
    shape = [1] * x.ndim
    shape[axis] = len(bins)
    return coef * jnp.asarray(scale.reshape(shape), x.dtype)


def _check_coefs(coefs, axis: int, min_images: int, statistic: str):
    if np.ndim(coefs) < 1:
        raise ValueError(f"coefs must have an image axis, got a scalar of shape {np.shape(coefs)}")
    axis = V.check_axis("axis", axis, np.ndim(coefs))
    if not jnp.iscomplexobj(coefs):
        raise ValueError(
            f"coefs must be complex Fourier coefficients (e.g. from fourier_coefficients), got dtype "
            f"{jnp.result_type(coefs)}"
        )
    n = np.shape(coefs)[axis]
    if n < min_images:
        raise ValueError(
            f"coefs has {n} image(s) along axis {axis}: fewer images than the statistic needs "
            f"({statistic} needs >= {min_images})"
        )
    V.check_finite("coefs", coefs)
    return jnp.asarray(coefs), axis


def hotelling_t2(
    coefs: Complex[ArrayLike, "n ..."],  # noqa: F722 (a jaxtyping shape, not a forward reference)
    axis: int = 0,
) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """One-sample Hotelling's T-squared test that the mean coefficient across images is zero.

    Each coefficient is the 2-D vector ``v_i = (Re z_i, Im z_i)``. With the mean ``m`` and the sample
    covariance ``S`` (ddof 1) over the N images,

        T2 = N * m^T S^-1 m,    F = (N - 2) / (2 (N - 1)) * T2  ~  F(2, N - 2)

    under the null hypothesis (bivariate normal noise, any covariance). Where ``S`` is singular
    (within rounding: the points lie on a line or coincide) every output is NaN.

    Args:
        coefs: complex coefficients; ``axis`` holds the N >= 3 images, other axes are tested
            elementwise.
        axis: the image axis.

    Returns:
        ``(t2, f_stat, p_value)``, each shaped like ``coefs`` without ``axis``.
    """
    z, axis = _check_coefs(coefs, axis, 3, "Hotelling's T-squared")
    n = z.shape[axis]
    t2, f_stat = _hotelling(z, axis)
    return t2, f_stat, _p_value(f_stat, 2, n - 2)


@functools.partial(jax.jit, static_argnums=1)
def _hotelling(z, axis):
    return _hotelling_moments(_moments(z, axis, None))


def _hotelling_moments(m):
    n = m["n"]
    mx, my = m["mean_re"], m["mean_im"]
    sxx, syy, sxy = m["sxx"] / (n - 1), m["syy"] / (n - 1), m["sxy"] / (n - 1)
    det = sxx * syy - sxy * sxy
    # det is the difference of two products: below a few ulps of them it is rounding, not spread.
    singular = det <= 16 * jnp.finfo(det.dtype).eps * sxx * syy
    safe = jnp.where(singular, 1.0, det)
    t2 = n * (syy * mx * mx - 2 * sxy * mx * my + sxx * my * my) / safe
    t2 = jnp.where(singular, jnp.nan, t2)
    return t2, (n - 2) / (2 * (n - 1)) * t2


def circular_t2(
    coefs: Complex[ArrayLike, "n ..."],  # noqa: F722 (a jaxtyping shape, not a forward reference)
    axis: int = 0,
) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """Victor & Mast's (1991) circular T-squared test that the mean coefficient is zero.

    With the complex mean ``zbar`` of the N images,

        T2circ = (N - 1) |zbar|^2 / sum_i |z_i - zbar|^2,    F = N * T2circ  ~  F(2, 2N - 2)

    under the null hypothesis of circular Gaussian noise (Re and Im independent with one common
    variance ``s^2``): ``N |zbar|^2 / s^2 ~ chi2(2)`` and ``sum |z_i - zbar|^2 / s^2 ~ chi2(2N - 2)``,
    independent, so their ratio over the degrees of freedom is ``N (N - 1) |zbar|^2 / sum|z_i - zbar|^2``.
    Pooling Re and Im gives ``2N - 2`` denominator degrees of freedom (Hotelling: ``N - 2``), hence
    more power at small N; with non-circular noise the test is anti-conservative (use
    :func:`hotelling_t2`). Where every ``z_i`` is equal (within rounding) every output is NaN.

    Args:
        coefs: complex coefficients; ``axis`` holds the N >= 2 images, other axes are tested
            elementwise.
        axis: the image axis.

    Returns:
        ``(t2circ, f_stat, p_value)``, each shaped like ``coefs`` without ``axis``.
    """
    z, axis = _check_coefs(coefs, axis, 2, "the circular T-squared")
    n = z.shape[axis]
    t2, f_stat = _circular(z, axis)
    return t2, f_stat, _p_value(f_stat, 2, 2 * n - 2)


@functools.partial(jax.jit, static_argnums=1)
def _circular(z, axis):
    return _circular_moments(_moments(z, axis, None))


def _circular_moments(m):
    n = m["n"]
    power = jnp.square(m["mean_re"]) + jnp.square(m["mean_im"])
    spread = m["sxx"] + m["syy"]  # sum_i |z_i - zbar|^2
    # Identical coefficients leave deviations of a few ulps of |z| from the rounded mean.
    scale = power + spread / n  # mean |z_i|^2
    eps = jnp.finfo(spread.dtype).eps
    degenerate = spread <= n * jnp.square(4 * eps) * scale
    t2 = jnp.where(degenerate, jnp.nan, (n - 1) * power / jnp.where(degenerate, 1.0, spread))
    return t2, n * t2


# ----------------------------------------------------------------------------------------------
# Streaming: the tests from sufficient statistics, merged chunk by chunk.

MOMENT_KEYS = ("n", "mean_re", "mean_im", "sxx", "syy", "sxy")


def coefficient_moments(
    coefs: Complex[ArrayLike, "n ..."],  # noqa: F722 (a jaxtyping shape, not a forward reference)
    axis: int = 0,
    weights: ArrayLike | None = None,
) -> dict[str, Array]:
    """Sufficient statistics of complex coefficients over the image axis, for streamed tests.

    Both tests depend on the N coefficients only through their count, mean and centred sums of
    squares and products, so a dataset can be tested chunk by chunk: compute the moments of each
    chunk, combine them with :func:`merge_moments`, and test with :func:`hotelling_from_moments` or
    :func:`circular_from_moments`. Memory is that of one chunk, whatever N.

    Args:
        coefs: complex coefficients; ``axis`` holds the images.
        axis: the image axis.
        weights: optional ``[N]`` weights in {0, 1} (0 drops an image, e.g. the padding of a last chunk).

    Returns:
        ``{"n", "mean_re", "mean_im", "sxx", "syy", "sxy"}``: the image count (a scalar), the mean of
        the real and imaginary parts, and the centred sums ``sum (x - mx)^2``, ``sum (y - my)^2``,
        ``sum (x - mx)(y - my)``, each shaped like ``coefs`` without ``axis``.
    """
    z, axis = _check_coefs(coefs, axis, 1, "moments")
    if weights is not None:
        w = np.asarray(weights, np.float32) if V.is_concrete(weights) else weights
        if np.shape(w) != (z.shape[axis],):
            raise ValueError(f"weights must have shape ({z.shape[axis]},), got {np.shape(w)}")
        weights = jnp.asarray(w, jnp.float32)
    return _moments(z, axis, weights)


@functools.partial(jax.jit, static_argnums=1)
def _moments(z, axis, w):
    """Two-pass moments (stable): the mean first, then centred sums."""
    z = jnp.moveaxis(z, axis, 0)
    x, y = z.real, z.imag
    if w is None:
        w = jnp.ones(z.shape[0], x.dtype)
    w = w.reshape((-1,) + (1,) * (z.ndim - 1)).astype(x.dtype)
    n = jnp.sum(w)
    safe = jnp.maximum(n, 1.0)
    mx, my = jnp.sum(w * x, axis=0) / safe, jnp.sum(w * y, axis=0) / safe
    dx, dy = x - mx, y - my
    return {"n": n, "mean_re": mx, "mean_im": my, "sxx": jnp.sum(w * dx * dx, axis=0),
            "syy": jnp.sum(w * dy * dy, axis=0), "sxy": jnp.sum(w * dx * dy, axis=0)}


@jax.jit
def merge_moments(a: dict, b: dict) -> dict:
    """The moments of two disjoint sets of images (Chan, Golub & LeVeque's pairwise update)."""
    n = a["n"] + b["n"]
    frac = jnp.where(n > 0, b["n"] / jnp.maximum(n, 1.0), 0.0)
    cross = jnp.where(n > 0, a["n"] * b["n"] / jnp.maximum(n, 1.0), 0.0)
    dx, dy = b["mean_re"] - a["mean_re"], b["mean_im"] - a["mean_im"]
    return {"n": n, "mean_re": a["mean_re"] + dx * frac, "mean_im": a["mean_im"] + dy * frac,
            "sxx": a["sxx"] + b["sxx"] + dx * dx * cross, "syy": a["syy"] + b["syy"] + dy * dy * cross,
            "sxy": a["sxy"] + b["sxy"] + dx * dy * cross}


def _check_moments(m, min_images: int, statistic: str) -> int:
    if not isinstance(m, dict) or set(m) != set(MOMENT_KEYS):
        raise ValueError(f"moments must be a dict with keys {MOMENT_KEYS} (from coefficient_moments)")
    n = int(round(float(np.asarray(m["n"]))))
    if n < min_images:
        raise ValueError(f"moments hold {n} image(s): fewer images than the statistic needs "
                         f"({statistic} needs >= {min_images})")
    return n


def hotelling_from_moments(m: dict) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """:func:`hotelling_t2` from :func:`coefficient_moments`: ``(t2, f_stat, p_value)``."""
    n = _check_moments(m, 3, "Hotelling's T-squared")
    t2, f_stat = jax.jit(_hotelling_moments)(m)
    return t2, f_stat, _p_value(f_stat, 2, n - 2)


def circular_from_moments(m: dict) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """:func:`circular_t2` from :func:`coefficient_moments`: ``(t2circ, f_stat, p_value)``."""
    n = _check_moments(m, 2, "the circular T-squared")
    t2, f_stat = jax.jit(_circular_moments)(m)
    return t2, f_stat, _p_value(f_stat, 2, 2 * n - 2)


def _f_sf(f: Float[Array, "..."], dfn, dfd) -> Float[Array, "..."]:
    """Survival function ``P(F > f)`` of the F(dfn, dfd) distribution (NaN stays NaN)."""
    # P(F > f) = I_x(dfd/2, dfn/2) with x = dfd / (dfd + dfn f): the regularised incomplete beta.
    f = jnp.maximum(f, 0.0)
    x = dfd / (dfd + dfn * f)
    return betainc(dfd / 2.0, dfn / 2.0, x)


_f_sf_jit = jax.jit(_f_sf)


def _p_value(f_stat: Float[Array, "..."], dfn: int, dfd: int) -> Float[Array, "..."]:
    """``P(F(dfn, dfd) > f_stat)``, elementwise."""
    if not V.is_concrete(f_stat):
        return _f_sf_jit(f_stat, *(jnp.asarray(d, f_stat.dtype) for d in (dfn, dfd)))
    # betainc takes ~0.7 s to compile for each new shape: outside jit, run every call through one
    # flat kernel per power-of-two size, with the degrees of freedom traced, so layers of different
    # sizes and image counts reuse a handful of compilations.
    flat = f_stat.reshape(-1)
    size = max(8, 1 << max(flat.size - 1, 0).bit_length())
    padded = jnp.pad(flat, (0, size - flat.size))
    df = [jnp.asarray(d, flat.dtype) for d in (dfn, dfd)]
    return _f_sf_jit(padded, *df)[: flat.size].reshape(f_stat.shape)


def fdr_bh(
    p_values: Float[ArrayLike, "..."], alpha: float = 0.05, axis: int | None = None
) -> tuple[Bool[Array, "..."], Float[Array, "..."]]:
    """Benjamini-Hochberg false discovery rate control.

    The q-value of the i-th smallest of m p-values is ``min_{j >= i} min(1, m * p_(j) / j)``; a test
    is rejected where ``q <= alpha``, which is the Benjamini-Hochberg step-up procedure. NaN p-values
    (e.g. degenerate tests) are not tests: they are left out of m, get q = NaN and are never rejected
    (R's ``p.adjust`` does the same).

    Args:
        p_values: p-values in [0, 1] or NaN.
        alpha: false discovery rate, in (0, 1).
        axis: None controls the rate over all elements together; an int, separately along that axis
            (e.g. per layer).

    Returns:
        ``(reject, q_values)``, both shaped like ``p_values``.
    """
    if axis is not None:
        axis = V.check_axis("axis", axis, np.ndim(p_values))
    if jnp.iscomplexobj(p_values):
        raise ValueError("p_values must be real, got a complex array")
    if V.is_concrete(p_values):
        arr = np.asarray(p_values, dtype=np.float64)
        bad = ~np.isnan(arr) & ~((arr >= 0) & (arr <= 1))
        if np.any(bad):
            raise ValueError(
                f"p_values holds {int(bad.sum())} value(s) outside [0, 1] (NaN is allowed), "
                f"e.g. {arr[bad].reshape(-1)[0]!r}"
            )
    if V.is_concrete(alpha):
        a = float(alpha)
        if not 0.0 < a < 1.0:
            raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    p = jnp.asarray(p_values)
    p = p.astype(jnp.result_type(p.dtype, jnp.float32))
    return _fdr_bh(p, alpha, axis)


@functools.partial(jax.jit, static_argnums=2)
def _fdr_bh(p, alpha, axis):
    shape = p.shape
    q = p.reshape(1, -1) if axis is None else jnp.moveaxis(p, axis, -1)
    nan = jnp.isnan(q)
    m = jnp.sum(~nan, axis=-1, keepdims=True).astype(q.dtype)
    # NaNs sort last as +inf, so the ranks 1..m belong to the real tests.
    filled = jnp.where(nan, jnp.inf, q)
    order = jnp.argsort(filled, axis=-1)
    ranked = jnp.take_along_axis(filled, order, axis=-1)
    rank = jnp.arange(1, q.shape[-1] + 1, dtype=q.dtype)
    adj = jax.lax.cummin(ranked * m / rank, axis=q.ndim - 1, reverse=True)
    adj = jnp.minimum(adj, 1.0)
    out = jnp.take_along_axis(adj, jnp.argsort(order, axis=-1), axis=-1)
    out = jnp.where(nan, jnp.nan, out)
    out = out.reshape(shape) if axis is None else jnp.moveaxis(out, -1, axis)
    return out <= alpha, out
