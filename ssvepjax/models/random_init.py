"""Random variables for a Flax Linen model without compiling its ``init``, and parameter counts.

``model.init`` traces and compiles the whole forward pass, which takes tens of seconds for an
ImageNet-size network on a CPU. Measuring the cost of probing needs weights of the right shapes and
sensible scale, not trained ones: :func:`random_variables` takes the shapes from ``jax.eval_shape``
(tracing only, nothing compiled or allocated) and fills them with NumPy:

- kernels (``kernel``): normal with variance ``2 / fan_in`` (He et al. 2015), ``fan_in`` the product
  of every axis but the last (a conv's ``[kh, kw, c_in]``, a dense layer's inputs), so activations
  keep their scale through ReLU networks;
- biases and batch-norm means: 0; batch-norm and layer-norm scales and variances: 1 (batch norm is
  then the identity in inference mode);
- everything else (position embeddings, class tokens): normal with standard deviation 0.02.

:func:`param_count` (the library's one parameter count) counts the entries of a collection from real
variables, from the shapes of ``jax.eval_shape``, or from a model and one input's shape.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ssvepjax import _checks as V

__all__ = ["random_variables", "param_count"]

EMBEDDING_STD = 0.02


def _fill(path, leaf, rng: np.random.Generator) -> np.ndarray:
    names = [str(getattr(k, "key", getattr(k, "name", k))) for k in path]
    collection, name = names[0], names[-1]
    shape, dtype = tuple(leaf.shape), leaf.dtype
    if collection == "batch_stats":
        value = np.ones(shape) if name == "var" else np.zeros(shape)
    elif name == "kernel":
        fan_in = math.prod(shape[:-1]) or 1
        value = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)
    elif name == "bias":
        value = np.zeros(shape)
    elif name == "scale":
        value = np.ones(shape)
    else:
        value = EMBEDDING_STD * rng.standard_normal(shape)
    return value.astype(dtype)


def random_variables(model, *example_args, seed: int = 0, **init_kwargs) -> PyTree:
    """Variables with the structure of ``model.init(key, *example_args, **init_kwargs)``, randomly filled.

    Args:
        model: a ``flax.linen.Module``.
        *example_args: arguments of the model's ``__call__`` (arrays or ``jax.ShapeDtypeStruct``;
            only their shapes are used), e.g. ``jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)``.
        seed: seed of the NumPy generator that fills the weights (same seed, same variables).
        **init_kwargs: keyword arguments of ``__call__`` (e.g. ``train=False``).

    Returns:
        A dict of collections (``params``, ``batch_stats`` ...) of NumPy arrays, filled as the module
        docstring says; usable wherever the result of ``model.init`` is.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    shapes = jax.eval_shape(lambda *a: model.init(jax.random.key(0), *a, **init_kwargs), *example_args)
    rng = np.random.default_rng(int(seed))
    return jax.tree_util.tree_map_with_path(lambda p, x: _fill(p, x, rng), shapes)


def param_count(variables, input_shape=None, *, collection: str | None = "params") -> int:
    """Number of entries in ``variables[collection]`` (every collection if None).

    Args:
        variables: a model's variables: arrays, or the ``jax.ShapeDtypeStruct`` leaves of
            ``jax.eval_shape(model.init, ...)``. With ``input_shape``: a Linen model, whose variables' shapes
            come from an abstract ``init`` on one input ``[1, *input_shape]`` (nothing is computed).
        input_shape: ``(H, W, C)`` of one input when ``variables`` is a model; None otherwise.
        collection: the collection to count (``"params"``: the parameters; batch-norm running statistics
            are the ``"batch_stats"`` state); None counts every collection.

    Returns:
        The number of scalar entries.
    """
    if input_shape is not None:
        shape = V.check_input_shape(input_shape)
        model = variables
        variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, *shape))))
    if collection is not None:
        if collection not in variables:
            raise ValueError(f"collection must be one of {sorted(variables)} or None, got {collection!r}")
        variables = variables[collection]
    return int(sum(math.prod(np.shape(x)) for x in jax.tree.leaves(variables)))
