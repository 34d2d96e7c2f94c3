"""Frequency-tagged frames: each part of an image flickers in contrast at its own tag frequency.

``tag_frames(image, masks, freqs_hz)`` multiplies the pixels of part ``p`` by the gain ``g_p(i)`` of
``tags.gains`` at frame ``i``; pixels outside every mask are unchanged. ``apply_gains`` is the
traceable core that the recorder uses inside ``jit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ssvepjax import _checks as V
from ssvepjax.tagging.masks import check_masks
from ssvepjax.tagging.tags import TagConfig


def check_image(image, name: str = "image", layout: str = "H, W, C") -> None:
    """``ValueError`` unless ``image`` has the rank of ``layout`` and finite values in [0, 1]."""
    shape = np.shape(image)
    rank = len(layout.split(","))
    if len(shape) != rank:
        raise ValueError(f"{name} must have shape [{layout}] (rank {rank}), got shape {shape}")
    if V.is_concrete(image):
        arr = np.asarray(image)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds NaN or infinite values")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(f"{name} values must lie in [0, 1], got [{arr.min()}, {arr.max()}]")


@jax.jit
def apply_gains(image: Float[Array, "h w c"], masks: Float[Array, "p h w"], g: Float[Array, "t p"]
                ) -> Float[Array, "t h w c"]:
    """Frames ``[T, H, W, C]``: ``image`` with part p scaled by ``g[:, p]`` (masks as 0/1 floats). Traceable."""
    # Parts are disjoint, so the per-pixel gain is 1 plus the sum of each part's deviation.
    pixel_gain = 1.0 + jnp.einsum("tp,phw->thw", g - 1.0, masks)
    return image[None] * pixel_gain[..., None]


def as_tags(tags, **settings) -> TagConfig:
    """A :class:`TagConfig` from one, or from tag frequencies and ``TagConfig`` keyword settings."""
    if isinstance(tags, TagConfig):
        if settings:
            raise ValueError(f"pass settings {sorted(settings)} inside the TagConfig, not beside it")
        return tags
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(TagConfig)})
    if unknown:
        raise ValueError(f"unknown tag settings {unknown}; valid: fps, n_frames, min_gain, phase")
    return TagConfig(tuple(tags) if isinstance(tags, Sequence) else tags, **settings)


def tag_frames(image: Float[ArrayLike, "h w c"], masks: Bool[ArrayLike, "p h w"], tags: TagConfig | Sequence[float],
               **settings) -> Float[Array, "t h w c"]:
    """Frames ``[n_frames, H, W, C]`` in which each masked part flickers at its tag frequency.

    Args:
        image: ``[H, W, C]`` with values in [0, 1].
        masks: ``[P, H, W]`` boolean, disjoint, non-empty parts (e.g. ``halves(H, W)``).
        tags: a :class:`TagConfig`, or P tag frequencies in Hz, each on a bin (``f * n_frames / fps``
            an integer) and below Nyquist ``fps / 2``.
        **settings: with frequencies, any of ``fps`` (frames per second, default 120), ``n_frames`` (T,
            default 240), ``min_gain`` (the gain swings between it and 1, default 0.5) and ``phase`` (of
            every tag at frame 0, radians, default 0).

    Returns:
        ``[n_frames, H, W, C]`` float32 frames.
    """
    tags = as_tags(tags, **settings)
    check_image(image)
    h, w, _ = np.shape(image)
    m = check_masks(masks, h, w, n_parts=tags.n_tags)
    return apply_gains(jnp.asarray(image, jnp.float32), jnp.asarray(m, jnp.float32), tags.gains())


def tag_batch(
    images: Float[ArrayLike, "n h w c"],
    masks: Bool[ArrayLike, "p h w"],
    config: TagConfig = TagConfig(),
) -> Float[Array, "n t h w c"]:
    """``tag_frames`` for a batch of images ``[N, H, W, C]`` -> ``[N, T, H, W, C]``."""
    check_image(images, "images", "N, H, W, C")
    shape = np.shape(images)
    m = check_masks(masks, shape[1], shape[2], n_parts=config.n_tags)
    return jax.vmap(apply_gains, in_axes=(0, None, None))(
        jnp.asarray(images, jnp.float32), jnp.asarray(m, jnp.float32), config.gains())


__all__ = ["apply_gains", "as_tags", "check_image", "tag_batch", "tag_frames"]
