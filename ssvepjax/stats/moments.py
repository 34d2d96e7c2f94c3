"""Count, mean and centred sum of squares of samples, merged chunk by chunk (Chan, Golub & LeVeque).

The across-image tests (``stats.t2``, ``stats.amplitude``) need the variance of a unit's values over N
images that arrive in chunks, on several devices and processes. The textbook ``sum(x^2) - n mean^2``
cancels catastrophically in float32 once the spread is below about 1e-3 of the mean (six identical
samples of 0.3 leave a "variance" of rounding). Two disjoint sets of samples merge exactly as

    n = na + nb,   d = mean_b - mean_a,   mean = mean_a + d nb / n,   M2 = M2a + M2b + d^2 na nb / n

(Chan, Golub & LeVeque 1979), with ``M2 = sum (x - mean)^2``. In float32 a mean rounded to ``eps * mean``
makes ``d`` wrong to first order once the spread is ~1e-4 of the mean, so the mean is held shifted:
``{"n", "shift", "sum", "m2"}`` with ``mean = shift + sum / n`` and ``sum = sum (x - shift)`` small beside
the shift (the shift is a rounded mean, or one sample). ``d`` is then a difference of shifts (exact for
close numbers) plus small residuals. One sample merged into a running state is Welford's update. Every
function runs under ``jax.jit`` and elementwise over any trailing shape; ``n`` is a scalar.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array

#: Keys of shifted moments: count, shift, sum and sum of squares about the shift.
SHIFTED_KEYS = ("n", "shift", "sum", "m2")


def merge_weights(na, nb) -> tuple[Array, Array, Array]:
    """``(n, nb / n, na nb / n)`` of two disjoint sets of ``na`` and ``nb`` samples (0 where ``n`` is 0)."""
    n = na + nb
    safe = jnp.maximum(n, 1.0)
    return n, jnp.where(n > 0, nb / safe, 0.0), jnp.where(n > 0, na * nb / safe, 0.0)


def _column(w, x):
    return w.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)


def weighted_mean(x: Array, w: Array) -> tuple[Array, Array]:
    """``(n, mean)`` over the first axis of ``x`` with weights ``w [N]`` in {0, 1} (mean 0 when n is 0)."""
    w = _column(w, x)
    n = jnp.sum(w)
    # Weight-0 rows may hold NaN (a padded chunk): they are selected away, never multiplied by 0.
    return n, jnp.sum(jnp.where(w > 0, x, 0.0), axis=0) / jnp.maximum(n, 1.0)


def shifted_moments(x: Array, w: Array | None = None) -> dict[str, Array]:
    """``{"n", "shift", "sum", "m2"}`` of ``x`` over its first axis (module docstring), in two passes."""
    if w is None:
        w = jnp.ones(x.shape[0], x.dtype)
    n, shift = weighted_mean(x, w)
    d = jnp.where(_column(w, x) > 0, x - shift, 0.0)
    s = jnp.sum(d, axis=0)  # the rounding of the shift, measured
    m2 = jnp.sum(jnp.square(d), axis=0) - jnp.square(s) / jnp.maximum(n, 1.0)
    return {"n": n, "shift": shift, "sum": s, "m2": jnp.maximum(m2, 0.0)}


def moments_mean(m: dict) -> Array:
    """The mean of :func:`shifted_moments` (0 where ``n`` is 0)."""
    return m["shift"] + m["sum"] / jnp.maximum(m["n"], 1.0)


def merge_shifted(a: dict, b: dict) -> dict:
    """:func:`shifted_moments` of the union of two disjoint sets of samples (module docstring)."""
    n, _, cross = merge_weights(a["n"], b["n"])
    shift = jnp.where(a["n"] > 0, a["shift"], b["shift"])
    da, db = a["shift"] - shift, b["shift"] - shift  # one of them is 0; the other exact for close numbers
    d = (b["shift"] - a["shift"]) + b["sum"] / jnp.maximum(b["n"], 1.0) - a["sum"] / jnp.maximum(a["n"], 1.0)
    return {"n": n, "shift": shift, "sum": a["sum"] + b["sum"] + a["n"] * da + b["n"] * db,
            "m2": a["m2"] + b["m2"] + jnp.where(cross > 0, jnp.square(d) * cross, 0.0)}


def add_sample(state: dict, x: Array, w) -> dict:
    """Welford's update: ``state`` with the sample ``x`` added when ``w > 0`` (unchanged otherwise, NaN included)."""
    w = jnp.asarray(w, state["shift"].dtype)
    x = jnp.where(w > 0, x, state["shift"])
    zero = jnp.zeros_like(state["m2"])
    return merge_shifted(state, {"n": w, "shift": x, "sum": zero, "m2": zero})


__all__ = ["SHIFTED_KEYS", "add_sample", "merge_shifted", "merge_weights", "moments_mean", "shifted_moments",
           "weighted_mean"]
