"""Tests across images (trials) on complex Fourier coefficients: Hotelling and circular T-squared.

SCIENCE.md section 4: with N images (trials), a unit's response at a bin is tested on its complex
Fourier coefficients ``z_i``, one per image. Under the null hypothesis the coefficients are noise
around zero; a response phase-locked to the tag pulls their mean away from zero.

Coefficients come from ``spectral.fourier.fourier_coefficients`` (``|z|`` equals the amplitude
spectrum; a cosine ``a * cos(2*pi*k*i/T + phi)`` gives ``z = a * exp(1j*phi)``).

- :func:`hotelling_t2`: one-sample Hotelling's T-squared on the 2-D vectors ``(Re z, Im z)``, with
  the full 2x2 sample covariance: valid for any bivariate normal noise.
- :func:`circular_t2`: Victor & Mast's (1991) circular T-squared, which pools the real and imaginary
  variances into one: more power, but valid only for circular noise (equal variance in Re and Im,
  uncorrelated).
- :func:`coefficient_moments`, :func:`merge_moments`, :func:`hotelling_from_moments`,
  :func:`circular_from_moments`: the same tests from sufficient statistics merged chunk by chunk,
  for datasets whose coefficients do not fit in memory (``analysis.trials.stream_tests``).

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
from jaxtyping import Array, ArrayLike, Complex, Float

from ssvepjax import _checks as V
from ssvepjax.stats.moments import merge_weights, weighted_mean


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
    return _test(coefs, axis, "hotelling")


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

    With the complex mean ``zbar`` of the N images::

        T2circ = (N - 1) |zbar|^2 / sum_i |z_i - zbar|^2,    F = N * T2circ  ~  F(2, 2N - 2)

    under the null hypothesis of circular Gaussian noise (Re and Im independent with one common
    variance ``s^2``): ``N |zbar|^2 / s^2 ~ chi2(2)`` and ``sum |z_i - zbar|^2 / s^2 ~ chi2(2N - 2)``,
    independent, so their ratio over the degrees of freedom is ``N (N - 1) |zbar|^2 / sum|z_i - zbar|^2``.
    Pooling Re and Im gives ``2N - 2`` denominator degrees of freedom (Hotelling: ``N - 2``), hence
    more power at small N; with non-circular noise the test is anti-conservative (use
    :func:`hotelling_t2`). Where every ``z_i`` is equal (within rounding) every output is NaN.
    Takes the same ``coefs`` and ``axis`` as :func:`hotelling_t2`, with N >= 2 images, and returns
    ``(t2circ, f_stat, p_value)`` shaped like ``coefs`` without ``axis``.
    """
    return _test(coefs, axis, "circular")


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

#: Keys of the T-squared tests' streamable moments of complex coefficients.
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
    n, mx = weighted_mean(x, w)
    _, my = weighted_mean(y, w)
    w = w.reshape((-1,) + (1,) * (z.ndim - 1)).astype(x.dtype)
    dx, dy = jnp.where(w > 0, x - mx, 0.0), jnp.where(w > 0, y - my, 0.0)
    return {"n": n, "mean_re": mx, "mean_im": my, "sxx": jnp.sum(w * dx * dx, axis=0),
            "syy": jnp.sum(w * dy * dy, axis=0), "sxy": jnp.sum(w * dx * dy, axis=0)}


@jax.jit
def merge_moments(a: dict, b: dict) -> dict:
    """The moments of two disjoint sets of images (Chan, Golub & LeVeque's pairwise update: ``stats.moments``)."""
    n, frac, cross = merge_weights(a["n"], b["n"])
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
    return _from_moments(m, "hotelling")


def circular_from_moments(m: dict) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """:func:`circular_t2` from :func:`coefficient_moments`: ``(t2circ, f_stat, p_value)``."""
    return _from_moments(m, "circular")


# name: (statistic from moments, least images, name in messages, denominator degrees of freedom of F)
_TESTS = {"hotelling": (_hotelling_moments, 3, "Hotelling's T-squared", lambda n: n - 2),
          "circular": (_circular_moments, 2, "the circular T-squared", lambda n: 2 * n - 2)}


def _statistic(m: dict, test: str, n: int):
    statistic, _, _, dfd = _TESTS[test]
    t2, f_stat = jax.jit(statistic)(m)
    return t2, f_stat, f_survival(f_stat, 2, dfd(n))


def _from_moments(m: dict, test: str):
    _, least, label, _ = _TESTS[test]
    return _statistic(m, test, _check_moments(m, least, label))


def _test(coefs, axis: int, test: str):
    _, least, label, _ = _TESTS[test]
    z, axis = _check_coefs(coefs, axis, least, label)
    return _statistic(_moments(z, axis, None), test, z.shape[axis])


def _f_sf(f: Float[Array, "..."], dfn, dfd) -> Float[Array, "..."]:
    """Survival function ``P(F > f)`` of the F(dfn, dfd) distribution (NaN stays NaN)."""
    # P(F > f) = I_x(dfd/2, dfn/2) with x = dfd / (dfd + dfn f): the regularised incomplete beta.
    f = jnp.maximum(f, 0.0)
    x = dfd / (dfd + dfn * f)
    return betainc(dfd / 2.0, dfn / 2.0, x)


_f_sf_jit = jax.jit(_f_sf)


def f_survival(f_stat: Float[Array, "..."], dfn: int, dfd: int) -> Float[Array, "..."]:
    """``P(F(dfn, dfd) > f_stat)``, elementwise (NaN stays NaN)."""
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


__all__ = ["MOMENT_KEYS", "circular_from_moments", "circular_t2", "coefficient_moments", "f_survival",
           "hotelling_from_moments", "hotelling_t2", "merge_moments"]
