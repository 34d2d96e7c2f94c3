"""Filter scores from activity over images, as :class:`Reduction` factories of the one image loop.

Every factory here returns a ``streaming.Reduction`` for ``streaming.reduce_dataset``: a batch is
``{"image": [b, H, W, C]}``, with ``"label": [b]`` for Taylor and ``"index": [b]`` (the examples' positions
``0 .. N-1``) for per-image rows. The model runs in inference mode, so examples do not interact and each
score is a statistic per example, then either

- averaged over examples (``n_images=None``): ``{layer: [c]}``, a weighted sum streamed in O(c) memory, or
- kept per example (``n_images=N``): ``{layer: [N, c]}``, one row per image, written at its ``index``.

Scores (SCIENCE.md section 7):

- :func:`mean_activation_reduction`: mean over positions of the filter's ``|activation|`` (Torch-Pruning's
  ActivationImportance; after a ReLU the mean activation itself). Activation units.
- :func:`hrank_reduction`: rank of the filter's ``[h, w]`` feature map (Lin et al. 2020, HRank), with NumPy's
  default rank tolerance. Dimensionless, in ``0 .. min(h, w)``.
- :func:`taylor_reduction`: first-order Taylor (Molchanov et al. 2019): the squared change of the loss, to
  first order, when the filter's output after batch norm is switched off, ``(gamma * dL/dgamma + beta *
  dL/dbeta)^2`` (the squared gate gradient of a gate after batch norm, ``weights.bn_affine``), per example
  with the per-example cross-entropy. The paper averages the square of minibatch sums instead; per example
  keeps the score independent of how the loop chunks the data. Squared loss units.

Activations come from a batch function ``images [b, H, W, C] -> {layer: [b, ..., c]}``:
:func:`sown_activations` (the values a model sows, ``pre`` or ``post`` its nonlinearity, as
``sj.CifarResNet`` does for every conv layer) or :func:`frame_activations` (any per-frame function, e.g.
``sj.linen_fn(..., include=[layer])`` or :func:`layer_output_fn`, vmapped over the batch).
:func:`layer_output_fn` is the per-frame function of what each conv or dense layer writes (any Linen model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ssvepjax import _checks as V
from ssvepjax.recording.adapters import flatten_intermediates, linen_fn
from ssvepjax.scores.weights import bn_affine, conv_layers, with_bn_affine
from ssvepjax.streaming.reductions import Reduction, sum_merge

__all__ = ["SOWN_SITES", "combine", "frame_activations", "hrank_reduction", "layer_output_fn",
           "mean_activation_reduction", "sown_activations", "taylor_reduction"]

#: The sown activations a score can read: before or after the nonlinearity.
SOWN_SITES = ("pre", "post")


def _check_site(site: str) -> None:
    if site not in SOWN_SITES:
        raise ValueError(f"site must be 'pre' or 'post', got {site!r}")


def sown_activations(model, variables: dict, *, site: str = "post", layers: Iterable[str] | None = None) -> Callable:
    """Batch function ``images [b, H, W, C] -> {layer: [b, ..., c]}`` of the values sown at ``<layer>/<site>``.

    Args:
        model: a Linen model whose layers sow ``pre`` / ``post`` into ``intermediates`` (e.g. ``sj.CifarResNet``).
        variables: its variables.
        site: ``"post"`` (after the nonlinearity; for a block's second conv, after the residual addition) or
            ``"pre"``.
        layers: layer names; default :func:`~ssvepjax.scores.weights.conv_layers` (those that sow nothing are
            left out). A named layer that sows nothing is a ValueError.
    """
    _check_site(site)
    named = layers is not None
    layers = list(layers) if named else conv_layers(variables)

    def activations(x):
        _, state = model.apply(variables, x, train=False, capture_intermediates=False, mutable=["intermediates"])
        acts = flatten_intermediates(state["intermediates"], squeeze_batch=False)
        missing = [n for n in layers if f"{n}/{site}" not in acts]
        if named and missing:
            raise ValueError(f"layers {missing} sow no {site!r} value")
        return {name: acts[f"{name}/{site}"] for name in layers if f"{name}/{site}" in acts}

    return activations


def frame_activations(fn: Callable, layers: Iterable[str] | None = None) -> Callable:
    """Batch function ``images [b, H, W, C] -> {layer: [b, ..., c]}`` of a per-frame function, vmapped.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation [..., c]}`` (``sj.linen_fn`` / ``sj.nnx_fn``).
        layers: the outputs to keep (ValueError names those ``fn`` does not return); default every output
            with a unit axis.
    """
    layers = None if layers is None else list(layers)

    def activations(x):
        acts = jax.vmap(fn)(x)
        if layers is None:
            return {k: v for k, v in acts.items() if v.ndim >= 2}
        missing = [n for n in layers if n not in acts]
        if missing:
            raise ValueError(f"layers {missing} are not an output of fn; it returns {sorted(acts)}")
        return {n: acts[n] for n in layers}

    return activations


def _unit_layer(name: str) -> str:
    """``stage1_block0/conv1/conv/__call__`` -> ``stage1_block0/conv1`` (the names of ``pruning.dependency``)."""
    parts = [q for q in name.split("/") if q != "__call__"]
    if len(parts) > 1 and parts[-1] == "conv":
        parts = parts[:-1]
    return "/".join(parts)


def layer_output_fn(model, variables, layers: Iterable[str], **apply_kwargs) -> Callable:
    """Per-frame function ``[H, W, C] -> {layer: output [..., c]}`` of the conv and dense layers named ``layers``.

    Each layer's output is what its filters, units or heads write (a conv's channels before batch norm,
    an MLP's hidden units before the nonlinearity, the ``qkv`` columns of an attention layer), keyed
    by the layer names of ``pruning.topology(model).layers``. ValueError if a name is not a conv or
    dense layer of the model.
    """
    wanted = set(layers)
    inner = linen_fn(model, variables, capture_intermediates=lambda m, _: isinstance(m, (nn.Conv, nn.Dense)),
                     **apply_kwargs)

    def fn(frame):
        acts = inner(frame)
        out = {_unit_layer(k): a for k, a in acts.items() if _unit_layer(k) in wanted}
        missing = sorted(wanted - set(out))
        if missing:
            raise ValueError(f"layers: {missing} are not conv or dense layers of the model")
        return out

    return fn


def _shapes_of(activations: Callable) -> Callable:
    def shapes(example):
        img = example["image"]
        return jax.eval_shape(activations, jax.ShapeDtypeStruct((1, *img.shape), img.dtype))
    return shapes


def _per_example_reduction(per_example: Callable, shapes_of: Callable, n_images: int | None) -> Reduction:
    """A reduction of ``per_example(batch) -> {layer: [b, c]}``: its mean over examples, or its ``[N, c]`` rows."""
    if n_images is not None:
        V.check_positive("n_images", n_images, integer=True)

        def init_rows(example):
            return {k: jnp.zeros((n_images, s.shape[-1]), jnp.float32) for k, s in shapes_of(example).items()}

        def update_rows(state, batch, weights):
            if "index" not in batch:
                raise ValueError("per-image rows need batches {'image': ..., 'index': [b]} (positions 0..N-1)")
            stats = per_example(batch)
            # Padding (weight 0) goes to a row past the end, which the scatter drops; each device writes only
            # its own examples' rows, so merging by addition puts every row in its place.
            idx = jnp.where(weights > 0, batch["index"], n_images)
            return {k: state[k].at[idx].add(stats[k].astype(jnp.float32), mode="drop") for k in state}

        def finalize_rows(state):
            return {k: np.asarray(v, np.float64) for k, v in state.items()}

        return Reduction(init_rows, update_rows, sum_merge, finalize_rows)

    def init(example):
        shapes = shapes_of(example)
        return {"sum": {k: jnp.zeros(s.shape[-1:], jnp.float32) for k, s in shapes.items()},
                "count": jnp.zeros((), jnp.float32)}

    def update(state, batch, weights):
        stats = per_example(batch)
        return {"sum": {k: state["sum"][k] + jnp.einsum("b,bc->c", weights, stats[k]) for k in state["sum"]},
                "count": state["count"] + weights.sum()}

    def finalize(state):
        n = float(state["count"])
        if n <= 0:
            raise ValueError("the reduction saw no example with weight 1")
        return {k: np.asarray(v, np.float64) / n for k, v in state["sum"].items()}

    return Reduction(init, update, sum_merge, finalize)


def mean_activation_reduction(activations: Callable, *, n_images: int | None = None) -> Reduction:
    """Mean over positions of each filter's ``|activation|``, per example; ``{layer: [c]}`` or ``{layer: [N, c]}``.

    Torch-Pruning's ActivationImportance (SCIENCE.md section 7); activation units.

    Args:
        activations: batch function (:func:`sown_activations`, :func:`frame_activations`).
        n_images: None: the mean over examples; N: one row per example (batches carry ``"index"``).
    """
    def per_example(batch):
        acts = activations(batch["image"])
        return {k: jnp.abs(a).reshape(a.shape[0], -1, a.shape[-1]).mean(1) for k, a in acts.items()}

    return _per_example_reduction(per_example, _shapes_of(activations), n_images)


def hrank_reduction(activations: Callable, *, n_images: int | None = None) -> Reduction:
    """Rank of every filter's ``[h, w]`` feature map (HRank), per example; ``{layer: [c]}`` or ``{layer: [N, c]}``.

    Lin et al. 2020 (SCIENCE.md section 7), NumPy's default rank tolerance; dimensionless, in ``0 .. min(h, w)``.

    Args:
        activations: batch function returning ``[b, h, w, c]`` feature maps.
        n_images: None: the mean over examples; N: one row per example (batches carry ``"index"``).
    """
    def per_example(batch):
        acts = activations(batch["image"])
        out = {}
        for k, a in acts.items():
            if a.ndim != 4:
                raise ValueError(f"hrank needs [b, h, w, c] feature maps, {k} has shape {a.shape}")
            maps = jnp.moveaxis(a, -1, 1).astype(jnp.float32)  # [b, c, h, w]
            out[k] = jnp.linalg.matrix_rank(maps).astype(jnp.float32)
        return out

    return _per_example_reduction(per_example, _shapes_of(activations), n_images)


def taylor_reduction(model, variables: dict, *, n_images: int | None = None) -> Reduction:
    """First-order Taylor importance ``(gamma dL/dgamma + beta dL/dbeta)^2`` per example of every conv layer.

    Molchanov et al. 2019 (SCIENCE.md section 7), with the per-example cross-entropy (module docstring); squared
    loss units. Needs ``batch["label"]`` (int class indices). ``{layer: [c]}`` (mean over examples) or
    ``{layer: [N, c]}`` (``n_images``: one row per example, batches carry ``"index"``).
    """
    layers = conv_layers(variables)
    bn = bn_affine(variables)

    def loss(bn_params, x, y):
        logits = model.apply(with_bn_affine(variables, bn_params), x[None], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[None]).sum()

    grad_one = jax.grad(loss)

    def per_example(batch):
        if "label" not in batch:
            raise ValueError("taylor needs labels: batches must be {'image': [b, H, W, C], 'label': [b]}")
        g = jax.vmap(grad_one, in_axes=(None, 0, 0))(bn, batch["image"], batch["label"])
        return {n: (bn[n][0] * g[n][0] + bn[n][1] * g[n][1]) ** 2 for n in layers}

    def shapes_of(example):
        return {n: jax.ShapeDtypeStruct(bn[n][0].shape, jnp.float32) for n in layers}

    return _per_example_reduction(per_example, shapes_of, n_images)


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
