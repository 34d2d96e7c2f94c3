"""Baseline filter-importance scores that a tag-based score must beat.

Data-free (from the variables alone):

- :func:`random_scores`: uniform random, from an explicit seed.
- :func:`l1_scores`: L1 norm of each filter's kernel (Li et al. 2017, "Pruning filters for efficient
  ConvNets").
- :func:`bn_scale_scores`: ``|gamma|`` of the filter's batch norm (Liu et al. 2017, network slimming;
  there ``gamma`` is trained with an L1 penalty, here it is read from the trained network as is).

Data-dependent, as :class:`Reduction` factories for the one image loop (``reduce_dataset``): a
batch is ``{"image": [b, H, W, C], "label": [b]}``; the model runs in inference mode
(``train=False``), so examples do not interact and every statistic is a mean over examples:

- :func:`mean_activation_reduction`: mean over examples and positions of the filter's activation
  after the nonlinearity (``post``; Torch-Pruning's ActivationImportance takes the mean magnitude,
  the same for ReLU outputs).
- :func:`taylor_reduction`: first-order Taylor (Molchanov et al. 2019): the squared change of the
  loss, to first order, when the filter's output after batch norm is switched off,
  ``(gamma * dL/dgamma + beta * dL/dbeta)^2`` (equal to the squared gate gradient of a gate after
  batch norm), per example with the per-example cross-entropy, averaged over examples. The paper
  averages the square of minibatch sums instead; per example keeps the score independent of how
  the loop chunks the data.
- :func:`hrank_reduction`: mean rank of the filter's ``[h, w]`` feature map after the nonlinearity
  (Lin et al. 2020, HRank), with NumPy's default rank tolerance.

Layer names are the paths of the modules that hold a ``conv`` kernel (``stem``,
``stage1_block0/conv1``, ...), the names of the ``pre``/``post`` sows without their suffix.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssvepjax.recording.adapters import flatten_intermediates
from ssvepjax.streaming.reductions import Reduction

__all__ = [
    "bn_affine", "bn_scale_scores", "combine", "conv_layers", "hrank_reduction", "l1_scores",
    "mean_activation_reduction", "random_scores", "taylor_reduction", "with_bn_affine",
]


def _keys(path) -> list[str]:
    return [str(getattr(p, "key", getattr(p, "idx", p))) for p in path]


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


def random_scores(variables: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Uniform random scores in [0, 1) per filter, from ``seed`` (layers in parameter order share one stream)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    kernels = _leaves(variables, "conv", "kernel")
    return {name: rng.uniform(size=kernels[name].shape[-1]) for name in conv_layers(variables)}


def l1_scores(variables: dict) -> dict[str, np.ndarray]:
    """L1 norm of each filter's kernel ``sum |W[:, :, :, j]|`` (Li et al. 2017), ``{layer: [c_out]}``."""
    kernels = _leaves(variables, "conv", "kernel")
    return {name: np.abs(np.asarray(kernels[name], np.float64)).sum((0, 1, 2)) for name in conv_layers(variables)}


def bn_scale_scores(variables: dict) -> dict[str, np.ndarray]:
    """``|gamma|`` of each filter's batch norm (Liu et al. 2017), ``{layer: [c]}``; ValueError without batch norm."""
    scales = _leaves(variables, "bn", "scale")
    missing = [n for n in conv_layers(variables) if n not in scales]
    if missing:
        raise ValueError(f"bn_scale needs a batch norm (params/<layer>/bn/scale) after every conv; missing for "
                         f"{missing}")
    return {name: np.abs(np.asarray(scales[name], np.float64)) for name in conv_layers(variables)}


def _activations(model, variables: dict, x: jax.Array, site: str) -> dict[str, jax.Array]:
    """``{layer: [b, ..., c]}`` sown ``site`` values of a batch (inference mode)."""
    _, state = model.apply(variables, x, train=False, capture_intermediates=False, mutable=["intermediates"])
    acts = flatten_intermediates(state["intermediates"], squeeze_batch=False)
    return {name: acts[f"{name}/{site}"] for name in conv_layers(variables) if f"{name}/{site}" in acts}


def _check_site(site: str) -> None:
    if site not in ("pre", "post"):
        raise ValueError(f"site must be 'pre' or 'post', got {site!r}")


def _mean_reduction(per_example: Callable, layers_of: Callable) -> Reduction:
    """A reduction of ``per_example(batch) -> {layer: [b, c]}``, averaged over examples with weights."""

    def init(example):
        shapes = layers_of(example)
        return {"sum": {k: jnp.zeros(s.shape[-1:], jnp.float32) for k, s in shapes.items()},
                "count": jnp.zeros((), jnp.float32)}

    def update(state, batch, weights):
        stats = per_example(batch)
        return {"sum": {k: state["sum"][k] + jnp.einsum("b,bc->c", weights, stats[k]) for k in state["sum"]},
                "count": state["count"] + weights.sum()}

    def merge(a, b):
        return jax.tree.map(jnp.add, a, b)

    def finalize(state):
        n = float(state["count"])
        if n <= 0:
            raise ValueError("the reduction saw no example with weight 1")
        return {k: np.asarray(v, np.float64) / n for k, v in state["sum"].items()}

    return Reduction(init, update, merge, finalize)


def _shapes_of(model, variables, site):
    def layers_of(example):
        img = example["image"]
        return jax.eval_shape(lambda x: _activations(model, variables, x, site),
                              jax.ShapeDtypeStruct((1, *img.shape), img.dtype))
    return layers_of


def mean_activation_reduction(model, variables: dict, *, site: str = "post") -> Reduction:
    """Mean over examples and positions of ``|activation|`` at ``site`` (``"post"`` or ``"pre"``), ``{layer: [c]}``."""
    _check_site(site)
    conv_layers(variables)

    def per_example(batch):
        acts = _activations(model, variables, batch["image"], site)
        return {k: jnp.abs(a).reshape(a.shape[0], -1, a.shape[-1]).mean(1) for k, a in acts.items()}

    return _mean_reduction(per_example, _shapes_of(model, variables, site))


def hrank_reduction(model, variables: dict, *, site: str = "post") -> Reduction:
    """Mean rank of every filter's ``[h, w]`` feature map at ``site`` (HRank), ``{layer: [c]}``."""
    _check_site(site)
    conv_layers(variables)

    def per_example(batch):
        acts = _activations(model, variables, batch["image"], site)
        out = {}
        for k, a in acts.items():
            if a.ndim != 4:
                raise ValueError(f"hrank needs [b, h, w, c] feature maps, {k} has shape {a.shape}")
            maps = jnp.moveaxis(a, -1, 1).astype(jnp.float32)  # [b, c, h, w]
            out[k] = jnp.linalg.matrix_rank(maps).astype(jnp.float32)
        return out

    return _mean_reduction(per_example, _shapes_of(model, variables, site))


def taylor_reduction(model, variables: dict) -> Reduction:
    """First-order Taylor importance ``(gamma dL/dgamma + beta dL/dbeta)^2`` per example, mean over examples.

    Needs ``batch["label"]`` (int class indices). ``{layer: [c]}``.
    """
    layers = conv_layers(variables)
    bn = bn_affine(variables)

    def with_bn(bn_params):
        return with_bn_affine(variables, bn_params)

    def loss(bn_params, x, y):
        logits = model.apply(with_bn(bn_params), x[None], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[None]).sum()

    grad_one = jax.grad(loss)

    def per_example(batch):
        if "label" not in batch:
            raise ValueError("taylor needs labels: batches must be {'image': [b, H, W, C], 'label': [b]}")
        g = jax.vmap(grad_one, in_axes=(None, 0, 0))(bn, batch["image"], batch["label"])
        return {n: (bn[n][0] * g[n][0] + bn[n][1] * g[n][1]) ** 2 for n in layers}

    def layers_of(example):
        return {n: jax.ShapeDtypeStruct(bn[n][0].shape, jnp.float32) for n in layers}

    return _mean_reduction(per_example, layers_of)


def bn_affine(variables: dict) -> dict[str, tuple[jax.Array, jax.Array]]:
    """``{layer: (scale, bias)}`` of the batch norm after every conv; ValueError where one is missing.

    A gate ``z_c`` on channel c after batch norm is ``(z_c * scale_c, z_c * bias_c)``, so the gradient of
    anything with respect to the gate at ``z = 1`` is ``scale * d/dscale + bias * d/dbias`` (Taylor's score
    and ``decision_scores`` use it).
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


def combine(reductions: dict[str, Reduction]) -> Reduction:
    """One :class:`Reduction` that runs several over the same loop: ``{name: result}``."""
    if not reductions:
        raise ValueError("combine needs at least one reduction")

    def init(example):
        return {k: r.init(example) for k, r in reductions.items()}

    def update(state, batch, weights):
        return {k: r.update(state[k], batch, weights) for k, r in reductions.items()}

    def merge(a, b):
        return {k: r.merge(a[k], b[k]) for k, r in reductions.items()}

    def finalize(state):
        return {k: r.finalize(state[k]) for k, r in reductions.items()}

    return Reduction(init, update, merge, finalize)
