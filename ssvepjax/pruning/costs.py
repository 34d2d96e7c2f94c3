"""What a network costs: parameters, FLOPs and measured forward time.

Conventions (those of the filter-pruning papers the results are compared with: Li et al. 2017 count
1.25e8 FLOPs for ResNet-56 on CIFAR-10, HRank the same):

- ``flops`` counts multiply-accumulates (one MAC = one "FLOP" in those papers) of every convolution
  (``H_out * W_out * kh * kw * c_in / groups * c_out``) and every matrix product (a dense layer's
  ``d_in * d_out`` per token, and attention's query-key and weight-value products), for one example,
  read from the program. Batch norm, nonlinearities, residual additions, padding and pooling are left
  out; so are bias additions. Multiply by 2 for floating-point operations in the strict sense.
- parameters are ``models.param_count``: the entries of the ``params`` collection (conv kernels, batch-norm
  scale and bias, the classifier); batch-norm running statistics are state, not parameters.
- ``forward_time`` is the median wall time of a jitted forward pass on this machine, after one
  warm-up call (compilation excluded).
"""

from __future__ import annotations

import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax import _checks as V
from ssvepjax.models.random_init import param_count
from ssvepjax.pruning.dependency import program_costs

__all__ = ["compare_forward_times", "cost_report", "flops", "forward_time"]


def flops(model, input_shape) -> int:
    """Multiply-accumulates of one forward pass of one example ``(H, W, C)`` through ``model``.

    Read from the model's program (``dependency.program_macs``): every convolution and every matrix
    product, so a transformer's attention products count as well as its dense layers; the shapes come
    from an abstract trace (nothing is computed). Works for any Linen or NNX model, or a
    :class:`~ssvepjax.pruning.dependency.PrunedModel` with its variables given as ``(model, variables)``.
    ValueError if the program has neither a convolution nor a matrix product.
    """
    shape = V.check_input_shape(input_shape)
    if isinstance(model, tuple):
        m, v = model
        total = program_costs(lambda v, x: m.apply(v, x), shape, v)["macs"]
    else:
        total = program_costs(model, shape, train=False)["macs"] if _takes_train(model) else \
            program_costs(model, shape)["macs"]
    if total == 0:
        raise ValueError("model has no convolution or matrix product (no nn.Conv or nn.Dense layer) to count")
    return int(total)


def _takes_train(model) -> bool:
    import inspect

    try:
        return "train" in inspect.signature(type(model).__call__).parameters
    except (TypeError, ValueError):
        return False


def forward_time(model: nn.Module, variables: dict, input_shape, *, batch_size: int = 256, repeats: int = 5) -> float:
    """Median seconds of one jitted forward pass (``train=False``) of ``batch_size`` examples.

    Args:
        model: a Linen model taking ``[N, H, W, C]`` and ``train``.
        variables: its variables.
        input_shape: ``(H, W, C)``.
        batch_size: examples per pass.
        repeats: timed passes after one warm-up pass.

    Returns:
        Median wall time in seconds (compilation excluded).
    """
    shape = V.check_input_shape(input_shape)
    for name, val in (("batch_size", batch_size), ("repeats", repeats)):
        if not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
    f = jax.jit(lambda v, x: model.apply(v, x, train=False))
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(batch_size, *shape)), jnp.float32)
    f(variables, x).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(variables, x).block_until_ready()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def compare_forward_times(pairs, input_shape, *, batch_size: int = 256, repeats: int = 7) -> list[float]:
    """Median forward seconds of several ``(model, variables)``, timed in turns so shared-machine load hits all alike.

    Args:
        pairs: ``[(model, variables), ...]``.
        input_shape: ``(H, W, C)``.
        batch_size: examples per pass.
        repeats: timed rounds; each round runs every model once, after one warm-up pass each.

    Returns:
        One median time in seconds per pair.
    """
    shape = V.check_input_shape(input_shape)
    for name, val in (("batch_size", batch_size), ("repeats", repeats)):
        if not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
    x = jnp.asarray(np.random.default_rng(0).uniform(size=(batch_size, *shape)), jnp.float32)
    fns = [jax.jit(lambda v, x, m=m: m.apply(v, x, train=False)) for m, _ in pairs]
    for f, (_, v) in zip(fns, pairs):
        f(v, x).block_until_ready()
    times = [[] for _ in pairs]
    for _ in range(repeats):
        for i, (f, (_, v)) in enumerate(zip(fns, pairs)):
            t0 = time.perf_counter()
            f(v, x).block_until_ready()
            times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def cost_report(model: nn.Module, input_shape, variables: dict | None = None, **time_kwargs) -> dict:
    """``{"params", "flops"}`` of ``model``, and ``"forward_s"`` (:func:`forward_time`) given ``variables``."""
    out = {"params": param_count(model, input_shape), "flops": flops(model, input_shape)}
    if variables is not None:
        out["forward_s"] = forward_time(model, variables, input_shape, **time_kwargs)
    return out
