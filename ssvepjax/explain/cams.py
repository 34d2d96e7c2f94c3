"""Class-activation maps (Grad-CAM, Grad-CAM++, LayerCAM, EigenCAM) for any Flax model and layer.

One core, :func:`cam`, turns the activations ``A [h, w, c]`` of one image at one layer and the
gradients ``G [h, w, c]`` of a class score with respect to them into a map ``[h, w]``; the
adapters :func:`linen_tap` (Linen) and :func:`nnx_tap` (NNX) produce ``A`` and ``G`` for one image,
and :func:`layer_gradients` / :func:`cam_batch` / :func:`class_activation_maps` jit and vmap them over
images. The class score is the logit (pre-softmax output) of the requested class.

Methods (``c`` runs over filters, ``ij`` over positions, ``m_c`` the filter weights below):

- ``"gradcam"`` (Selvaraju et al. 2017): ``relu(sum_c m_c a_c A_c)`` with ``a_c = mean_ij G_ijc``.
- ``"gradcam++"`` (Chattopadhay et al. 2018, exponential link as in their eq. 19 and in
  pytorch-grad-cam): ``a_c = sum_ij relu(G_ijc) G_ijc^2 / (2 G_ijc^2 + sum_ab A_abc G_ijc^3 + eps)``,
  a term taken as 0 where ``G_ijc = 0`` or its denominator is 0; then as Grad-CAM. The default
  ``eps = 0`` is the paper's formula; pytorch-grad-cam adds ``eps = 1e-6``, which changes the weights
  wherever gradients are small (``G^2`` near ``1e-6``): pass ``eps=1e-6`` to reproduce its maps.
- ``"layercam"`` (Jiang et al. 2021): ``relu(sum_c m_c relu(G_ijc) A_ijc)``.
- ``"eigencam"`` (Muhammad & Yeasin 2020): the projection of the positions' centred activation
  vectors ``(m_c A_ijc)_c`` onto their first principal component, then ``relu``. Class-agnostic (no
  gradient). The component's sign is arbitrary; it is chosen so that the projection correlates
  positively with the positions' summed activation ``sum_c m_c A_ijc``.

Filter restriction (``filters=``): a boolean mask or non-negative weights ``m [c]`` that multiply
each filter's term, so a map uses only (or mostly) a subset of filters. ``None`` uses every filter;
a one-filter mask gives that filter's own map. Maps come back unnormalised at the layer's
resolution; :func:`upsample` brings them to the image size and scales each to a maximum of 1.

Layer contract. A layer is a submodule whose ``__call__`` output is ``[1, h, w, c]`` for an input
batch of one image, named by its path as ``sj.linen_fn`` / ``sj.nnx_fn`` name it (``stage3_block1/
conv2`` for the output of that ``CifarResNet`` block's second conv layer, i.e. its post-activation).
A Linen submodule called more than once is named ``path#2``, ``path#3`` for its later calls. Sown
values that are no submodule's output (e.g. ``.../pre``) cannot be tapped: expose them as the
output of a small submodule. Linen outputs are tapped with ``nn.intercept_methods``; NNX outputs by
swapping the submodule for a wrapper in a private copy of the graph. Either way the tap adds a zero
array to the output and differentiates the class score with respect to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

__all__ = [
    "METHODS",
    "LayerTap",
    "cam",
    "cam_batch",
    "class_activation_maps",
    "layer_gradients",
    "linen_tap",
    "nnx_tap",
    "upsample",
]

#: The class-activation map methods of ``cam``.
METHODS = ("gradcam", "gradcam++", "layercam", "eigencam")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _filter_weights(filters, c: int) -> Array:
    if filters is None:
        return jnp.ones((c,), jnp.float32)
    m = jnp.asarray(filters)
    if m.shape != (c,):
        raise ValueError(f"filters must have shape [{c}] (one entry per filter of the layer), got shape {m.shape}")
    return m.astype(jnp.float32)


def cam(
    acts: Float[ArrayLike, "h w c"],
    grads: Float[ArrayLike, "h w c"] | None,
    method: str = "gradcam",
    filters: ArrayLike | None = None,
    eps: float = 0.0,
) -> Float[Array, "h w"]:
    """Class-activation map of one image from a layer's activations and class-score gradients.

    Args:
        acts: activations ``A [h, w, c]`` of the layer.
        grads: gradients ``G [h, w, c]`` of the class score with respect to ``acts`` (unused and may be
            None for ``"eigencam"``).
        method: one of :data:`METHODS`.
        filters: None (every filter), a boolean mask ``[c]`` or non-negative weights ``[c]``.
        eps: added to Grad-CAM++'s denominator (0, the paper's form, by default; pytorch-grad-cam
            uses 1e-6). Ignored by the other methods.

    Returns:
        The map ``[h, w]`` (non-negative, unnormalised). Traceable (jit, vmap, grad).
    """
    _check_method(method)
    a = jnp.asarray(acts, jnp.float32)
    if a.ndim != 3:
        raise ValueError(f"acts must have shape [h, w, c], got shape {a.shape}")
    m = _filter_weights(filters, a.shape[-1])
    if method == "eigencam":
        return _eigen(a * m)
    if grads is None:
        raise ValueError(f"grads are required for method={method!r}")
    g = jnp.asarray(grads, jnp.float32)
    if g.shape != a.shape:
        raise ValueError(f"grads must have the shape of acts {a.shape}, got shape {g.shape}")
    if method == "layercam":
        return jax.nn.relu(jnp.einsum("ijc,c->ij", jax.nn.relu(g) * a, m))
    if method == "gradcam":
        weights = g.mean((0, 1))
    else:  # gradcam++
        g2, g3 = g * g, g * g * g
        denom = 2.0 * g2 + a.sum((0, 1)) * g3 + eps
        keep = (denom != 0) & (g != 0)
        alpha = jnp.where(keep, g2 / jnp.where(keep, denom, 1.0), 0.0)
        weights = (alpha * jax.nn.relu(g)).sum((0, 1))
    return jax.nn.relu(jnp.einsum("ijc,c->ij", a, weights * m))


def _eigen(a):
    h, w, c = a.shape
    x = a.reshape(h * w, c)
    xc = x - x.mean(0)
    _, _, vt = jnp.linalg.svd(xc, full_matrices=False)
    proj = xc @ vt[0]
    total = x.sum(1)
    sign = jnp.where(jnp.dot(proj, total - total.mean()) < 0, -1.0, 1.0)
    return jax.nn.relu(sign * proj).reshape(h, w)


@dataclasses.dataclass(frozen=True)
class LayerTap:
    """Activations and class-score gradients at one layer of one model.

    Attributes:
        fn: ``fn(image [H, W, C], class_index) -> (acts [h, w, c], grads [h, w, c], logits [K])``,
            traceable (jit, vmap).
        layer: the layer's name.
        input_shape: ``(H, W, C)`` of one image.
        layer_shape: ``(h, w, c)`` of the layer's output for one image.
        num_classes: K, the number of logits.
        batched: ``jax.jit(jax.vmap(fn))``, built once so repeated calls reuse its compilation.
    """

    fn: Callable
    layer: str
    input_shape: tuple[int, int, int]
    layer_shape: tuple[int, int, int]
    num_classes: int
    batched: Callable = dataclasses.field(repr=False, compare=False, default=None)

    def __post_init__(self):
        if self.batched is None:
            object.__setattr__(self, "batched", jax.jit(jax.vmap(self.fn)))


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in shape):
        raise ValueError(f"input_shape must be (H, W, C) of positive integers, got {input_shape!r}")
    return tuple(int(s) for s in shape)


def _layer_shape(layer: str, shapes: dict[str, tuple[int, ...]]) -> tuple[int, int, int]:
    if layer not in shapes:
        raise ValueError(f"unknown layer {layer!r}; available submodule outputs: {sorted(shapes)}")
    shape = shapes[layer]
    if len(shape) != 4 or shape[0] != 1:
        raise ValueError(f"layer {layer!r} outputs shape {shape} for one image; a CAM needs [1, h, w, c]")
    return tuple(int(s) for s in shape[1:])


def _split_call(layer: str) -> tuple[str, int]:
    path, _, k = layer.partition("#")
    return path, int(k) if k.isdigit() else 1


def _linen_output_shapes(module, variables, input_shape, apply_kwargs) -> tuple[dict, tuple]:
    def run(x):
        return module.apply(variables, x, capture_intermediates=True, mutable=["intermediates"], **apply_kwargs)

    out, state = jax.eval_shape(run, jax.ShapeDtypeStruct((1, *input_shape), jnp.float32))
    shapes: dict[str, tuple[int, ...]] = {}

    def walk(tree, path):
        for key, val in tree.items():
            if key == "__call__":
                if path:
                    for i, leaf in enumerate(val):
                        shapes["/".join(path) + ("" if i == 0 else f"#{i + 1}")] = tuple(leaf.shape)
            elif hasattr(val, "items"):
                walk(val, (*path, str(key)))

    walk(state.get("intermediates", {}), ())
    return shapes, tuple(out.shape)


def _check_logits(shape, what: str) -> int:
    if len(shape) != 2 or shape[0] != 1:
        raise ValueError(f"{what} must return logits [1, K] for one image, got shape {shape}")
    return int(shape[1])


def linen_tap(module, variables, layer: str, input_shape: tuple[int, int, int], *,
              preprocess: Callable[[Array], Array] | None = None, **apply_kwargs) -> LayerTap:
    """A :class:`LayerTap` on a Linen module's submodule output (module docstring: layer contract).

    Args:
        module: a ``flax.linen.Module`` mapping ``[N, H, W, C]`` to logits ``[N, K]``.
        variables: its variables.
        layer: submodule path, e.g. ``"stage3_block0/conv2"`` (``path#k`` for its k-th call).
        input_shape: ``(H, W, C)`` of one image.
        preprocess: ``image -> image`` applied before the module (the model's own normalisation,
            e.g. ``sj.models.imagenet_normalize``, as ``sj.linen_fn(..., preprocess=)``), so images stay
            in [0, 1] and the gradients are those of the class score of the normalised input's model.
        **apply_kwargs: passed to ``module.apply`` (e.g. ``train=False``).

    Returns:
        The tap; ``ValueError`` for an unknown layer or one whose output is not ``[1, h, w, c]``.
    """
    import flax.linen as nn

    input_shape = _check_input_shape(input_shape)
    if preprocess is not None and not callable(preprocess):
        raise ValueError(f"preprocess must be a function image -> image or None, got {preprocess!r}")
    prep = (lambda x: x) if preprocess is None else preprocess
    shapes, out_shape = _linen_output_shapes(module, variables, input_shape, apply_kwargs)
    num_classes = _check_logits(out_shape, "module")
    layer_shape = _layer_shape(layer, shapes)
    path, call = _split_call(layer)

    def forward(image, delta):
        seen, store = [0], []

        def interceptor(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if context.method_name == "__call__" and "/".join(context.module.path) == path:
                seen[0] += 1
                if seen[0] == call:
                    store.append(out[0])
                    out = out + delta[None]
            return out

        with nn.intercept_methods(interceptor):
            logits = module.apply(variables, prep(image)[None], **apply_kwargs)
        return logits[0], store[0]

    return LayerTap(_tap_fn(forward, layer_shape), layer, input_shape, layer_shape, num_classes)


def _tap_fn(forward: Callable, layer_shape) -> Callable:
    def fn(image, class_index):
        def score(delta):
            logits, acts = forward(image, delta)
            return logits[class_index], (acts, logits)

        grads, (acts, logits) = jax.grad(score, has_aux=True)(jnp.zeros(layer_shape, jnp.float32))
        return acts, grads, logits

    return fn


class _Tapped:
    """Stands in for an NNX submodule: records its first output and adds ``delta`` to it."""

    def __init__(self, inner, delta, store):
        self.inner, self.delta, self.store = inner, delta, store

    def __call__(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        if self.store:
            return out
        self.store.append(out[0])
        return out + self.delta[None]


def _nnx_replace(root, path: tuple, new) -> None:
    parent = root
    for p in path[:-1]:
        parent = parent[p] if isinstance(p, int) else getattr(parent, p)
    last = path[-1]
    if isinstance(last, int):
        parent[last] = new
    else:
        object.__setattr__(parent, last, new)  # a plain attribute: the copy is never split again


def nnx_tap(model, layer: str, input_shape: tuple[int, int, int]) -> LayerTap:
    """A :class:`LayerTap` on an NNX submodule's output (module docstring: layer contract).

    The model is split once into graph and state; each call merges a private copy in which the
    submodule at ``layer`` is wrapped, so the model itself is never changed. Put the model in eval
    mode first (``model.eval()``). The submodule's first call in a forward pass is tapped.

    Args:
        model: a ``flax.nnx.Module`` mapping ``[N, H, W, C]`` to logits ``[N, K]``.
        layer: submodule path joined by ``/`` (e.g. ``"blocks/0/conv"``).
        input_shape: ``(H, W, C)`` of one image.

    Returns:
        The tap; ``ValueError`` for an unknown layer or one whose output is not ``[1, h, w, c]``.
    """
    from flax import nnx

    input_shape = _check_input_shape(input_shape)
    paths = {"/".join(str(p) for p in path): path for path, _ in nnx.iter_modules(model) if path}
    if layer not in paths:
        raise ValueError(f"unknown layer {layer!r}; available submodules: {sorted(paths)}")
    path = paths[layer]
    graphdef, state = nnx.split(model)

    def run(image, delta):
        m = nnx.merge(graphdef, state)
        sub = m
        for p in path:
            sub = sub[p] if isinstance(p, int) else getattr(sub, p)
        store: list = []
        _nnx_replace(m, path, _Tapped(sub, delta, store))
        logits = m(image[None])
        if not store:
            raise ValueError(f"layer {layer!r} is not called in the forward pass")
        return logits, store[0]

    x = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    probe_delta = jax.ShapeDtypeStruct((1,), jnp.float32)  # broadcasts against any output
    logits_s, acts_s = jax.eval_shape(run, x, probe_delta)
    num_classes = _check_logits(tuple(logits_s.shape), "model")
    layer_shape = _layer_shape(layer, {layer: (1, *acts_s.shape)})

    def forward(image, delta):
        logits, acts = run(image, delta)
        return logits[0], acts

    return LayerTap(_tap_fn(forward, layer_shape), layer, input_shape, layer_shape, num_classes)


def _check_batch(tap: LayerTap, images, class_indices) -> tuple[np.ndarray, np.ndarray]:
    shape = np.shape(images)
    if len(shape) != 4 or tuple(shape[1:]) != tap.input_shape:
        raise ValueError(f"images must have shape [N, {', '.join(map(str, tap.input_shape))}] for this tap, "
                         f"got shape {shape}")
    idx = np.asarray(class_indices)
    if idx.shape != (shape[0],) or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"class_indices must be {shape[0]} integers (one per image), got {idx.dtype} "
                         f"of shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= tap.num_classes):
        raise ValueError(f"class_indices must lie in [0, {tap.num_classes - 1}], got values in "
                         f"[{idx.min()}, {idx.max()}]")
    return shape[0], idx.astype(np.int32)


def layer_gradients(
    tap: LayerTap,
    images: Float[ArrayLike, "n H W C"],
    class_indices: Int[ArrayLike, " n"],
    *,
    batch_size: int = 64,
) -> tuple[Float[Array, "n h w c"], Float[Array, "n h w c"], Float[Array, "n k"]]:
    """Activations, class-score gradients and logits of a batch at the tapped layer.

    Args:
        tap: from :func:`linen_tap` or :func:`nnx_tap`.
        images: ``[N, H, W, C]`` matching ``tap.input_shape``.
        class_indices: ``[N]`` class of each image's score, in ``[0, K)``.
        batch_size: images per jitted, vmapped step (the last step is padded, so one program serves all).

    Returns:
        ``(acts [N, h, w, c], grads [N, h, w, c], logits [N, K])``.
    """
    n, idx = _check_batch(tap, images, class_indices)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    x = np.asarray(images, np.float32)
    b = min(batch_size, max(n, 1))
    outs = []
    for i in range(0, n, b):
        xi, ci = x[i:i + b], idx[i:i + b]
        pad = b - len(xi)
        if pad:
            xi = np.concatenate([xi, np.zeros((pad, *xi.shape[1:]), xi.dtype)])
            ci = np.concatenate([ci, np.zeros(pad, ci.dtype)])
        a, g, lg = tap.batched(jnp.asarray(xi), jnp.asarray(ci))
        outs.append((a[:b - pad], g[:b - pad], lg[:b - pad]))
    if not outs:
        h, w, c = tap.layer_shape
        return jnp.zeros((0, h, w, c)), jnp.zeros((0, h, w, c)), jnp.zeros((0, tap.num_classes))
    return tuple(jnp.concatenate([o[j] for o in outs]) for j in range(3))


_cams_jit = jax.jit(jax.vmap(cam, in_axes=(0, 0, None, 0, None)), static_argnums=2)


def _check_eps(eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not np.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0 (pytorch-grad-cam's Grad-CAM++ uses 1e-6), got {eps!r}")
    return float(eps)


def cam_batch(
    acts: Float[ArrayLike, "n h w c"],
    grads: Float[ArrayLike, "n h w c"],
    method: str = "gradcam",
    filters: ArrayLike | None = None,
    eps: float = 0.0,
) -> Float[Array, "n h w"]:
    """:func:`cam` of a batch, jitted and vmapped over images.

    Args:
        acts: ``[N, h, w, c]`` activations.
        grads: ``[N, h, w, c]`` class-score gradients (any array of that shape for ``"eigencam"``).
        method: one of :data:`METHODS`.
        filters: None, one mask or weights ``[c]`` for every image, or one per image ``[N, c]``.
        eps: Grad-CAM++'s denominator term (see :func:`cam`; 0 by default, 1e-6 in pytorch-grad-cam).

    Returns:
        Maps ``[N, h, w]``.
    """
    _check_method(method)
    eps = _check_eps(eps)
    a = jnp.asarray(acts, jnp.float32)
    if a.ndim != 4:
        raise ValueError(f"acts must have shape [N, h, w, c], got shape {a.shape}")
    g = jnp.asarray(grads, jnp.float32)
    if g.shape != a.shape:
        raise ValueError(f"grads must have the shape of acts {a.shape}, got shape {g.shape}")
    n, c = a.shape[0], a.shape[-1]
    if filters is None:
        m = jnp.ones((n, c), jnp.float32)
    else:
        m = jnp.asarray(filters)
        if m.shape == (c,):
            m = jnp.broadcast_to(m, (n, c))
        if m.shape != (n, c):
            raise ValueError(f"filters must have shape [{c}] or [{n}, {c}], got shape {m.shape}")
        if not isinstance(m, jax.core.Tracer) and (not bool(jnp.all(jnp.isfinite(m.astype(jnp.float32))))
                                 or bool(jnp.any(m.astype(jnp.float32) < 0))):
            raise ValueError("filters must be a boolean mask or finite, non-negative weights")
    return _cams_jit(a, g, method, m.astype(jnp.float32), eps)


def upsample(
    maps: Float[ArrayLike, "n h w"], size: tuple[int, int], *, normalize: bool = True
) -> Float[Array, "n H W"]:
    """Bilinear resize of maps to the image size, each then scaled to a maximum of 1.

    Args:
        maps: ``[N, h, w]`` (or one map ``[h, w]``), non-negative.
        size: ``(H, W)`` of the images.
        normalize: divide each map by its maximum (a map that is 0 everywhere stays 0).

    Returns:
        ``[N, H, W]`` (or ``[H, W]``).
    """
    m = jnp.asarray(maps, jnp.float32)
    if m.ndim not in (2, 3):
        raise ValueError(f"maps must have shape [N, h, w] or [h, w], got shape {m.shape}")
    if len(tuple(size)) != 2 or min(size) < 1:
        raise ValueError(f"size must be (H, W) of positive integers, got {size!r}")
    one = m.ndim == 2
    m = m[None] if one else m
    out = jax.image.resize(m, (m.shape[0], *size), "bilinear")
    if normalize:
        peak = out.max((1, 2), keepdims=True)
        out = jnp.where(peak > 0, out / jnp.where(peak > 0, peak, 1.0), 0.0)
    return out[0] if one else out


def class_activation_maps(
    tap: LayerTap,
    images: Float[ArrayLike, "n H W C"],
    class_indices: Int[ArrayLike, " n"],
    method: str = "gradcam",
    filters: ArrayLike | None = None,
    *,
    resize: bool = True,
    batch_size: int = 64,
    eps: float = 0.0,
) -> Float[Array, "n ..."]:
    """Maps of a batch in one call: :func:`layer_gradients`, :func:`cam_batch`, then :func:`upsample`.

    Args:
        tap: from :func:`linen_tap` or :func:`nnx_tap`.
        images: ``[N, H, W, C]``.
        class_indices: ``[N]`` classes to explain.
        method: one of :data:`METHODS`.
        filters: None, ``[c]`` or ``[N, c]`` mask or weights.
        resize: upsample to ``[N, H, W]`` and scale each map to a maximum of 1; else ``[N, h, w]`` raw.
        batch_size: images per step of :func:`layer_gradients`.
        eps: Grad-CAM++'s denominator term (see :func:`cam`).

    Returns:
        ``[N, H, W]`` (``resize``) or ``[N, h, w]``.
    """
    _check_method(method)
    eps = _check_eps(eps)
    a, g, _ = layer_gradients(tap, images, class_indices, batch_size=batch_size)
    maps = cam_batch(a, g, method, filters, eps)
    return upsample(maps, tap.input_shape[:2]) if resize else maps
