"""CIFAR-style ResNets (He et al. 2016, section 4.2) in Flax Linen, instrumented for probing.

Depth ``6n + 2``: a 3x3 stem conv with 16 filters, then three stages of ``n`` basic blocks with
16, 32 and 64 filters (stride 2 at the start of stages 2 and 3), global average pooling and a
dense classifier. ResNet-32 (n = 5) has 31 conv layers and about 0.46 M parameters. Shortcuts that
change shape are the parameter-free option A (stride-2 subsampling, zero-padded channels), as in
the original CIFAR ResNets.

Every conv layer sows its pre-activation (after batch norm, and after the residual addition for
the second conv of a block, since the ReLU follows the addition) as ``pre`` and its
post-activation as ``post`` into the ``intermediates`` collection, so ``probe.linen_fn(model,
variables, capture_intermediates=False, train=False)`` records every unit before and after the
nonlinearity. ``act`` swaps the nonlinearity (``identity`` gives the linear control network).

``widths`` and ``shortcut_channels`` describe a structurally pruned network (``ssvepjax.pruning``):
any number of filters per conv layer, with option-A shortcuts that place each channel of a stage's
residual stream on a chosen channel of the next stage's wider stream. Left at None they give the
standard architecture above, with the same parameter names and the same sown values.

Layer lists (:func:`conv_layer_names`, :func:`stage_end_layers`) and the receptive-field geometry of each layer
(:func:`conv_geometry`, for ``ssvepjax.analysis.receptive``) are the architecture's, so they live here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

#: The nonlinearities a ``CifarResNet`` takes by name (``identity`` makes the linear control).
ACTIVATIONS: dict[str, Callable] = {"relu": nn.relu, "identity": lambda x: x, "gelu": nn.gelu,
                                   "gelu_exact": lambda x: nn.gelu(x, approximate=False)}


def resnet_blocks(depth: int) -> int:
    """Blocks per stage ``n`` for a CIFAR ResNet of ``depth = 6n + 2``; ValueError otherwise."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110), got {depth!r}")
    return (depth - 2) // 6


class _Probed(nn.Module):
    """Conv -> BN (-> + shortcut) -> act, sowing ``pre`` and ``post``."""

    features: int
    strides: int = 1
    act: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool, shortcut=None):
        y = nn.Conv(self.features, (3, 3), strides=self.strides, padding=1, use_bias=False, name="conv")(x)
        y = nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(y)
        if shortcut is not None:
            y = y + shortcut
        self.sow("intermediates", "pre", y)
        y = ACTIVATIONS[self.act](y)
        self.sow("intermediates", "post", y)
        return y


def _place_channels(x, idx: np.ndarray, features: int):
    """``[..., c_in] -> [..., features]`` with input channel j on output channel ``idx[j]``, zeros elsewhere.

    Built from static slices and zero blocks (runs of consecutive channels), which XLA lowers to
    copies; a scatter would cost more on CPU.
    """
    src = np.full(features, -1)
    src[idx] = np.arange(len(idx))
    pieces, c = [], 0
    while c < features:
        e = c + 1
        if src[c] < 0:
            while e < features and src[e] < 0:
                e += 1
            pieces.append(jnp.zeros((*x.shape[:-1], e - c), x.dtype))
        else:
            while e < features and src[e] == src[e - 1] + 1:
                e += 1
            pieces.append(x[..., src[c]:src[c] + e - c])
        c = e
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=-1)


class BasicBlock(nn.Module):
    """Two probed convs with a residual addition before the second ReLU.

    Attributes:
        features: filters of the second conv, the width of the residual stream after the block.
        strides: stride of the first conv (and of the shortcut's subsampling).
        act: nonlinearity name in ``ACTIVATIONS``.
        inner: filters of the first conv (None: ``features``).
        shortcut_channels: for a shortcut that changes shape, the output channel that each input
            channel lands on (None: the centred zero padding of option A).
    """

    features: int
    strides: int = 1
    act: str = "relu"
    inner: int | None = None
    shortcut_channels: tuple[int, ...] | None = None

    @nn.compact
    def __call__(self, x, train: bool):
        shortcut = x
        c_in = x.shape[-1]
        if self.strides != 1 or c_in != self.features or self.shortcut_channels is not None:
            # Option A: subsample, then zero-pad the new channels (no parameters).
            shortcut = x[:, :: self.strides, :: self.strides, :]
            if self.shortcut_channels is None:
                pad = self.features - c_in
                if pad < 0:
                    raise ValueError(f"an option-A shortcut cannot narrow the stream from {c_in} to "
                                     f"{self.features} channels")
                shortcut = jnp.pad(shortcut, ((0, 0), (0, 0), (0, 0), (pad // 2, pad - pad // 2)))
            else:
                idx = np.asarray(self.shortcut_channels, np.int64)
                if idx.shape != (c_in,) or len(set(idx.tolist())) != c_in or idx.min() < 0 \
                        or idx.max() >= self.features:
                    raise ValueError(f"shortcut_channels must hold {c_in} distinct channels in "
                                     f"[0, {self.features}), got {self.shortcut_channels!r}")
                shortcut = _place_channels(shortcut, idx, self.features)
        y = _Probed(self.inner or self.features, self.strides, self.act, name="conv1")(x, train)
        return _Probed(self.features, 1, self.act, name="conv2")(y, train, shortcut)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images ``[N, H, W, C]`` -> logits ``[N, num_classes]``.

    Attributes:
        depth: 6n + 2 (32 gives ResNet-32).
        num_classes: output classes.
        width: filters of the first stage (16 in the paper; stages use width, 2*width, 4*width).
        act: nonlinearity name in ``ACTIVATIONS``.
        widths: filters of every conv layer in ``conv_layer_names(depth)`` order (None: the standard
            widths). The stem and the second convs of a stage write into one residual stream, so
            they must agree within a stage.
        shortcut_channels: one tuple per stage transition (stage 1 -> 2, stage 2 -> 3): the channel
            of the wider stream that each channel of the narrower one lands on (None: option A's
            centred zero padding).
    """

    depth: int = 32
    num_classes: int = 10
    width: int = 16
    act: str = "relu"
    widths: tuple[int, ...] | None = None
    shortcut_channels: tuple[tuple[int, ...], ...] | None = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        n = resnet_blocks(self.depth)
        w = layer_widths(self.depth, self.width, self.widths)
        if self.shortcut_channels is not None and len(self.shortcut_channels) != 2:
            raise ValueError(f"shortcut_channels must hold 2 tuples (stage 1 -> 2, stage 2 -> 3), got "
                             f"{len(self.shortcut_channels)}")
        x = _Probed(w[0], 1, self.act, name="stem")(x, train)
        for s in range(3):
            for b in range(n):
                strides = 2 if (s > 0 and b == 0) else 1
                i = 1 + 2 * (s * n + b)
                sc = None
                if self.shortcut_channels is not None and s > 0 and b == 0:
                    sc = tuple(int(c) for c in self.shortcut_channels[s - 1])
                x = BasicBlock(w[i + 1], strides, self.act, w[i], sc, name=f"stage{s + 1}_block{b}")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="head")(x)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A CIFAR ResNet's settings (static), one of the job's architectures (``models.configs``).

    Every architecture's configuration offers the same interface: ``arch``, ``label``, ``build(num_classes)``,
    ``recorded_layers()`` (every sown activation, in forward order) and ``nonlinear_layers()`` (those after a
    nonlinearity: the rows of a post-activation table).
    """

    arch: ClassVar[str] = "resnet"

    depth: int = 32
    width: int = 16
    act: str = "relu"

    def __post_init__(self):
        resnet_blocks(self.depth)
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")

    def build(self, num_classes: int, act: str | None = None) -> CifarResNet:
        """The network (``act`` replaces the nonlinearity, e.g. ``"identity"`` for a linear control)."""
        return CifarResNet(self.depth, num_classes, self.width, act or self.act)

    @property
    def label(self) -> str:
        """``"ResNet-32"``."""
        return f"ResNet-{self.depth}"

    def recorded_layers(self) -> list[str]:
        """Every conv layer's ``pre`` and ``post`` (the stem first)."""
        return [f"{n}/{s}" for n in conv_layer_names(self.depth) for s in ("pre", "post")]

    def nonlinear_layers(self) -> list[str]:
        """Every conv layer's ``post`` (after the residual addition and the nonlinearity)."""
        return [f"{n}/post" for n in conv_layer_names(self.depth)]

    def map_layers(self) -> list[str]:
        """Layers whose units lie on the image's grid, to draw as maps: the stem and each stage's end (post)."""
        return stage_end_layers(self.depth)

    def where_layers(self) -> list[str]:
        """The layers of the ``where`` experiment: the stem (before and after its ReLU), every stage-1 conv, and
        the first and last convs of stages 2 and 3."""
        names = conv_layer_names(self.depth)
        n = resnet_blocks(self.depth)
        stage1 = [x for x in names if x.startswith("stage1_")]
        later = [f"stage{s}_block0/conv1" for s in (2, 3)] + [f"stage{s}_block{n - 1}/conv2" for s in (2, 3)]
        keep = set(stage1) | {x for x in later if x in names}
        return ["stem/pre", "stem/post"] + [f"{x}/post" for x in names if x in keep]

    def geometry(self, layer: str) -> tuple[tuple[int, int, int], ...]:
        """``(kernel, stride, padding)`` from the input up to ``layer`` (a recorded name): :func:`conv_geometry`."""
        return conv_geometry(self.depth, layer.rsplit("/", 1)[0] if layer.endswith(("/pre", "/post")) else layer)


def layer_widths(depth: int, width: int = 16, widths=None) -> tuple[int, ...]:
    """Filters of every conv layer in ``conv_layer_names(depth)`` order; checks explicit ``widths``."""
    n = resnet_blocks(depth)
    if widths is None:
        return tuple([width] + [width * 2**s for s in range(3) for _ in range(2 * n)])
    widths = tuple(widths)
    if len(widths) != 6 * n + 1 or any(not isinstance(c, (int, np.integer)) or c < 1 for c in widths):
        raise ValueError(f"widths must hold {6 * n + 1} integers >= 1 (one per conv layer of depth {depth}), "
                         f"got {widths!r}")
    for s in range(3):
        stream = [widths[2 + 2 * (s * n + b)] for b in range(n)] + ([widths[0]] if s == 0 else [])
        if len(set(stream)) != 1:
            raise ValueError(f"widths: the stem and second convs of stage {s + 1} share one residual stream and "
                             f"need one width, got {stream}")
    return tuple(int(c) for c in widths)


def conv_layer_names(depth: int) -> list[str]:
    """Names of the conv layers of a CIFAR ResNet in forward order (``stem``, ``stage1_block0/conv1``...)."""
    n = resnet_blocks(depth)
    names = ["stem"]
    for s in range(3):
        for b in range(n):
            names += [f"stage{s + 1}_block{b}/conv1", f"stage{s + 1}_block{b}/conv2"]
    return names


def stage_end_layers(depth: int, suffix: str = "/post") -> list[str]:
    """The stem and the last conv of each stage (the residual stream after the stem and after each stage).

    Args:
        depth: 6n + 2.
        suffix: appended to every name: ``"/post"`` (post-activation, the default), ``"/pre"``, or ``""`` for
            the bare names of :func:`conv_layer_names`.
    """
    n = resnet_blocks(depth)
    return [f"stem{suffix}"] + [f"stage{s}_block{n - 1}/conv2{suffix}" for s in (1, 2, 3)]


def _base_layer(layer: str) -> str:
    for suffix in ("/pre", "/post"):
        if layer.endswith(suffix):
            return layer[: -len(suffix)]
    return layer


def conv_strides(depth: int, layer: str) -> list[int]:
    """Strides of the 3x3 convs from the input up to and including ``layer``.

    ``layer`` is a name of ``conv_layer_names(depth)``, optionally with ``/pre`` or ``/post``; ``ValueError``
    naming the valid names otherwise.
    """
    n = resnet_blocks(depth)
    names = conv_layer_names(depth)
    base = _base_layer(layer)
    if base not in names:
        raise ValueError(f"unknown layer name {layer!r} for depth {depth}; valid: {names} (optionally /pre, /post)")
    strides = [1]  # stem
    for s in range(3):
        for b in range(n):
            strides += [2 if (s > 0 and b == 0) else 1, 1]
    return strides[: names.index(base) + 1]


def conv_geometry(depth: int, layer: str) -> tuple[tuple[int, int, int], ...]:
    """``(kernel, stride, padding)`` of each conv from the input up to ``layer``: its receptive-field geometry.

    The theoretical receptive field of a CIFAR ResNet is that of its longest path, every conv (3x3, padding 1,
    its stride): an option-A shortcut reads the centre pixel of the conv path's window, so every shortcut path
    lies inside it. Pass the result to ``ssvepjax.analysis.receptive`` (``receptive_field_spans``,
    ``rf_classes``, ...).
    """
    return tuple((3, s, 1) for s in conv_strides(depth, layer))
