"""Benjamini-Hochberg false discovery rate control over many units and components."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ssvepjax import _checks as V


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


__all__ = ["fdr_bh"]
