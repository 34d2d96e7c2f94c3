"""VGG networks (Simonyan & Zisserman 2015), laid out as torchvision's ``vgg11/13/16/19`` (with or without BN).

Stages of 3x3 convs (padding 1, with bias) separated by 2x2 stride-2 max-pools (floor), each conv
followed (with ``batch_norm``) by batch norm (epsilon 1e-5, as torch) and ReLU; then an adaptive
average pool to 7 x 7 (torch's bins: ``floor(i H / 7)`` to ``ceil((i + 1) H / 7)``, so a 1 x 1 map is
repeated), a flatten and three dense layers (4096, 4096, ``num_classes``) with ReLU between. Dropout
is not applied (it is the identity at evaluation, the only mode probed). The flatten is in NHWC
order; :mod:`ssvepjax.models.torch_weights` permutes the first dense layer of torchvision's
channel-first flatten to match. VGG-16 with 1000 classes has 138,357,544 parameters, as torchvision's.

Recorded units (``sow`` into ``intermediates``; ``linen_fn(model, variables,
capture_intermediates=False, train=False)`` records exactly these): each conv ``conv{s}_{j}`` (stage
``s`` from 1, conv ``j`` from 1 in the stage: ``conv5_3`` is VGG-16's last conv) sows ``pre`` (after
batch norm, if any) and ``post`` (after ReLU); ``fc1`` and ``fc2`` likewise. :func:`vgg_layer_names`
lists them in forward order. A ``conv{s}_{j}`` module's output is its ``post``, so it is a layer
that :func:`ssvepjax.explain.linen_tap` can tap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp

from ssvepjax.models.cifar_resnet import ACTIVATIONS

__all__ = ["VGG_CONFIGS", "VGG", "VGGConfig", "VGGConv", "adaptive_avg_pool", "vgg", "vgg_layer_names"]

#: Filters per conv, stage by stage (a max-pool after each stage): torchvision's configurations A, B, D, E.
VGG_CONFIGS = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
POOL_SIZE = (7, 7)  # torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier
_CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_DENSE_INIT = nn.initializers.normal(0.01)


def _bins(n: int, out: int) -> list[tuple[int, int]]:
    return [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]


def adaptive_avg_pool(x, size: tuple[int, int] = POOL_SIZE):
    """Average over torch's adaptive bins: ``[N, H, W, C] -> [N, size[0], size[1], C]``.

    Bin ``i`` of an axis of length ``n`` covers ``floor(i n / out)`` to ``ceil((i + 1) n / out)``
    (exclusive), as ``torch.nn.AdaptiveAvgPool2d``; the shapes are static, so the bins are too.
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape [N, H, W, C], got shape {x.shape}")
    _, h, w, _ = x.shape
    # Concatenations of kept-dims means (not jnp.stack): pruning's dependency analysis follows every op of it.
    rows = [jnp.concatenate([x[:, a:b, c:d].mean((1, 2), keepdims=True) for c, d in _bins(w, size[1])], axis=2)
            for a, b in _bins(h, size[0])]
    return jnp.concatenate(rows, axis=1)


class VGGConv(nn.Module):
    """3x3 conv with bias (-> batch norm) -> nonlinearity (ReLU), sowing ``pre`` and ``post``."""

    features: int
    batch_norm: bool = False
    act: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool):
        y = nn.Conv(self.features, (3, 3), padding=[(1, 1), (1, 1)], kernel_init=_CONV_INIT, name="conv")(x)
        if self.batch_norm:
            y = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name="bn")(y)
        self.sow("intermediates", "pre", y)
        y = ACTIVATIONS[self.act](y)
        self.sow("intermediates", "post", y)
        return y


class _DenseReLU(nn.Module):
    features: int
    act: str = "relu"

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.features, kernel_init=_DENSE_INIT, name="dense")(x)
        self.sow("intermediates", "pre", y)
        y = ACTIVATIONS[self.act](y)
        self.sow("intermediates", "post", y)
        return y


def _check_stages(stages) -> tuple[tuple[int, ...], ...]:
    ok = isinstance(stages, Sequence) and len(stages) > 0 and all(
        isinstance(s, Sequence) and len(s) > 0 and all(isinstance(f, int) and f >= 1 for f in s) for s in stages)
    if not ok:
        raise ValueError(f"stages must be a non-empty sequence of non-empty sequences of filter counts "
                         f"(VGG-16: {VGG_CONFIGS['vgg16']}), got {stages!r}")
    return tuple(tuple(s) for s in stages)


class VGG(nn.Module):
    """VGG for images ``[N, H, W, C]`` (H, W >= 2**len(stages)) -> logits ``[N, num_classes]``.

    Attributes:
        stages: filters of each conv, stage by stage (:data:`VGG_CONFIGS`).
        batch_norm: batch norm after every conv (torchvision's ``vgg*_bn``).
        num_classes: output classes.
        hidden: width of the two hidden dense layers (4096 in torchvision).
        pool_size: the adaptive average pool's output before the classifier (torchvision's 7 x 7).
        act: nonlinearity name in ``ACTIVATIONS``.
        pool: ``"max"`` (VGG's) or ``"avg"`` pooling between stages; with ``act="identity"``, ``"avg"`` makes the
            network affine (max-pooling is itself a nonlinearity): the linear control.
    """

    stages: Sequence[Sequence[int]] = VGG_CONFIGS["vgg16"]
    batch_norm: bool = False
    num_classes: int = 1000
    hidden: int = 4096
    pool_size: tuple[int, int] = POOL_SIZE
    act: str = "relu"
    pool: str = "max"

    @nn.compact
    def __call__(self, x, train: bool = False):
        stages = _check_stages(self.stages)
        for name in ("num_classes", "hidden"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")
        if self.pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {self.pool!r}")
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, H, W, C], got shape {x.shape}")
        if min(x.shape[1:3]) < 2 ** len(stages):
            raise ValueError(f"image height and width must be >= {2 ** len(stages)} ({len(stages)} max-pools), "
                             f"got {x.shape[1]} x {x.shape[2]}")
        for s, filters in enumerate(stages):
            for j, f in enumerate(filters):
                x = VGGConv(f, self.batch_norm, self.act, name=f"conv{s + 1}_{j + 1}")(x, train)
            x = (nn.avg_pool if self.pool == "avg" else nn.max_pool)(x, (2, 2), strides=(2, 2))
        x = adaptive_avg_pool(x, tuple(self.pool_size)).reshape(x.shape[0], -1)
        x = _DenseReLU(self.hidden, self.act, name="fc1")(x)
        x = _DenseReLU(self.hidden, self.act, name="fc2")(x)
        return nn.Dense(self.num_classes, kernel_init=_DENSE_INIT, name="head")(x)


def vgg(name: str = "vgg16", num_classes: int = 1000, *, batch_norm: bool = False) -> VGG:
    """torchvision's ``name`` (``vgg11``, ``vgg13``, ``vgg16``, ``vgg19``; ``batch_norm`` for ``*_bn``)."""
    if name not in VGG_CONFIGS:
        raise ValueError(f"name must be one of {sorted(VGG_CONFIGS)}, got {name!r}")
    return VGG(VGG_CONFIGS[name], batch_norm, num_classes)


def vgg_layer_names(stages: str | Sequence[Sequence[int]] = "vgg16") -> list[str]:
    """Names that ``linen_fn(VGG(stages), ..., capture_intermediates=False)`` records, in forward order.

    ``conv{s}_{j}/pre``, ``conv{s}_{j}/post`` for every conv, then ``fc1`` and ``fc2`` likewise.
    ``stages`` is a name in :data:`VGG_CONFIGS` or the filters themselves.
    """
    if isinstance(stages, str):
        if stages not in VGG_CONFIGS:
            raise ValueError(f"stages must be one of {sorted(VGG_CONFIGS)} or filter counts, got {stages!r}")
        stages = VGG_CONFIGS[stages]
    names = []
    for s, filters in enumerate(_check_stages(stages)):
        for j in range(len(filters)):
            names += [f"conv{s + 1}_{j + 1}/pre", f"conv{s + 1}_{j + 1}/post"]
    return names + ["fc1/pre", "fc1/post", "fc2/pre", "fc2/post"]


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """A small VGG with batch norm for the embedded 28 x 28 digits, one of the job's architectures (static).

    Three stages of two 3x3 convs (16, 32, 64 filters) with batch norm and a max-pool each (28 -> 14 -> 7 -> 3),
    the 3 x 3 map kept as it is (``pool_size``), two hidden dense layers of 128: 0.16 M parameters, a plain
    feed-forward CNN with no shortcut beside the ResNet. The interface is :class:`~ssvepjax.models.ModelConfig`'s.

    Attributes:
        stages: filters of each conv, stage by stage.
        hidden: width of the two hidden dense layers.
        pool_size: the adaptive pool's output (``(3, 3)`` keeps a 28 x 28 input's last map).
        act: nonlinearity name in ``ACTIVATIONS``.
    """

    arch: ClassVar[str] = "vgg"

    stages: tuple[tuple[int, ...], ...] = ((16, 16), (32, 32), (64, 64))
    hidden: int = 128
    pool_size: tuple[int, int] = (3, 3)
    act: str = "relu"

    def __post_init__(self):
        _check_stages(self.stages)
        if not isinstance(self.hidden, int) or isinstance(self.hidden, bool) or self.hidden < 1:
            raise ValueError(f"hidden must be an integer >= 1, got {self.hidden!r}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")

    def build(self, num_classes: int, act: str | None = None) -> VGG:
        """The network (``act`` replaces the nonlinearity, e.g. ``"identity"`` for a linear control)."""
        return VGG(self.stages, True, num_classes, self.hidden, tuple(self.pool_size), act or self.act)

    @property
    def label(self) -> str:
        """``"VGG-9"``: weight layers (convs and dense layers) counted as in VGG-16."""
        return f"VGG-{sum(len(s) for s in self.stages) + 3}"

    def recorded_layers(self) -> list[str]:
        """Every conv's and hidden dense layer's ``pre`` and ``post``, in forward order."""
        return vgg_layer_names(self.stages)

    def nonlinear_layers(self) -> list[str]:
        """Every conv's and hidden dense layer's ``post``."""
        return [n for n in self.recorded_layers() if n.endswith("/post")]

    def map_layers(self) -> list[str]:
        """Layers whose units lie on the image's grid, to draw as maps: the first conv and each stage's last."""
        return ["conv1_1/post"] + [f"conv{s + 1}_{len(f)}/post" for s, f in enumerate(self.stages)]

    def where_layers(self) -> list[str]:
        """The layers of the ``where`` experiment: the first conv before and after its ReLU, then every conv."""
        convs = [n for n in self.recorded_layers() if n.startswith("conv")]
        return ["conv1_1/pre"] + [n for n in convs if n.endswith("/post")]

    def geometry(self, layer: str) -> tuple[tuple[int, int, int], ...]:
        """``(kernel, stride, padding)`` from the input up to conv ``layer`` (``conv{s}_{j}``, with or without
        ``/pre``/``/post``): 3x3 convs with padding 1, a 2x2 stride-2 max-pool after each stage."""
        name = layer.split("/")[0]
        out = []
        for s, filters in enumerate(self.stages):
            for j in range(len(filters)):
                out.append((3, 1, 1))
                if name == f"conv{s + 1}_{j + 1}":
                    return tuple(out)
            out.append((2, 2, 0))
        raise ValueError(f"layer must be a conv of the VGG (conv1_1 .. conv{len(self.stages)}_"
                         f"{len(self.stages[-1])}), got {layer!r}")
