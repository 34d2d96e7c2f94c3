"""A vision transformer (Dosovitskiy et al. 2021) in Flax Linen, instrumented for probing.

Non-overlapping ``patch_size`` x ``patch_size`` patches are embedded by one linear map (a strided
conv), an optional learned class token is prepended, learned position embeddings are added, and
``depth`` pre-norm blocks follow:

    h = x + attn(LN(x)),    out = h + mlp(LN(h)),    mlp(y) = W2 gelu(W1 y + b1) + b2,

with multi-head self-attention over all tokens (one ``qkv`` dense layer, softmax, output projection
``proj``). A final layer norm and a dense classifier read the class token (the mean over patch tokens
without one). Layer norms use epsilon 1e-6, the MLP is ``mlp_ratio`` times wider than the tokens, and
the parameter layout is that of the reference models: ViT-Ti/16, S/16 and B/16 at 224 x 224 with
1000 classes have 5,717,416, 22,050,664 and 86,567,656 parameters (timm's ``vit_*_patch16_224``).

Recorded units (``sow`` into ``intermediates``; ``linen_fn(model, variables,
capture_intermediates=False)`` records exactly these), each ``[n_tokens, dim]`` per frame with the
class token (if any) first and patch tokens in row-major order of the patch grid:

- ``embed``: patch embeddings plus position embeddings, the input of block 0. A patch token is a
  linear function of its own patch's pixels: no token has seen another yet.
- ``block{i}/attn``: the attention sublayer's output (before the residual addition): the first place
  where tokens mix.
- ``block{i}/mlp``: the MLP sublayer's output (before its residual addition).
- ``block{i}/out``: the block's output.
- with ``sow_hidden``: ``block{i}/hidden_pre`` and ``block{i}/hidden_post``, the MLP's hidden units
  ``[n_tokens, mlp_ratio * dim]`` before and after the GELU.

:func:`vit_layer_names` lists them in forward order.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from ssvepjax.models.cifar_resnet import ACTIVATIONS

__all__ = ["VisionTransformer", "ViTConfig", "Attention", "EncoderBlock", "vit_tiny", "vit_small", "vit_base",
           "vit_layer_names"]

LN_EPSILON = 1e-6
_DENSE_INIT = nn.initializers.truncated_normal(0.02)
_EMBED_INIT = nn.initializers.truncated_normal(0.02)


class Attention(nn.Module):
    """Multi-head self-attention ``[N, n, dim] -> [N, n, dim]``: ``qkv`` dense, softmax, ``proj`` dense."""

    dim: int
    heads: int

    @nn.compact
    def __call__(self, x):
        n, t, d = x.shape
        hd = self.dim // self.heads
        qkv = nn.Dense(3 * self.dim, kernel_init=_DENSE_INIT, name="qkv")(x)
        q, k, v = jnp.split(qkv.reshape(n, t, 3, self.heads, hd), 3, axis=2)  # each [N, t, 1, heads, hd]
        q, k, v = (a[:, :, 0] for a in (q, k, v))
        logits = jnp.einsum("nqhd,nkhd->nhqk", q, k) / jnp.sqrt(jnp.asarray(hd, x.dtype))
        y = jnp.einsum("nhqk,nkhd->nqhd", nn.softmax(logits, axis=-1), v).reshape(n, t, self.dim)
        return nn.Dense(self.dim, kernel_init=_DENSE_INIT, name="proj")(y)


class EncoderBlock(nn.Module):
    """One pre-norm transformer block, sowing ``attn``, ``mlp`` and ``out`` (and the MLP's hidden units)."""

    dim: int
    heads: int
    mlp_ratio: int = 4
    sow_hidden: bool = False
    act: str = "gelu_exact"

    @nn.compact
    def __call__(self, x):
        a = Attention(self.dim, self.heads, name="attention")(nn.LayerNorm(LN_EPSILON, name="ln1")(x))
        self.sow("intermediates", "attn", a)
        h = x + a
        y = nn.Dense(self.mlp_ratio * self.dim, kernel_init=_DENSE_INIT, name="fc1")(
            nn.LayerNorm(LN_EPSILON, name="ln2")(h))
        if self.sow_hidden:
            self.sow("intermediates", "hidden_pre", y)
        y = ACTIVATIONS[self.act](y)
        if self.sow_hidden:
            self.sow("intermediates", "hidden_post", y)
        m = nn.Dense(self.dim, kernel_init=_DENSE_INIT, name="fc2")(y)
        self.sow("intermediates", "mlp", m)
        out = h + m
        self.sow("intermediates", "out", out)
        return out


class VisionTransformer(nn.Module):
    """ViT for images ``[N, H, W, C]`` (H and W multiples of ``patch_size``) -> logits ``[N, num_classes]``.

    Attributes:
        patch_size: side of the square patches, in pixels.
        dim: token width.
        depth: number of transformer blocks.
        heads: attention heads (``dim`` must be a multiple).
        mlp_ratio: hidden width of the MLP over ``dim``.
        num_classes: output classes.
        class_token: prepend a learned class token (the classifier reads it); without one the
            classifier reads the mean of the patch tokens.
        sow_hidden: also record the MLP's hidden units before and after the GELU.
        act: the MLP's nonlinearity, a name in ``ACTIVATIONS`` (exact GELU; ``"identity"``: no nonlinearity in
            the MLPs, a control: attention's softmax and the layer norms stay).
    """

    patch_size: int = 16
    dim: int = 192
    depth: int = 12
    heads: int = 3
    mlp_ratio: int = 4
    num_classes: int = 1000
    class_token: bool = True
    sow_hidden: bool = False
    act: str = "gelu_exact"

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train  # no dropout or batch statistics: one signature with the ResNets
        for name in ("patch_size", "dim", "depth", "heads", "mlp_ratio", "num_classes"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={self.dim}, heads={self.heads}")
        if x.ndim != 4:
            raise ValueError(f"x must have shape [N, H, W, C], got shape {x.shape}")
        n, h, w, _ = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"image height and width must be multiples of patch_size={p}, got {h} x {w}")
        x = nn.Conv(self.dim, (p, p), strides=(p, p), padding="VALID", name="patch_embed")(x)
        x = x.reshape(n, -1, self.dim)
        if self.class_token:
            cls = self.param("cls_token", nn.initializers.zeros, (1, 1, self.dim))
            x = jnp.concatenate([jnp.broadcast_to(cls, (n, 1, self.dim)).astype(x.dtype), x], axis=1)
        pos = self.param("pos_embedding", _EMBED_INIT, (1, x.shape[1], self.dim))
        x = x + pos
        self.sow("intermediates", "embed", x)
        for i in range(self.depth):
            x = EncoderBlock(self.dim, self.heads, self.mlp_ratio, self.sow_hidden, self.act, name=f"block{i}")(x)
        x = nn.LayerNorm(LN_EPSILON, name="ln_final")(x)
        x = x[:, 0] if self.class_token else jnp.mean(x, axis=1)
        return nn.Dense(self.num_classes, name="head")(x)


def vit_tiny(patch_size: int = 16, num_classes: int = 1000, **kwargs) -> VisionTransformer:
    """ViT-Ti: dim 192, 12 blocks, 3 heads (5.72 M parameters as Ti/16 at 224 x 224, 1000 classes)."""
    return VisionTransformer(patch_size, 192, 12, 3, num_classes=num_classes, **kwargs)


def vit_small(patch_size: int = 16, num_classes: int = 1000, **kwargs) -> VisionTransformer:
    """ViT-S: dim 384, 12 blocks, 6 heads (22.05 M parameters as S/16 at 224 x 224, 1000 classes)."""
    return VisionTransformer(patch_size, 384, 12, 6, num_classes=num_classes, **kwargs)


def vit_base(patch_size: int = 16, num_classes: int = 1000, **kwargs) -> VisionTransformer:
    """ViT-B: dim 768, 12 blocks, 12 heads (86.57 M parameters as B/16 at 224 x 224, 1000 classes)."""
    return VisionTransformer(patch_size, 768, 12, 12, num_classes=num_classes, **kwargs)


def vit_layer_names(depth: int, *, sow_hidden: bool = False) -> list[str]:
    """Names that ``linen_fn(VisionTransformer(depth=depth, ...), ..., capture_intermediates=False)`` records.

    In forward order: ``embed``, then per block ``block{i}/attn``, (``hidden_pre``, ``hidden_post``
    with ``sow_hidden``), ``block{i}/mlp``, ``block{i}/out``. ``"output"`` (the logits) is not listed.
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    names = ["embed"]
    for i in range(depth):
        hidden = [f"block{i}/hidden_pre", f"block{i}/hidden_post"] if sow_hidden else []
        names += [f"block{i}/attn", *hidden, f"block{i}/mlp", f"block{i}/out"]
    return names


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    """A small vision transformer for the embedded 28 x 28 digits, one of the job's architectures (static).

    4 x 4 patches (a 7 x 7 grid: 49 patch tokens and a class token), 64-wide tokens, 4 blocks of 4 heads, MLPs twice
    as wide, the MLP's hidden units recorded too: 0.14 M parameters. Attention mixes every token with every other
    from the first block on. The interface is :class:`~ssvepjax.models.ModelConfig`'s.

    Attributes:
        patch_size: side of the square patches, in pixels.
        dim: token width.
        depth: transformer blocks.
        heads: attention heads.
        mlp_ratio: the MLP's hidden width over ``dim``.
        act: the MLP's nonlinearity, a name in ``ACTIVATIONS``.
    """

    arch: ClassVar[str] = "vit"

    patch_size: int = 4
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 2
    act: str = "gelu_exact"

    def __post_init__(self):
        for name in ("patch_size", "dim", "depth", "heads", "mlp_ratio"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim must be a multiple of heads, got dim={self.dim}, heads={self.heads}")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}")

    def build(self, num_classes: int, act: str | None = None) -> VisionTransformer:
        """The network (``act`` replaces the MLPs' nonlinearity, e.g. ``"identity"`` for a control)."""
        return VisionTransformer(self.patch_size, self.dim, self.depth, self.heads, self.mlp_ratio, num_classes,
                                 class_token=True, sow_hidden=True, act=act or self.act)

    @property
    def label(self) -> str:
        """``"ViT-4x64"``: blocks x token width."""
        return f"ViT-{self.depth}x{self.dim}"

    def recorded_layers(self) -> list[str]:
        """``embed``, then per block ``attn``, ``hidden_pre``, ``hidden_post``, ``mlp``, ``out``."""
        return vit_layer_names(self.depth, sow_hidden=True)

    def map_layers(self) -> list[str]:
        """None: a token's units are no position of the image's grid (the class token is no position at all)."""
        return []

    def where_layers(self) -> list[str]:
        """The layers of the ``where`` experiment: the embeddings, then per block the attention output (where tokens
        first mix), the MLP's hidden units after the GELU, and the block's output."""
        return ["embed"] + [n for n in self.recorded_layers() if n.endswith(("/attn", "/hidden_post", "/out"))]

    def token_classes(self, masks) -> tuple[np.ndarray, list[str]]:
        """Each token by what its own patch covers: ``(classes [1 + patches], names)``.

        The class token (first) is its own class, ``"class token"`` (last name); a patch token is classed by the
        parts its patch touches (``analysis.receptive.rf_classes`` of one ``patch_size`` conv with stride
        ``patch_size``: ``"left-only"``, ``"right-only"``, ``"both"`` for two halves). After block 0's attention
        every token has seen every patch: this is the token's own patch, not its receptive field.
        """
        from ssvepjax.analysis.receptive import rf_classes

        grid, names = rf_classes([(self.patch_size, self.patch_size, 0)], masks)
        return np.concatenate([[len(names)], grid.reshape(-1)]), [*names, "class token"]

    def nonlinear_layers(self) -> list[str]:
        """Per block the attention output (softmax), the MLP's hidden units after the GELU, and the block's output
        (the residual stream)."""
        return [n for n in self.recorded_layers() if n.endswith(("/attn", "/hidden_post", "/out"))]
