"""Record the activation time series of every unit: one ``jax.vmap`` over the frames.

``probe(fn, frames)`` maps a per-frame function (``adapters.linen_fn`` / ``nnx_fn`` or any function
``frame [H, W, C] -> pytree of arrays``) over the time axis in one jitted pass. ``recorder`` is the
same map fused with tagging: ``image -> {layer: [F, ...]}``, the one place in the library that runs a
network over tagged frames (every probe, reduction and loss term calls it).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree

from ssvepjax import _checks as V
from ssvepjax.recording.adapters import flat_dict
from ssvepjax.tagging.frames import apply_gains
from ssvepjax.tagging.tags import TagConfig


def recorder(fn: Callable[[Array], PyTree], masks, tags: TagConfig, *, one_period: bool = True,
             pixel_noise: float = 0.0, noise_seed: int = 0) -> Callable[[Array], dict[str, Array]]:
    """``image [H, W, C] -> {layer: [F, *unit_shape]}``: tag an image and run ``fn`` over its frames.

    ``F`` is ``tags.period_frames`` with ``one_period`` (one stimulus period, from which the
    spectrum of all frames follows exactly for a deterministic ``fn``: ``fourier.repeated_spectrum``),
    else ``tags.n_frames``. ``masks`` must be checked already (``masks.check_masks``). ``fn``'s pytree
    is flattened by ``adapters.flat_dict``. Traceable: jit or vmap it.

    ``pixel_noise`` > 0 adds independent Gaussian noise of that standard deviation (pixel units) to every
    pixel of every frame: the analogue of sensor and neural noise, under which the EEG z rule has its
    nominal false-positive rate (SCIENCE.md section 6). The frames then differ from period to period, so
    ``one_period`` must be False. The noise of an image is drawn from ``noise_seed`` and the image's own
    values, so it does not depend on chunks, devices or the order of images.
    """
    frames = tags.period_frames if one_period else tags.n_frames
    record = block_recorder(fn, masks, tags, frames, one_period=one_period, pixel_noise=pixel_noise,
                            noise_seed=noise_seed)
    return lambda image: record(image, 0)


def block_recorder(fn: Callable[[Array], PyTree], masks, tags: TagConfig, frame_block: int, *,
                   one_period: bool = True, pixel_noise: float = 0.0, noise_seed: int = 0) -> Callable:
    """``(image, start) -> {layer: [frame_block, *unit_shape]}``: frames ``start .. start + frame_block`` only.

    :func:`recorder` one block of frames at a time (``start`` may be traced: scan over blocks), so that no more
    than one block of activations is alive; the noise of a frame is the one :func:`recorder` draws for it.
    ``frame_block`` must divide the frames run (``tags.period_frames`` with ``one_period``, else ``n_frames``).
    """
    frames = tags.period_frames if one_period else tags.n_frames
    V.check_positive("frame_block", frame_block, integer=True)
    if frames % frame_block:
        divisors = [d for d in range(1, frames + 1) if frames % d == 0]
        raise ValueError(f"frame_block={frame_block} must divide the {frames} frames run; choose one of {divisors}")
    if not (np.isfinite(pixel_noise) and pixel_noise >= 0):
        raise ValueError(f"pixel_noise must be a finite number >= 0, got {pixel_noise!r}")
    if pixel_noise and one_period:
        raise ValueError("pixel_noise > 0 makes every frame different: probe every frame (one_period=False)")
    g = tags.gains(one_period)
    m = jnp.asarray(masks, jnp.float32)
    key = jax.random.key(int(noise_seed))

    def record(image, start):
        frames = apply_gains(image, m, jax.lax.dynamic_slice_in_dim(g, start, frame_block))
        if pixel_noise:
            # The whole sequence's noise for this image, sliced: the same frames as recorder's, block by block.
            noise = jax.random.normal(_image_key(key, image), (g.shape[0], *image.shape), frames.dtype)
            frames = frames + pixel_noise * jax.lax.dynamic_slice_in_dim(noise, start, frame_block)
        check_output(fn, frames[0])
        return flat_dict(jax.vmap(fn)(frames))

    return record


def _image_key(key, image):
    """A key from ``key`` and the image's values (a fixed random projection of its bits)."""
    w = jax.random.uniform(jax.random.key(1), image.shape, image.dtype, 0.5, 1.5)
    return jax.random.fold_in(key, jax.lax.bitcast_convert_type(jnp.sum(image * w), jnp.int32))


def check_output(fn: Callable, frame) -> None:
    """``ValueError`` unless ``fn(frame)`` is a pytree of arrays (checked on shapes only, nothing runs)."""
    try:
        out = jax.eval_shape(fn, frame)
    except TypeError as e:
        if "not a valid JAX type" not in str(e):
            raise
        raise ValueError(f"the per-frame function must return a pytree of arrays: {e}") from None
    flat_dict(out)


def probe(
    fn: Callable[[Array], PyTree], frames: Float[ArrayLike, "t h w c"], *, batch_size: int | None = None
) -> PyTree:
    """Activation time series of ``fn`` over ``frames``.

    Args:
        fn: maps one frame ``[H, W, C]`` to a pytree of arrays (e.g. ``linen_fn(...)``).
        frames: ``[T, H, W, C]`` frames (e.g. from ``tag_frames``).
        batch_size: frames per vectorised step; None runs all T frames in one batch. Smaller values
            bound memory (``jax.lax.map`` over chunks) at some cost in speed.

    Returns:
        The pytree that ``fn`` returns, every leaf with a leading time axis T.
    """
    if np.ndim(frames) < 1:
        raise ValueError(f"frames must have a leading time axis, got shape {np.shape(frames)}")
    if batch_size is not None:
        V.check_positive("batch_size", batch_size, integer=True)
    V.check_finite("frames", frames)
    frames = jnp.asarray(frames)
    if batch_size is None or batch_size >= frames.shape[0]:
        return jax.vmap(fn)(frames)
    return jax.lax.map(fn, frames, batch_size=batch_size)


__all__ = ["block_recorder", "check_output", "probe", "recorder"]
