"""A stand-in for the library's one image loop (``sj.reduce_dataset`` over a ``Reduction``).

The data-dependent importance scores (mean activation, first-order Taylor, HRank) are written as
factories that return a :class:`Reduction`: a pure description of what to accumulate over a
dataset. The library's streamed, sharded and checkpointed loop runs such a reduction; until it is
public, :func:`reduce_dataset` here runs it sequentially on one device with the same signature
and semantics (fixed-size chunks, the last one padded with zero-weight examples, one jitted
``update``). The lead replaces this module with the real loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

__all__ = ["Reduction", "reduce_dataset"]


class Reduction(NamedTuple):
    """What to accumulate over a dataset, as four pure functions.

    Attributes:
        init: ``example -> state``: ``example`` is a pytree of ``jax.ShapeDtypeStruct`` for ONE example
            (no leading axis), e.g. ``{"image": (H, W, C), "label": ()}``; returns the zero state.
        update: ``(state, batch, weights) -> state``; ``batch`` is a pytree of arrays with a leading
            axis ``b``, ``weights`` ``[b]`` float32 in {0, 1} (0 = padding). Pure and traceable.
        merge: ``(state_a, state_b) -> state`` of the union of two disjoint sets of examples.
        finalize: merged state -> result.
    """

    init: Callable
    update: Callable
    merge: Callable
    finalize: Callable


def _chunks(batches, chunk_size: int) -> Iterable[tuple[dict, int]]:
    """Regroup a pytree of ``[N, ...]`` arrays, or an iterable of such pytrees, into padded chunks."""
    if isinstance(batches, dict) or not isinstance(batches, Iterable):
        batches = [batches]
    buf, n_buf = None, 0
    for part in batches:
        n = len(jax.tree.leaves(part)[0])
        buf = part if buf is None else jax.tree.map(lambda a, b: np.concatenate([a, b]), buf, part)
        n_buf += n
        while n_buf >= chunk_size:
            yield jax.tree.map(lambda a: np.asarray(a[:chunk_size]), buf), chunk_size
            buf = jax.tree.map(lambda a: a[chunk_size:], buf)
            n_buf -= chunk_size
    if n_buf:
        pad = chunk_size - n_buf
        yield jax.tree.map(lambda a: np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)]), buf), n_buf


def reduce_dataset(
    batches,
    reduction: Reduction,
    *,
    chunk_size: int = 8,
    mesh=None,
    axis_name: str = "data",
    progress: bool = True,
    checkpoint_dir=None,
    checkpoint_every: int = 1,
):
    """Run ``reduction`` over every example of ``batches``, ``chunk_size`` examples per jitted step.

    Args:
        batches: a pytree of arrays with a leading example axis (``{"image": [N, H, W, C], "label": [N]}``)
            or an iterable of such pytrees of any sizes.
        reduction: the :class:`Reduction` to run.
        chunk_size: examples per step; the last chunk is padded with zero-weight examples.
        mesh, axis_name: sharding of the real loop; this stand-in runs on one device (mesh must be None).
        progress: show a progress bar over chunks.
        checkpoint_dir, checkpoint_every: accepted for the real loop's signature; ignored here.

    Returns:
        ``reduction.finalize(state)``.
    """
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    if mesh is not None:
        raise ValueError("this stand-in for reduce_dataset runs on one device: mesh must be None")
    del axis_name, checkpoint_dir, checkpoint_every
    update = jax.jit(reduction.update)
    state, n_seen = None, 0
    for chunk, n_valid in tqdm(_chunks(batches, chunk_size), desc="reduce dataset", disable=not progress,
                               leave=False):
        if state is None:
            example = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), chunk)
            state = reduction.init(example)
        w = jnp.asarray(np.arange(chunk_size) < n_valid, jnp.float32)
        state = update(state, jax.tree.map(jnp.asarray, chunk), w)
        n_seen += n_valid
    if state is None:
        raise ValueError("batches holds no examples")
    return reduction.finalize(state)
