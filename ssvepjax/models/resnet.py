"""ImageNet-style ResNets (He et al. 2016) and ResNeXts (Xie et al. 2017), laid out as torchvision's, for probing.

A 7x7 stride-2 stem conv with ``width`` filters (padding 3), batch norm and ReLU, a 3x3 stride-2
max-pool (padding 1, floor), then four stages of blocks (``stage_sizes``) and global average pooling
into a dense classifier. With ``p = width * 2**stage`` ("planes"):

- ``block="basic"`` (ResNet-18/34): 3x3 conv (``p``, stride 2 in the first block of stages 2-4) ->
  3x3 conv (``p``), each followed by batch norm; the second ReLU follows the residual addition.
- ``block="bottleneck"`` (ResNet-50/101/152, ResNeXt): 1x1 conv (``w`` filters) -> 3x3 conv (``w``,
  ``groups`` groups, the stage's stride) -> 1x1 conv (``4 p``), with ``w = int(p * width_per_group /
  64) * groups`` (``w = p`` for ResNets; ResNeXt-50 32x4d: ``groups=32, width_per_group=4``). The stride
  sits in the 3x3 conv ("ResNet v1.5", as in torchvision; the parameter count is that of the original).

Shortcuts that change shape are a 1x1 projection conv (with the stride) and batch norm. Batch norm
uses epsilon 1e-5, as torch. ResNet-50 with 1000 classes has 25,557,032 parameters (25.56 M), as
torchvision's ``resnet50``; :mod:`ssvepjax.models.torch_weights` converts torchvision's weights.

Recorded units (``sow`` into ``intermediates``, so ``linen_fn(model, variables,
capture_intermediates=False, train=False)`` records exactly these): every conv with a nonlinearity
sows its pre-activation (after batch norm, and after the residual addition for a block's last conv,
``conv3`` or a basic block's ``conv2``) as ``pre`` and its post-activation as ``post``; the projection
shortcut, which feeds the addition and has no nonlinearity of its own, sows its output (after batch
norm) as ``pre``. :func:`resnet_layer_names` lists the recorded names in forward order. The max-pool
output is not recorded (a selection of the stem's ``post`` units).

The tiny configurations used in tests (``ImageNetResNet(stage_sizes=(1, 1), width=4, num_classes=10)``)
run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from ssvepjax.models.cifar_resnet import ACTIVATIONS

__all__ = ["RESNET50_STAGES", "RESNET_STAGES", "ConvBN", "Bottleneck", "ResNetBasicBlock", "ImageNetResNet",
           "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnet_layer_names"]

#: Bottleneck blocks per stage of a ResNet-50 (and ResNeXt-50).
RESNET50_STAGES = (3, 4, 6, 3)
#: torchvision's depths: name -> (block, blocks per stage).
RESNET_STAGES = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", RESNET50_STAGES),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
BLOCKS = ("basic", "bottleneck")
EXPANSION = 4  # a bottleneck's output has 4x the filters of its 3x3 conv
# Kaiming normal over fan-out, torchvision's choice for ResNet convs.
_CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _check_stages(stage_sizes) -> tuple[int, ...]:
    sizes = tuple(stage_sizes) if isinstance(stage_sizes, Sequence) else ()
    if not sizes or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"stage_sizes must be a non-empty sequence of integers >= 1 (ResNet-50: "
                         f"{RESNET50_STAGES}), got {stage_sizes!r}")
    return sizes


class ConvBN(nn.Module):
    """Conv -> batch norm (-> + shortcut) -> nonlinearity, sowing ``pre`` and (with ``act``) ``post``.

    Attributes:
        features: output channels.
        kernel: square kernel size.
        strides: stride in both spatial axes.
        act: nonlinearity name in ``ACTIVATIONS``, or None for none (only ``pre`` is sown).
        groups: feature groups of the conv (ResNeXt's grouped 3x3 convs).
    """

    features: int
    kernel: int = 3
    strides: int = 1
    act: str | None = "relu"
    groups: int = 1

    @nn.compact
    def __call__(self, x, train: bool, shortcut=None):
        pad = (self.kernel - 1) // 2
        y = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.strides, padding=[(pad, pad)] * 2,
                    use_bias=False, kernel_init=_CONV_INIT, feature_group_count=self.groups, name="conv")(x)
        y = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name="bn")(y)
        if shortcut is not None:
            y = y + shortcut
        self.sow("intermediates", "pre", y)
        if self.act is None:
            return y
        y = ACTIVATIONS[self.act](y)
        self.sow("intermediates", "post", y)
        return y


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride, groups) -> 1x1 convs with ``EXPANSION * features`` outputs and a residual addition.

    ``features`` are the block's planes ``p``; the inner convs have ``int(p * width_per_group / 64) *
    groups`` filters (``p`` with the defaults).
    """

    features: int
    strides: int = 1
    act: str = "relu"
    groups: int = 1
    width_per_group: int = 64

    @nn.compact
    def __call__(self, x, train: bool):
        out = self.features * EXPANSION
        inner = int(self.features * (self.width_per_group / 64.0)) * self.groups
        shortcut = x
        if self.strides != 1 or x.shape[-1] != out:
            shortcut = ConvBN(out, 1, self.strides, None, name="shortcut")(x, train)
        y = ConvBN(inner, 1, 1, self.act, name="conv1")(x, train)
        y = ConvBN(inner, 3, self.strides, self.act, self.groups, name="conv2")(y, train)
        return ConvBN(out, 1, 1, self.act, name="conv3")(y, train, shortcut)


class ResNetBasicBlock(nn.Module):
    """3x3 (stride) -> 3x3 convs with ``features`` outputs and a residual addition (ResNet-18/34)."""

    features: int
    strides: int = 1
    act: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool):
        shortcut = x
        if self.strides != 1 or x.shape[-1] != self.features:
            shortcut = ConvBN(self.features, 1, self.strides, None, name="shortcut")(x, train)
        y = ConvBN(self.features, 3, self.strides, self.act, name="conv1")(x, train)
        return ConvBN(self.features, 3, 1, self.act, name="conv2")(y, train, shortcut)


class ImageNetResNet(nn.Module):
    """ImageNet-style ResNet for images ``[N, H, W, C]`` -> logits ``[N, num_classes]``.

    Attributes:
        stage_sizes: bottleneck blocks per stage (``RESNET50_STAGES`` = (3, 4, 6, 3): ResNet-50;
            (3, 4, 23, 3): ResNet-101).
        num_classes: output classes (1000 for ImageNet).
        width: filters of the stem and of the first stage's 3x3 convs (64 in ResNet-50); stage s
            uses ``width * 2**s`` and outputs 4 times as many channels.
        act: nonlinearity name in ``ACTIVATIONS`` (``identity`` gives a linear control network).
        block: ``"bottleneck"`` (outputs 4 times the planes) or ``"basic"`` (two 3x3 convs).
        groups: groups of the bottleneck's 3x3 conv (32 in ResNeXt-50 32x4d).
        width_per_group: filters per group of the bottleneck's inner convs at 64 planes (4 in
            ResNeXt-50 32x4d; 64 keeps the inner width equal to the planes).
    """

    stage_sizes: Sequence[int] = RESNET50_STAGES
    num_classes: int = 1000
    width: int = 64
    act: str = "relu"
    block: str = "bottleneck"
    groups: int = 1
    width_per_group: int = 64

    @nn.compact
    def __call__(self, x, train: bool = False):
        sizes = _check_stages(self.stage_sizes)
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {BLOCKS}, got {self.block!r}")
        for name in ("groups", "width_per_group"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.block == "basic" and (self.groups, self.width_per_group) != (1, 64):
            raise ValueError("block='basic' supports only groups=1 and width_per_group=64 (as torchvision)")
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, H, W, C], got shape {x.shape}")
        x = ConvBN(self.width, 7, 2, self.act, name="stem")(x, train)
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for s, n in enumerate(sizes):
            for b in range(n):
                strides = 2 if (s > 0 and b == 0) else 1
                name = f"stage{s + 1}_block{b}"
                if self.block == "basic":
                    x = ResNetBasicBlock(self.width * 2**s, strides, self.act, name=name)(x, train)
                else:
                    x = Bottleneck(self.width * 2**s, strides, self.act, self.groups, self.width_per_group,
                                   name=name)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="head")(x)


def _named(name: str, num_classes: int, act: str) -> ImageNetResNet:
    block, sizes = RESNET_STAGES[name]
    return ImageNetResNet(sizes, num_classes, 64, act, block)


def resnet18(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-18 (basic blocks, stages (2, 2, 2, 2); 11.69 M parameters at 1000 classes, as torchvision's)."""
    return _named("resnet18", num_classes, act)


def resnet34(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-34 (basic blocks, stages (3, 4, 6, 3); 21.80 M parameters at 1000 classes)."""
    return _named("resnet34", num_classes, act)


def resnet50(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-50: ``ImageNetResNet(RESNET50_STAGES, num_classes, 64, act)`` (25.56 M parameters at 1000 classes)."""
    return _named("resnet50", num_classes, act)


def resnet101(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-101 (bottlenecks, stages (3, 4, 23, 3); 44.55 M parameters at 1000 classes)."""
    return _named("resnet101", num_classes, act)


def resnet152(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-152 (bottlenecks, stages (3, 8, 36, 3); 60.19 M parameters at 1000 classes)."""
    return _named("resnet152", num_classes, act)


def resnext50_32x4d(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNeXt-50 32x4d (ResNet-50 stages, 32 groups of 4 filters at 64 planes; 25.03 M parameters)."""
    return ImageNetResNet(RESNET50_STAGES, num_classes, 64, act, "bottleneck", 32, 4)


def resnet_layer_names(stage_sizes: Sequence[int] = RESNET50_STAGES, block: str = "bottleneck") -> list[str]:
    """Names that ``linen_fn(ImageNetResNet(stage_sizes), ..., capture_intermediates=False)`` records, in forward order.

    ``stem/pre``, ``stem/post``, then per block ``stage{s}_block{b}/shortcut/pre`` (first block of a
    stage, where the shape changes), ``.../conv1/pre``, ``.../conv1/post``, ``conv2`` and ``conv3``
    likewise (``conv3/pre`` includes the shortcut). ``"output"`` (the logits), which ``linen_fn``
    adds, is not listed. ResNet-50 records 102 layers (20.7 M units at 224 x 224).
    """
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    convs = ("conv1", "conv2") if block == "basic" else ("conv1", "conv2", "conv3")
    names = ["stem/pre", "stem/post"]
    for s, n in enumerate(_check_stages(stage_sizes)):
        for b in range(n):
            prefix = f"stage{s + 1}_block{b}"
            # the first block changes channels (x4 for bottlenecks) and, after stage 1, the resolution;
            # basic blocks of stage 1 keep both and have no projection
            if b == 0 and (block == "bottleneck" or s > 0):
                names.append(f"{prefix}/shortcut/pre")
            for conv in convs:
                names += [f"{prefix}/{conv}/pre", f"{prefix}/{conv}/post"]
    return names
