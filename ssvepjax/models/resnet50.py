"""ImageNet-style ResNets with bottleneck blocks (He et al. 2016), ResNet-50 by default, instrumented for probing.

A 7x7 stride-2 stem conv with ``width`` filters, batch norm and ReLU, a 3x3 stride-2 max-pool, then
four stages of bottleneck blocks (``stage_sizes``, [3, 4, 6, 3] for ResNet-50) and global average
pooling into a dense classifier. A bottleneck block is 1x1 conv (``w`` filters) -> 3x3 conv (``w``,
stride 2 in the first block of stages 2-4) -> 1x1 conv (``4 w``), each followed by batch norm, with
``w = width * 2**stage``; the ReLU after the third conv follows the residual addition. Shortcuts that
change shape are a 1x1 projection conv with batch norm. The stride sits in the 3x3 conv ("ResNet v1.5",
as in torchvision and the Flax examples; the parameter count is that of the original). ResNet-50 with
1000 classes has 25,557,032 parameters (25.56 M), as torchvision's ``resnet50``.

Recorded units (``sow`` into ``intermediates``, so ``linen_fn(model, variables,
capture_intermediates=False, train=False)`` records exactly these): every conv with a nonlinearity
sows its pre-activation (after batch norm, and after the residual addition for ``conv3``) as ``pre``
and its post-activation as ``post``; the projection shortcut, which feeds the addition and has no
nonlinearity of its own, sows its output (after batch norm) as ``pre``. :func:`resnet_layer_names`
lists the recorded names in forward order. The max-pool output is not recorded (a selection of the
stem's ``post`` units).

The tiny configurations used in tests (``ImageNetResNet(stage_sizes=(1, 1), width=4, num_classes=10)``)
run the same code.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from ssvepjax.models.cifar_resnet import ACTIVATIONS

__all__ = ["RESNET50_STAGES", "ConvBN", "Bottleneck", "ImageNetResNet", "resnet50", "resnet_layer_names"]

RESNET50_STAGES = (3, 4, 6, 3)
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
    """

    features: int
    kernel: int = 3
    strides: int = 1
    act: str | None = "relu"

    @nn.compact
    def __call__(self, x, train: bool, shortcut=None):
        pad = (self.kernel - 1) // 2
        y = nn.Conv(self.features, (self.kernel, self.kernel), strides=self.strides, padding=[(pad, pad)] * 2,
                    use_bias=False, kernel_init=_CONV_INIT, name="conv")(x)
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
    """1x1 -> 3x3 (stride) -> 1x1 convs with ``EXPANSION * features`` outputs and a residual addition."""

    features: int
    strides: int = 1
    act: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool):
        out = self.features * EXPANSION
        shortcut = x
        if self.strides != 1 or x.shape[-1] != out:
            shortcut = ConvBN(out, 1, self.strides, None, name="shortcut")(x, train)
        y = ConvBN(self.features, 1, 1, self.act, name="conv1")(x, train)
        y = ConvBN(self.features, 3, self.strides, self.act, name="conv2")(y, train)
        return ConvBN(out, 1, 1, self.act, name="conv3")(y, train, shortcut)


class ImageNetResNet(nn.Module):
    """Bottleneck ResNet for images ``[N, H, W, C]`` -> logits ``[N, num_classes]``.

    Attributes:
        stage_sizes: bottleneck blocks per stage (``RESNET50_STAGES`` = (3, 4, 6, 3): ResNet-50;
            (3, 4, 23, 3): ResNet-101).
        num_classes: output classes (1000 for ImageNet).
        width: filters of the stem and of the first stage's 3x3 convs (64 in ResNet-50); stage s
            uses ``width * 2**s`` and outputs 4 times as many channels.
        act: nonlinearity name in ``ACTIVATIONS`` (``identity`` gives a linear control network).
    """

    stage_sizes: Sequence[int] = RESNET50_STAGES
    num_classes: int = 1000
    width: int = 64
    act: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool = False):
        sizes = _check_stages(self.stage_sizes)
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, H, W, C], got shape {x.shape}")
        x = ConvBN(self.width, 7, 2, self.act, name="stem")(x, train)
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for s, n in enumerate(sizes):
            for b in range(n):
                strides = 2 if (s > 0 and b == 0) else 1
                x = Bottleneck(self.width * 2**s, strides, self.act, name=f"stage{s + 1}_block{b}")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="head")(x)


def resnet50(num_classes: int = 1000, act: str = "relu") -> ImageNetResNet:
    """ResNet-50: ``ImageNetResNet(RESNET50_STAGES, num_classes, 64, act)`` (25.56 M parameters at 1000 classes)."""
    return ImageNetResNet(RESNET50_STAGES, num_classes, 64, act)


def resnet_layer_names(stage_sizes: Sequence[int] = RESNET50_STAGES) -> list[str]:
    """Names that ``linen_fn(ImageNetResNet(stage_sizes), ..., capture_intermediates=False)`` records, in forward order.

    ``stem/pre``, ``stem/post``, then per block ``stage{s}_block{b}/shortcut/pre`` (first block of a
    stage, where the shape changes), ``.../conv1/pre``, ``.../conv1/post``, ``conv2`` and ``conv3``
    likewise (``conv3/pre`` includes the shortcut). ``"output"`` (the logits), which ``linen_fn``
    adds, is not listed. ResNet-50 records 102 layers (20.7 M units at 224 x 224).
    """
    names = ["stem/pre", "stem/post"]
    for s, n in enumerate(_check_stages(stage_sizes)):
        for b in range(n):
            block = f"stage{s + 1}_block{b}"
            if b == 0:  # the first block changes channels (x4) and, after stage 1, the resolution
                names.append(f"{block}/shortcut/pre")
            for conv in ("conv1", "conv2", "conv3"):
                names += [f"{block}/{conv}/pre", f"{block}/{conv}/post"]
    return names
