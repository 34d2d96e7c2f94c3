"""PyTorch weights in ssvepjax's Flax models: torchvision ResNets, ResNeXts and VGGs, timm ViTs and DeiTs.

No PyTorch at run time: a state dict is a mapping ``{name: array}`` (NumPy arrays, or torch tensors
when the caller has torch); :func:`load_state_dict` reads one from a ``.safetensors`` file (with the
``safetensors`` package's NumPy API), a ``.npz`` file, or a ``.pth`` / ``.pt`` file (this needs torch,
the ``peer`` extra). :func:`convert_state_dict` maps it onto a model's variables
``{"params": ..., "batch_stats": ...}``:

- :class:`~ssvepjax.models.resnet.ImageNetResNet` from torchvision's ``resnet18/34/50/101/152`` and
  ``resnext50_32x4d`` (``conv1``/``bn1`` -> ``stem``, ``layer{s}.{b}.conv{k}``/``bn{k}`` ->
  ``stage{s}_block{b}/conv{k}``, ``downsample.0/1`` -> ``shortcut``, ``fc`` -> ``head``);
- :class:`~ssvepjax.models.vggnet.VGG` from torchvision's ``vgg11/13/16/19`` and ``*_bn``
  (``features.{i}`` in order -> ``conv{s}_{j}``, ``classifier.0/3/6`` -> ``fc1``/``fc2``/``head``; the
  first dense layer's inputs are permuted from torch's channel-first flatten to NHWC);
- :class:`~ssvepjax.models.vit.VisionTransformer` (with a class token) from timm's
  ``vit_{tiny,small,base}_patch16_224`` and the DeiTs without distillation token
  (``deit_{tiny,small,base}_patch16_224``, the same architecture).

Convolution kernels go from torch's ``[out, in / groups, kh, kw]`` to Flax's ``[kh, kw, in / groups,
out]``, dense weights are transposed, batch norm's ``weight``/``bias``/``running_mean``/``running_var``
become ``scale``/``bias`` (params) and ``mean``/``var`` (batch stats); ``num_batches_tracked`` is
ignored. A state dict of another architecture (names missing or unexpected, or shapes that differ)
raises a ``ValueError`` listing the first few of each. :func:`load_torch_model` builds the model
from a torchvision/timm name and loads a file in one call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import jax
import numpy as np
from jaxtyping import PyTree

from ssvepjax.models.resnet import (
    ImageNetResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
)
from ssvepjax.models.vggnet import POOL_SIZE, VGG, vgg
from ssvepjax.models.vit import VisionTransformer, vit_base, vit_small, vit_tiny

__all__ = ["TORCH_ARCHITECTURES", "convert_state_dict", "load_state_dict", "load_torch_model", "load_torch_weights"]

_SHOW = 5  # names listed per kind of mismatch in an error


def _vit(make: Callable) -> Callable:
    return lambda num_classes: make(16, num_classes)


#: torchvision / timm model name -> constructor(num_classes) of the equivalent ssvepjax model.
TORCH_ARCHITECTURES: dict[str, Callable[[int], object]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
    "resnet152": resnet152,
    "resnext50_32x4d": resnext50_32x4d,
    **{f"{n}{bn}": (lambda nc, n=n, bn=bn: vgg(n, nc, batch_norm=bool(bn)))
       for n in ("vgg11", "vgg13", "vgg16", "vgg19") for bn in ("", "_bn")},
    **{f"{p}_{size}_patch16_224": _vit(make) for p in ("vit", "deit")
       for size, make in (("tiny", vit_tiny), ("small", vit_small), ("base", vit_base))},
}

_BN = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def _to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor, from a caller who has torch
        v = v.detach().cpu()
        try:
            return v.numpy()
        except TypeError:  # bfloat16 and other dtypes NumPy lacks
            return v.float().numpy()
    return np.asarray(v)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a PyTorch state dict into ``{name: np.ndarray}``.

    Args:
        path: a ``.safetensors`` file (needs ``safetensors``), a ``.npz`` file, or a ``.pth`` / ``.pt``
            / ``.bin`` file saved with ``torch.save`` (needs torch; loaded with ``weights_only=True``). A
            checkpoint that wraps its weights under ``"state_dict"`` or ``"model"`` is unwrapped, and a
            ``"module."`` prefix (``DataParallel``) is removed.

    Returns:
        The arrays, in the file's dtypes (bfloat16 tensors become float32).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path must be an existing weights file, got {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        from safetensors.numpy import load_file

        sd = load_file(path)
    elif ext == ".npz":
        with np.load(path) as f:
            sd = {k: f[k] for k in f.files}
    elif ext in (".pth", ".pt", ".bin"):
        try:
            import torch
        except ImportError as e:
            raise ValueError(f"reading {ext} files needs torch (pip install 'ssvepjax[peer]'); save the state "
                             f"dict as .safetensors to load it without torch") from e
        sd = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(sd, Mapping) and isinstance(sd.get(key), Mapping):
                sd = sd[key]
    else:
        raise ValueError(f"path must end in .safetensors, .npz, .pth, .pt or .bin, got {path!r}")
    if not isinstance(sd, Mapping):
        raise ValueError(f"{path!r} holds a {type(sd).__name__}, not a state dict (a mapping of names to arrays)")
    out = {}
    for k, v in sd.items():
        out[k[len("module."):] if k.startswith("module.") else k] = _to_numpy(v)
    return out


def _conv(w):
    return w.transpose(2, 3, 1, 0)


def _dense(w):
    return w.T


def _same(w):
    return w


def _leaf(collection: str, leaf: str, prefix: str, ndim: int) -> tuple[str, Callable]:
    """torch name and transform of a conv / dense / batch-norm / layer-norm leaf under torch module ``prefix``."""
    if collection == "batch_stats":
        return f"{prefix}.{_BN[leaf]}", _same
    if leaf == "kernel":
        return f"{prefix}.weight", _conv if ndim == 4 else _dense
    return f"{prefix}.{_BN.get(leaf, leaf)}", _same


def _resnet_name(collection: str, path: tuple[str, ...], ndim: int) -> tuple[str, Callable] | None:
    if path[0] == "stem":
        return _leaf(collection, path[-1], "conv1" if path[1] == "conv" else "bn1", ndim)
    if path[0] == "head":
        return _leaf(collection, path[-1], "fc", ndim)
    m = re.fullmatch(r"stage(\d+)_block(\d+)", path[0])
    if m is None or len(path) != 4:
        return None
    block = f"layer{m[1]}.{m[2]}"
    if path[1] == "shortcut":
        return _leaf(collection, path[-1], f"{block}.downsample.{0 if path[2] == 'conv' else 1}", ndim)
    k = path[1][len("conv"):]
    return _leaf(collection, path[-1], f"{block}.{'conv' if path[2] == 'conv' else 'bn'}{k}", ndim)


def _vgg_indices(model: VGG) -> dict[str, int]:
    """``conv{s}_{j}`` -> index of its conv in torchvision's ``features`` (batch norm at index + 1)."""
    idx, out = 0, {}
    for s, filters in enumerate(model.stages):
        for j in range(len(filters)):
            out[f"conv{s + 1}_{j + 1}"] = idx
            idx += 3 if model.batch_norm else 2  # conv, (bn,) relu
        idx += 1  # max-pool
    return out


def _vgg_name(model: VGG) -> Callable:
    indices = _vgg_indices(model)
    last = model.stages[-1][-1]

    def fc1(w):  # torch flattens [C, 7, 7]; our flatten is [7, 7, C]
        return w.reshape(w.shape[0], last, *POOL_SIZE).transpose(2, 3, 1, 0).reshape(-1, w.shape[0])

    def name(collection, path, ndim):
        if path[0] in indices:
            i = indices[path[0]] + (1 if path[1] == "bn" else 0)
            return _leaf(collection, path[-1], f"features.{i}", ndim)
        heads = {"fc1": 0, "fc2": 3, "head": 6}
        if path[0] not in heads:
            return None
        torch_name, fn = _leaf(collection, path[-1], f"classifier.{heads[path[0]]}", ndim)
        return torch_name, (fc1 if path[0] == "fc1" and path[-1] == "kernel" else fn)

    return name


def _vit_name(collection: str, path: tuple[str, ...], ndim: int) -> tuple[str, Callable] | None:
    top = {"cls_token": ("cls_token", _same), "pos_embedding": ("pos_embed", _same)}
    if path[0] in top:
        return top[path[0]]
    simple = {"patch_embed": "patch_embed.proj", "ln_final": "norm", "head": "head"}
    if path[0] in simple:
        return _leaf(collection, path[-1], simple[path[0]], ndim)
    m = re.fullmatch(r"block(\d+)", path[0])
    if m is None:
        return None
    sub = {"ln1": "norm1", "ln2": "norm2", "fc1": "mlp.fc1", "fc2": "mlp.fc2", "attention": "attn"}
    parts = [sub.get(p, p) for p in path[1:-1]]
    return _leaf(collection, path[-1], ".".join([f"blocks.{m[1]}", *parts]), ndim)


def _vit_input(model: VisionTransformer, state_dict: Mapping) -> tuple[int, int, int]:
    pos = state_dict.get("pos_embed")
    tokens = int(np.shape(pos)[1]) - 1 if pos is not None and np.ndim(pos) == 3 else 196
    side = int(round(tokens ** 0.5))
    if side * side != tokens:
        raise ValueError(f"state_dict's pos_embed has {tokens} patch tokens, not a square grid; only square "
                         f"inputs are supported")
    return (side * model.patch_size, side * model.patch_size, 3)


def _plan(model, state_dict) -> tuple[Callable, tuple[int, int, int]]:
    if isinstance(model, ImageNetResNet):
        return _resnet_name, (64, 64, 3)
    if isinstance(model, VGG):
        return _vgg_name(model), (2 ** len(model.stages),) * 2 + (3,)
    if isinstance(model, VisionTransformer):
        if not model.class_token:
            raise ValueError("model must have class_token=True: timm's ViTs without one normalise after pooling "
                             "(fc_norm), which VisionTransformer does not")
        return _vit_name, _vit_input(model, state_dict)
    raise ValueError(f"model must be an ImageNetResNet, VGG or VisionTransformer, got {type(model).__name__}")


def _listed(names) -> str:
    names = list(names)
    more = f" (and {len(names) - _SHOW} more)" if len(names) > _SHOW else ""
    return ", ".join(names[:_SHOW]) + more


def convert_state_dict(state_dict: Mapping[str, object], model) -> PyTree:
    """Variables of ``model`` from a torchvision / timm state dict.

    Args:
        state_dict: ``{name: array}`` as ``torch_model.state_dict()`` names them (NumPy arrays or
            tensors), e.g. from :func:`load_state_dict`.
        model: an :class:`ImageNetResNet`, :class:`VGG` or :class:`VisionTransformer` of the same
            architecture (e.g. ``resnet50(num_classes=1000)``; ``TORCH_ARCHITECTURES[name](classes)``).
            A ViT's input size is read from ``pos_embed`` (224 x 224 for 196 patch tokens).

    Returns:
        ``{"params": ..., "batch_stats": ...}`` (``batch_stats`` only for models with batch norm), float32.

    Raises:
        ValueError: names missing from or unexpected in ``state_dict``, or shapes that differ from the
            model's, with the first few of each listed.
    """
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    name_of, input_shape = _plan(model, state_dict)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros((1, *input_shape), np.float32)))
    # params before batch stats, so that an error lists weights first
    leaves = sorted(jax.tree_util.tree_flatten_with_path(shapes)[0], key=lambda pl: str(pl[0][0].key) != "params")
    plan, unknown = {}, []
    for path, leaf in leaves:
        keys = tuple(str(k.key) for k in path)
        found = name_of(keys[0], keys[1:], len(leaf.shape))
        if found is None:
            unknown.append("/".join(keys))
        else:
            plan[found[0]] = (keys, found[1], tuple(leaf.shape))
    if unknown:
        raise ValueError(f"model has variables with no torch counterpart: {_listed(unknown)}")
    given = {k for k in state_dict if not k.endswith("num_batches_tracked")}
    missing = [k for k in plan if k not in given]
    unexpected = sorted(given - set(plan))
    if missing or unexpected:
        raise ValueError(f"state_dict does not match {type(model).__name__} (another architecture, depth or "
                         f"width?): missing [{_listed(missing)}]; unexpected [{_listed(unexpected)}]")
    out: dict = {}
    wrong = []
    for torch_name, (keys, fn, shape) in plan.items():
        value = _to_numpy(state_dict[torch_name])
        try:
            arr = np.asarray(fn(value), np.float32)
        except ValueError:  # a reshape that the weight's size does not allow
            arr = value
        if arr.shape != shape:
            wrong.append(f"{torch_name} {tuple(value.shape)} (model needs {shape} as {'/'.join(keys)})")
            continue
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = arr
    if wrong:
        raise ValueError(f"state_dict shapes do not match {type(model).__name__}: {_listed(wrong)}")
    return out


def load_torch_weights(path: str | os.PathLike, model) -> PyTree:
    """``convert_state_dict(load_state_dict(path), model)``: a weights file into ``model``'s variables."""
    return convert_state_dict(load_state_dict(path), model)


def _num_classes(name: str, state_dict: Mapping) -> int:
    head = {"resnet": "fc.weight", "resnext": "fc.weight", "vgg": "classifier.6.weight"}
    key = next((v for k, v in head.items() if name.startswith(k)), "head.weight")
    if key not in state_dict:
        raise ValueError(f"state_dict has no {key!r}: it is not a {name} state dict")
    return int(np.shape(state_dict[key])[0])


def load_torch_model(name: str, weights: str | os.PathLike | Mapping[str, object]) -> tuple[object, PyTree]:
    """The ssvepjax model equivalent to torchvision / timm's ``name`` and its converted weights.

    Args:
        name: a key of :data:`TORCH_ARCHITECTURES` (``"resnet50"``, ``"vgg16_bn"``,
            ``"vit_small_patch16_224"``, ...).
        weights: a weights file (:func:`load_state_dict`) or a state dict. The number of classes is
            read from the classifier's weight.

    Returns:
        ``(model, variables)``: ``model.apply(variables, images [N, H, W, 3], train=False)`` gives the
        logits of the torch model on ``images`` (NHWC, normalised as the torch model expects).
    """
    if name not in TORCH_ARCHITECTURES:
        raise ValueError(f"name must be one of {sorted(TORCH_ARCHITECTURES)}, got {name!r}")
    sd = weights if isinstance(weights, Mapping) else load_state_dict(weights)
    model = TORCH_ARCHITECTURES[name](_num_classes(name, sd))
    return model, convert_state_dict(sd, model)
