"""Data-free filter scores, read from the variables alone, and the layers they score.

- :func:`random_scores`: uniform random scores in [0, 1): the top-k of a layer is a uniformly random subset
  of k filters (the baseline every score must beat, SCIENCE.md section 7).
- :func:`l1_scores`: L1 norm of each filter's kernel (Li et al. 2017, "Pruning filters for efficient
  ConvNets", arXiv 1608.08710).
- :func:`bn_scale_scores`: ``|gamma|`` of the filter's batch norm (Liu et al. 2017, network slimming; there
  ``gamma`` is trained with an L1 penalty, here it is read from the trained network as is).

A layer is named by its module path in ``variables["params"]`` (a Linen submodule path such as ``stem`` or
``stage3_block0/conv2``, as ``explain.linen_tap`` and ``recording.linen_fn`` name it). :func:`conv_layers`
finds the layers that hold a ``conv`` kernel (``params/<layer>/conv/kernel``, the convention of
``sj.CifarResNet``): the default set of every score. :func:`bn_affine` and :func:`with_bn_affine` read and
replace the batch norm after each of them, the multiplicative gate that Taylor's score and the decision score
differentiate.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import numpy as np

__all__ = ["bn_affine", "bn_scale_scores", "conv_layers", "l1_scores", "layer_kernel", "layer_sizes",
           "random_scores", "with_bn_affine"]


def _keys(path) -> list[str]:
    return [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]


def _params(variables):
    return variables.get("params", variables) if hasattr(variables, "get") else variables


def _leaves(variables: dict, module: str, leaf: str) -> dict[str, jax.Array]:
    """``{layer: array}`` of every ``params/<layer>/<module>/<leaf>`` (e.g. ``conv``/``kernel``)."""
    out = {}
    for path, x in jax.tree_util.tree_flatten_with_path(variables.get("params", {}))[0]:
        keys = _keys(path)
        if keys[-2:] == [module, leaf]:
            out["/".join(keys[:-2])] = x
    return out


def conv_layers(variables: dict) -> list[str]:
    """Names of the conv layers (modules with a 4-D ``conv/kernel``), in sorted parameter order; ValueError if none."""
    names = [k for k, v in _leaves(variables, "conv", "kernel").items() if np.ndim(v) == 4]
    if not names:
        raise ValueError("the model has no conv layer (no params/<layer>/conv/kernel of rank 4) to score")
    return names


def _subtree(params, layer: str):
    node = params
    for part in layer.partition("#")[0].split("/"):  # "#2": a module's second call shares its parameters
        if not hasattr(node, "keys") or part not in node:
            return None
        node = node[part]
    return node


def layer_kernel(variables, layer: str) -> jax.Array:
    """The one ``kernel`` under ``params/<layer>``: a conv ``[kh, kw, c_in, c_out]`` or dense ``[c_in, c_out]``.

    ValueError if the layer is unknown or holds no kernel or several (a block holds several: name one of its convs).
    """
    sub = _subtree(_params(variables), layer)
    if sub is None:
        raise ValueError(f"unknown layer {layer!r}: no parameters under params/{layer}")
    kernels = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(sub)[0]
               if str(getattr(path[-1], "key", path[-1])) == "kernel"] if hasattr(sub, "keys") else []
    if len(kernels) != 1 or np.ndim(kernels[0]) < 2:
        raise ValueError(f"layer {layer!r} holds {len(kernels)} kernel parameters; a score needs exactly one")
    return kernels[0]


def layer_sizes(variables, layers: Iterable[str] | None = None) -> dict[str, int]:
    """``{layer: c_out}``: the filters of each layer (default :func:`conv_layers`), from its kernel."""
    layers = conv_layers(variables) if layers is None else list(layers)
    return {name: int(np.shape(layer_kernel(variables, name))[-1]) for name in layers}


def random_scores(sizes: dict[str, int], seed, n_images: int | None = None) -> dict[str, np.ndarray]:
    """Uniform random scores in [0, 1) per filter: the top-k of a layer is a uniformly random subset of k filters.

    Two draw procedures, each kept because stored results use it:

    - ``seed`` an integer: NumPy, ``numpy.random.default_rng(seed)``, one stream shared by the layers in the
      order of ``sizes`` (the pruning curves' random baseline: ``sizes`` in parameter order);
    - ``seed`` a ``jax.random`` key: layer ``i`` draws ``jax.random.uniform(jax.random.fold_in(seed, i), shape)``
      (the explanations' random selections).

    Args:
        sizes: ``{layer: c}`` filters per layer (:func:`layer_sizes`).
        seed: an integer or a ``jax.random`` key.
        n_images: None for one draw shared by every image (``[c]``), else one draw per image (``[N, c]``).

    Returns:
        ``{layer: [c]}`` or ``{layer: [N, c]}``.
    """
    if n_images is not None and (isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer))
                                 or n_images < 1):
        raise ValueError(f"n_images must be an integer >= 1 or None, got {n_images!r}")
    is_key = isinstance(seed, jax.Array) and (jax.dtypes.issubdtype(seed.dtype, jax.dtypes.prng_key)
                                              or (seed.dtype == np.uint32 and seed.shape == (2,)))  # a raw key
    if not is_key and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer or a jax.random key, got {seed!r}")
    rng = None if is_key else np.random.default_rng(seed)
    out = {}
    for i, (name, c) in enumerate(sizes.items()):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            raise ValueError(f"sizes[{name!r}] must be an integer >= 1, got {c!r}")
        shape = (int(c),) if n_images is None else (int(n_images), int(c))
        out[name] = np.asarray(jax.random.uniform(jax.random.fold_in(seed, i), shape)) if is_key \
            else rng.uniform(size=shape)
    return out


def l1_scores(variables, layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """L1 norm of each filter's kernel, ``sum |W[..., j]|`` over every axis but the last (Li et al. 2017).

    Args:
        variables: the model's variables.
        layers: layer names, each holding exactly one kernel (:func:`layer_kernel`); default :func:`conv_layers`.

    Returns:
        ``{layer: [c_out]}`` in the kernel's units (float64).
    """
    layers = conv_layers(variables) if layers is None else list(layers)
    out = {}
    for name in layers:
        k = np.asarray(layer_kernel(variables, name), np.float64)
        out[name] = np.abs(k).sum(tuple(range(k.ndim - 1)))
    return out


def bn_scale_scores(variables, layers: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """``|gamma|`` of each filter's batch norm (Liu et al. 2017), ``{layer: [c]}`` (float64).

    Args:
        variables: the model's variables.
        layers: layer names with a batch norm at ``params/<layer>/bn/scale``; default :func:`conv_layers`.
    """
    layers = conv_layers(variables) if layers is None else list(layers)
    scales = _leaves(variables, "bn", "scale")
    missing = [n for n in layers if n not in scales]
    if missing:
        raise ValueError(f"bn_scale needs a batch norm (params/<layer>/bn/scale) after every conv; missing for "
                         f"{missing}")
    return {name: np.abs(np.asarray(scales[name], np.float64)) for name in layers}


def bn_affine(variables: dict) -> dict[str, tuple[jax.Array, jax.Array]]:
    """``{layer: (scale, bias)}`` of the batch norm after every conv; ValueError where one is missing.

    A gate ``z_c`` on channel c after batch norm is ``(z_c * scale_c, z_c * bias_c)``, so the gradient of
    anything with respect to the gate at ``z = 1`` is ``scale * d/dscale + bias * d/dbias`` (Taylor's score
    and the decision score use it).
    """
    layers = conv_layers(variables)
    scales, biases = _leaves(variables, "bn", "scale"), _leaves(variables, "bn", "bias")
    missing = [n for n in layers if n not in scales or n not in biases]
    if missing:
        raise ValueError(f"a gate after batch norm needs a batch norm after every conv; missing for {missing}")
    return {n: (scales[n], biases[n]) for n in layers}


def with_bn_affine(variables: dict, bn_params: dict) -> dict:
    """``variables`` with the batch-norm ``(scale, bias)`` of the layers in ``bn_params`` replaced (traceable)."""
    def visit(path, leaf):
        keys = _keys(path)
        layer = "/".join(keys[1:-2])
        if keys[0] == "params" and keys[-2] == "bn" and layer in bn_params:
            return bn_params[layer][0 if keys[-1] == "scale" else 1]
        return leaf
    return jax.tree_util.tree_map_with_path(visit, variables)
