"""Adapters that turn a network into a per-frame function ``frame [H, W, C] -> {layer: activation}``.

``linen_fn`` wraps a Flax Linen module with its variables, ``nnx_fn`` a Flax NNX module; both return
every recorded intermediate as a flat dict ``{"path/to/layer": array}`` without the batch axis.
``flat_dict`` gives any pytree of arrays (what a user's own function returns) the same flat form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import numpy as np
from jaxtyping import Array, PyTree


def _flat_key(path) -> str:
    parts = []
    for k in path:
        if isinstance(k, jax.tree_util.DictKey):
            parts.append(str(k.key))
        elif isinstance(k, jax.tree_util.GetAttrKey):
            if k.name != "value":  # nnx.Variable keeps its payload in .value
                parts.append(str(k.name))
        elif isinstance(k, jax.tree_util.SequenceKey):
            continue  # sow/capture store tuples of one value per call
        else:
            parts.append(str(k))
    return "/".join(p for p in parts if p not in ("__call__",))


def flatten_intermediates(tree: PyTree, *, squeeze_batch: bool = True) -> dict[str, Array]:
    """Flatten a Linen ``intermediates`` collection or an NNX capture ``State`` to ``{path: array}``.

    Module outputs recorded by ``capture_intermediates`` are keyed by the module path (``stage1/
    block0/conv1``), sown values by the path plus their name (``stage1/block0/post1``). With
    ``squeeze_batch`` the leading batch axis of size 1 is removed. A module called twice keeps its
    calls apart with ``#1``, ``#2`` suffixes.
    """
    out: dict[str, Array] = {}
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    for path, leaf in leaves:
        key = _flat_key(path) or "output"
        name, i = key, 1
        while name in out:
            i += 1
            name = f"{key}#{i}"
        out[name] = leaf[0] if squeeze_batch and np.ndim(leaf) and leaf.shape[0] == 1 else leaf
    return out


def flat_dict(tree: PyTree) -> dict[str, Array]:
    """``{name: leaf}`` of a pytree of arrays: a flat dict keeps its keys, any other pytree gets ``keystr`` paths.

    ``ValueError`` if a leaf is not an array (a per-frame function must return a pytree of arrays).
    """
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not leaves:
        raise ValueError("the per-frame function returned no arrays: it must return a pytree of arrays")
    bad = [jax.tree_util.keystr(p) for p, v in leaves if not hasattr(v, "shape") or not hasattr(v, "dtype")]
    if bad:
        raise ValueError(f"the per-frame function must return a pytree of arrays; leaves {bad[:5]} are not arrays")
    if isinstance(tree, dict) and all(len(p) == 1 and isinstance(p[0], jax.tree_util.DictKey) for p, _ in leaves):
        return {str(p[0].key): v for p, v in leaves}
    return {jax.tree_util.keystr(p): v for p, v in leaves}


def select(acts: dict[str, Array], include: Iterable[str] | None = None) -> dict[str, Array]:
    """Keep the entries of ``acts`` whose names are in ``include`` (all when None)."""
    if include is None:
        return acts
    include = list(include)
    unknown = [n for n in include if n not in acts]
    if unknown:
        raise ValueError(f"unknown layer names {unknown}; available: {sorted(acts)}")
    return {n: acts[n] for n in include}


def linen_fn(
    module,
    variables: PyTree,
    *,
    capture_intermediates: bool | Callable = True,
    include: Iterable[str] | None = None,
    preprocess: Callable[[Array], Array] | None = None,
    **apply_kwargs,
) -> Callable[[Array], dict[str, Array]]:
    """A per-frame function that runs a Linen module and returns its intermediates.

    Args:
        module: a ``flax.linen.Module`` taking a batch ``[N, H, W, C]``.
        variables: its variables (``params``, ``batch_stats``, ...).
        capture_intermediates: passed to ``module.apply``: True records every submodule's output; a
            filter ``(module, method_name) -> bool`` records some; False records only ``sow``\\ n values
            (post-activation values need ``sow``: a functional ``nn.relu`` is no module).
        include: names of the intermediates to keep (all when None).
        preprocess: ``frame -> frame`` applied before the module, after tagging (e.g.
            ``sj.imagenet_normalize`` for torchvision/timm weights): the stimulus stays an image in
            [0, 1] and the model's own normalisation comes after the modulation.
        **apply_kwargs: passed to ``module.apply`` (e.g. ``train=False``).

    Returns:
        ``fn(frame [H, W, C]) -> {name: activation}`` without the batch axis; ``"output"`` holds the
        module's output.
    """
    _check_preprocess(preprocess)

    def fn(frame):
        if preprocess is not None:
            frame = preprocess(frame)
        out, state = module.apply(
            variables, frame[None], capture_intermediates=capture_intermediates,
            mutable=["intermediates"], **apply_kwargs)
        acts = flatten_intermediates(state.get("intermediates", {}))
        acts.pop("output", None)
        acts["output"] = out[0]
        return select(acts, include)

    return fn


def _check_preprocess(preprocess) -> None:
    if preprocess is not None and not callable(preprocess):
        raise ValueError(f"preprocess must be a function frame -> frame or None, got {preprocess!r}")


def nnx_fn(model, *, include: Iterable[str] | None = None, method_outputs: bool = True,
           preprocess: Callable[[Array], Array] | None = None):
    """A per-frame function that runs an NNX module and returns its intermediates.

    Every ``sow(nnx.Intermediate, ...)`` value is returned, and with ``method_outputs`` every
    submodule's output as well. The module is split into graph and state once, so the function is
    pure and can be jitted and vmapped.

    Args:
        model: a ``flax.nnx.Module`` taking a batch ``[N, H, W, C]`` (put it in eval mode first).
        include: names of the intermediates to keep (all when None).
        method_outputs: record each submodule's output, not only sown values.
        preprocess: ``frame -> frame`` applied before the model, after tagging (as in :func:`linen_fn`).

    Returns:
        ``fn(frame [H, W, C]) -> {name: activation}`` without the batch axis.
    """
    from flax import nnx

    graphdef, state = nnx.split(model)
    kind = nnx.Intermediate if method_outputs else None
    _check_preprocess(preprocess)

    def fn(frame):
        if preprocess is not None:
            frame = preprocess(frame)
        m = nnx.merge(graphdef, state)
        out, inter = nnx.capture(m, nnx.Intermediate, method_outputs=kind)(frame[None])
        acts = flatten_intermediates(inter)
        acts.pop("output", None)
        acts["output"] = out[0]
        return select(acts, include)

    return fn


__all__ = ["flat_dict", "flatten_intermediates", "linen_fn", "nnx_fn", "select"]
