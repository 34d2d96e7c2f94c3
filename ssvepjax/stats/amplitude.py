"""An amplitude test across images, for responses whose phase varies from image to image.

The T-squared tests (``stats.t2``) ask whether a unit's complex coefficient has the same phase in every
image; a unit whose phase depends on the image content (where a ReLU input crosses zero sets its 2f
phase; the sign of ``w . x`` flips its fundamental) fails them although it responds to every image. This
test uses amplitudes only. For each image i the unit's relative amplitude at a component is
``r_i = A_i / ac_i`` (amplitude over the unit's AC amplitude in that image: ``analysis.effects``), which
does not depend on the recording length for a deterministic network. The null hypothesis is that the
mean of ``r`` over images is at most ``limit``, the detection limit below which a coefficient cannot be
told from float32 rounding (``Design.detection_limit``); the one-sided one-sample t statistic

    t = (mean(r) - limit) / (sd(r) / sqrt(N)),   p = P(T_{N-1} > t)

(Student's t, ``N - 1`` degrees of freedom). A unit with the same ``r`` in every image has ``sd = 0``:
``t`` is ``+inf`` (p = 0) when that value exceeds the limit and ``-inf`` (p = 1) otherwise. ``r`` is
bounded below by 0 and skewed, so p is approximate at small N (the t-test is robust to skew for the
image counts used here, 16 or more). The moments are the count, shifted mean and centred sum of squares of ``r``
(``stats.moments``), merged across chunks, devices and processes with Chan et al.'s update
(:func:`merge_amplitude_moments`), never ``sum(r^2) - N mean^2``, which cancels in float32 when the spread
of ``r`` is small beside its mean. A spread within a few ulps of the mean is rounding: ``sd = 0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc
from jaxtyping import Array, Float

from ssvepjax import _checks as V
from ssvepjax.stats.moments import SHIFTED_KEYS, merge_shifted, moments_mean, shifted_moments

#: Keys of the amplitude test's streamable moments.
MOMENT_KEYS = SHIFTED_KEYS


def amplitude_moments(r: Float[Array, "n ..."], weights=None) -> dict[str, Array]:
    """``{"n", "shift", "sum", "m2"}`` of relative amplitudes ``r`` over the first (image) axis.

    ``weights [n]`` in {0, 1} drop images (0: the padding of a last chunk).

    The mean is ``shift + sum / n`` and ``m2`` the centred sum of squares ``sum (r - mean)^2`` (two passes:
    ``stats.moments``); moments of disjoint sets of images merge with :func:`merge_amplitude_moments`.
    """
    r = jnp.asarray(r)
    if r.ndim < 1:
        raise ValueError(f"r must have an image axis, got a scalar of shape {r.shape}")
    if not jnp.issubdtype(r.dtype, jnp.floating):
        r = r.astype(jnp.float32)
    if weights is None:
        return shifted_moments(r)
    if np.shape(weights) != (r.shape[0],):
        raise ValueError(f"weights must have shape ({r.shape[0]},), got {np.shape(weights)}")
    return shifted_moments(r, jnp.asarray(weights, r.dtype))


@jax.jit
def merge_amplitude_moments(a: dict, b: dict) -> dict:
    """The amplitude moments of two disjoint sets of images (Chan et al.'s update: ``stats.moments``)."""
    return merge_shifted(a, b)


def student_survival(t: Float[Array, "..."], df) -> Float[Array, "..."]:
    """``P(T_df > t)`` of Student's t distribution, elementwise (``t = +-inf`` allowed, NaN stays NaN)."""
    t = jnp.asarray(t)
    df = jnp.asarray(df, t.dtype)
    x = df / (df + jnp.square(jnp.where(jnp.isinf(t), 0.0, t)))
    tail = 0.5 * betainc(df / 2.0, 0.5, jnp.where(jnp.isinf(t), 0.0, x))
    return jnp.where(t >= 0, tail, 1.0 - tail)


@jax.jit
def _t(m, limit):
    n = m["n"]
    mean = moments_mean(m)
    # Identical samples leave centred squares of a few ulps of the mean (its rounding): no spread.
    rounding = n * jnp.square(4 * jnp.finfo(mean.dtype).eps * mean)
    var = jnp.where(m["m2"] <= rounding, 0.0, m["m2"]) / (n - 1)
    se = jnp.sqrt(var / n)
    excess = (m["shift"] - limit) + m["sum"] / n  # the shift first: mean - limit without the mean's rounding
    t = jnp.where(se > 0, excess / jnp.where(se > 0, se, 1.0), jnp.where(excess > 0, jnp.inf, -jnp.inf))
    return mean, t, student_survival(t, n - 1)


def amplitude_test(moments: dict, limit: float) -> tuple[Float[Array, "..."], Float[Array, "..."], Float[Array, "..."]]:
    """The one-sided amplitude test (module docstring) from :func:`amplitude_moments`.

    Args:
        moments: ``{"n", "shift", "sum", "m2"}`` from :func:`amplitude_moments` or :func:`merge_amplitude_moments`
            (``n`` a scalar, the others any shape).
        limit: the null's largest mean relative amplitude, >= 0 (the detection limit).

    Returns:
        ``(mean, t, p_value)``, shaped like ``moments["sum"]``.
    """
    if not isinstance(moments, dict) or set(moments) != set(MOMENT_KEYS):
        raise ValueError(f"moments must be a dict with keys {MOMENT_KEYS} (from amplitude_moments)")
    n = float(np.asarray(moments["n"]))
    if n < 2:
        raise ValueError(f"moments hold {n:g} image(s): the amplitude test needs at least 2")
    if not (np.isfinite(limit) and limit >= 0):
        raise ValueError(f"limit must be a finite number >= 0, got {limit!r}")
    for key in MOMENT_KEYS[1:]:
        V.check_finite(f"moments[{key!r}]", moments[key])
    return _t({k: jnp.asarray(v, jnp.float32) for k, v in moments.items()}, jnp.float32(limit))


__all__ = ["MOMENT_KEYS", "amplitude_moments", "amplitude_test", "merge_amplitude_moments", "student_survival"]
