"""The one image loop: stream a dataset in chunks through a :class:`~ssvepjax.streaming.reductions.Reduction`.

``reduce_dataset(batches, reduction)`` is the only loop over images in the library. It regroups the
examples (an array, a pytree of arrays with one leading axis such as ``{"image": ..., "label": ...}``,
or any iterable of such batches: a data loader) into chunks of ``chunk_size``, pads the last chunk
with zero-weight examples so that one compiled program serves every step, and applies the
reduction's ``update`` to each chunk inside one jitted program. Around that it provides, for every
reduction alike:

- **memory bounded by the chunk**: one chunk is alive at a time (the loop waits for a step before
  reading the next chunk), whatever the number of examples;
- **devices**: with a ``jax.sharding.Mesh`` each chunk is sharded along ``axis_name``; each device
  updates its own state, and the devices' states are merged once, at the end;
- **hosts**: after ``jax.distributed.initialize()`` each process passes its own examples; every
  process runs the same number of steps (zero-weight filler chunks) and receives the global result;
- **checkpoints**: with ``checkpoint_dir`` the state is saved with orbax every ``checkpoint_every``
  chunks, and a later call with the same folder, data and settings resumes after the last saved chunk;
- **progress**: a tqdm bar over chunks.

``probe_dataset(fn, images, masks, design)`` is the loop with ``reductions.spectrum_reduction``: the
image-averaged amplitude spectra of every unit ``fn`` records.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, PyTree
from tqdm.auto import tqdm

from ssvepjax import _checks as V
from ssvepjax.spectral.design import Design, as_design
from ssvepjax.streaming.budget import LayerSelection, check_budget, layer_bytes, layer_groups
from ssvepjax.streaming.budget import images_per_step as images_per_step_for
from ssvepjax.streaming.checkpoint import Checkpoints
from ssvepjax.streaming.reductions import Reduction, check_granularity, spectrum_reduction
from ssvepjax.streaming.runtime import (
    NO_VMA_CHECK,
    any_process,
    check_mesh,
    devices_per_process,
    enable_compilation_cache,
    shard_map,
    synchronised,
)


def _leaves(batch) -> list[np.ndarray]:
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError("batches hold no arrays")
    return leaves


def _length(batch, name: str) -> int:
    lengths = {np.shape(x)[0] if np.ndim(x) else None for x in _leaves(batch)}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(f"{name}: every array must have the same leading (example) axis, got lengths {lengths}")
    return lengths.pop()


def _is_batch(x) -> bool:
    return isinstance(x, (np.ndarray, jax.Array)) or (isinstance(x, (dict, tuple)) and bool(jax.tree.leaves(x)) and all(
        isinstance(v, (np.ndarray, jax.Array)) for v in jax.tree.leaves(x)))


def first_chunk(batches) -> tuple[PyTree, Iterator, int | None]:
    """``(one example's shapes, iterator over batches, number of examples or None)``."""
    if _is_batch(batches):
        n = _length(batches, "batches")
        if n == 0:
            raise ValueError("images is empty: need at least one example")
        return jax.tree.map(lambda x: x.shape[1:], batches), iter([batches]), n
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise ValueError(f"images must be an array [N, ...], a pytree of such arrays, or an iterable of them, got "
                         f"{type(batches).__name__}")
    it = iter(batches)
    for first in it:
        if not _is_batch(first):
            raise ValueError(f"each batch must be an array or a pytree of arrays, got {type(first).__name__}")
        if _length(first, "batch 0"):
            return jax.tree.map(lambda x: np.shape(x)[1:], first), _chain(first, it), None
    raise ValueError("images is empty: the iterable yielded no examples")


def _chain(first, rest):
    yield first
    yield from rest


def rechunk(batches: Iterable, chunk: int, shapes: PyTree, check: Callable | None) -> Iterator[tuple[PyTree, int]]:
    """Fixed-size chunks ``(batch with leading axis chunk, n_valid)``; the last one padded with zero examples."""
    buf, have = [], 0
    for i, part in enumerate(batches):
        part = jax.tree.map(np.asarray, part)
        got = jax.tree.map(lambda x: x.shape[1:], part)
        if got != shapes:
            raise ValueError(f"batch {i} has example shapes {got}, the first had {shapes}")
        if check is not None:
            check(part)
        buf.append(part)
        have += _length(part, f"batch {i}")
        while have >= chunk:
            cat = jax.tree.map(lambda *xs: np.concatenate(xs), *buf) if len(buf) > 1 else buf[0]
            yield jax.tree.map(lambda x: x[:chunk], cat), chunk
            buf, have = ([jax.tree.map(lambda x: x[chunk:], cat)] if have > chunk else []), have - chunk
    if have:
        cat = jax.tree.map(lambda *xs: np.concatenate(xs), *buf) if len(buf) > 1 else buf[0]
        yield jax.tree.map(lambda x: np.concatenate([x, np.zeros((chunk - have, *x.shape[1:]), x.dtype)]), cat), have


@functools.lru_cache(maxsize=16)
def _programs(reduction: Reduction, mesh: Mesh, axis_name: str, example_leaves: tuple, treedef, n_dev: int):
    """The jitted ``(init, step, merge_devices)`` of a reduction on a mesh (cached: repeated calls compile once)."""
    example = jax.tree.unflatten(treedef, example_leaves)
    spec = PartitionSpec(axis_name)
    sharded = NamedSharding(mesh, spec)

    def init():
        state = reduction.init(example)
        return jax.tree.map(lambda x: jnp.broadcast_to(x, (n_dev, *x.shape)), state)

    def local_step(state, batch, weights):
        s = reduction.update(jax.tree.map(lambda x: x[0], state), batch, weights)
        return jax.tree.map(lambda x: x[None], s)

    # Each device updates its own state with no collective inside: the per-device values need no varying-axis
    # typing (a reduction may scan with a carry that starts as constants).
    step = jax.jit(shard_map(local_step, mesh=mesh, in_specs=spec, out_specs=spec, **NO_VMA_CHECK),
                   donate_argnums=0)

    @functools.partial(jax.jit, donate_argnums=0)  # the per-device states are not used again: no copy of them
    def merge_devices(state):
        # Replicated first: a mesh with explicit axes (jax.make_mesh's default) refuses to slice a sharded axis.
        state = jax.tree.map(lambda x: jax.sharding.reshard(x, NamedSharding(mesh, PartitionSpec())), state)
        parts = [jax.tree.map(lambda x, i=i: x[i], state) for i in range(n_dev)]
        return functools.reduce(reduction.merge, parts)

    return jax.jit(init, out_shardings=sharded), step, merge_devices


def reduce_dataset(
    batches,
    reduction: Reduction,
    *,
    chunk_size: int = 8,
    mesh: Mesh | None = None,
    axis_name: str = "data",
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    compilation_cache_dir: str | None = None,
    desc: str = "reduce dataset",
):
    """Stream examples through ``reduction`` in chunks; return ``reduction.finalize`` of the merged state.

    Args:
        batches: examples: an array ``[N, ...]``, a pytree of arrays with a common leading axis, or an
            iterable of such batches of any sizes (regrouped into chunks). On several hosts, the
            examples of this process.
        reduction: what to compute (``streaming.reductions``).
        chunk_size: examples per step (per process); with a mesh, a multiple of this process's devices
            on ``axis_name``. Memory grows with it.
        mesh: a ``jax.sharding.Mesh``; examples are sharded along ``axis_name``. None: one device.
        axis_name: the mesh axis to shard examples over.
        progress: show a progress bar over chunks.
        checkpoint_dir: if given, the state is saved there with orbax every ``checkpoint_every`` chunks
            and a later call with the same folder, data and settings resumes after the last save.
        checkpoint_every: chunks between checkpoints.
        compilation_cache_dir: if given, turn on JAX's persistent compilation cache there.
        desc: the progress bar's label.

    Returns:
        ``reduction.finalize(state)`` of the state over every example (of every process).
    """
    if not isinstance(reduction, Reduction):
        raise ValueError(f"reduction must be a streaming.Reduction, got {type(reduction).__name__}")
    V.check_positive("chunk_size", chunk_size, integer=True)
    V.check_positive("checkpoint_every", checkpoint_every, integer=True)
    if compilation_cache_dir is not None:
        enable_compilation_cache(compilation_cache_dir)
    mesh = check_mesh(mesh, axis_name)
    n_dev = int(mesh.shape[axis_name])
    n_proc = jax.process_count()
    local_dev = devices_per_process(mesh, axis_name)
    if chunk_size % local_dev:
        raise ValueError(f"chunk_size={chunk_size} must be a multiple of the {local_dev} device(s) (per "
                         f"process) on mesh axis {axis_name!r}")
    # Bad input on one process must stop every process before the first collective step.
    try:
        shapes, it, n_examples = first_chunk(batches)
        refusal = None
    except ValueError as e:
        refusal = e
    if n_proc > 1 and any_process(refusal is not None) and refusal is None:
        raise ValueError("another process refused its images (see its error); every process needs at least one "
                         "example")
    if refusal is not None:
        raise refusal
    if n_examples is not None and n_proc == 1:
        # Never pad a small dataset up (one process: no other process's chunk size to match). Fewer
        # examples than devices: the missing ones are zero-weight padding.
        chunk_size = min(chunk_size, -(-n_examples // local_dev) * local_dev)
    data = NamedSharding(mesh, PartitionSpec(axis_name))
    state = ckpt = last = None
    done = n_chunks = 0
    steps = None if n_examples is None else -(-n_examples // chunk_size)
    bar = tqdm(total=steps, desc=desc, unit="chunk", disable=not progress, leave=False)
    chunks = rechunk(it, chunk_size, shapes, reduction.check)
    for i, (chunk, n_valid) in enumerate(synchronised(chunks, (None, 0), n_proc)):
        if chunk is None:  # another process still has data: a zero-weight step with this one's shapes
            chunk, n_valid = jax.tree.map(np.zeros_like, last), 0
        last = chunk
        n_chunks = i + 1
        if state is None:
            leaves, treedef = jax.tree.flatten(chunk)
            example = tuple(jax.ShapeDtypeStruct(x.shape[1:], x.dtype) for x in leaves)
            init, step, merge_devices = _programs(reduction, mesh, axis_name, example, treedef, n_dev)
            state = init()
            if checkpoint_dir is not None:
                ckpt = Checkpoints(checkpoint_dir, {"chunk_size": chunk_size, "devices": n_dev,
                                                    "processes": n_proc, "reduction": reduction.name})
                state, done = ckpt.restore(state)
        if i < done:  # reduced before the interruption
            bar.update(1)
            continue
        weights = (np.arange(chunk_size) < n_valid).astype(np.float32)
        xs = jax.tree.map(lambda x: jax.make_array_from_process_local_data(data, x), chunk)
        state = step(state, xs, jax.make_array_from_process_local_data(data, weights))
        # Finish this chunk before reading the next: one chunk's intermediates alive at a time.
        jax.block_until_ready(state)
        bar.update(1)
        if ckpt is not None and (i + 1) % checkpoint_every == 0 and n_valid == chunk_size:
            ckpt.save(i + 1, state)
    bar.close()
    if ckpt is not None:
        ckpt.close()
        if done > n_chunks:
            raise ValueError(f"checkpoint_dir {ckpt.folder} holds {done} chunks of {chunk_size} examples, more "
                             f"than the {n_chunks} chunks given: use another folder")
    return reduction.finalize(merge_devices(state))


def probe_dataset(
    fn: Callable[[Array], PyTree],
    images,
    masks,
    design: Design = Design(),
    *,
    one_period: bool = True,
    method: str = "auto",
    relative=False,
    pixel_noise: float = 0.0,
    noise_seed: int = 0,
    frame_block: int | None = None,
    lattice_only: bool = False,
    measures=None,
    granularity: str = "neuron",
    memory_budget: int | str | None = None,
    images_per_step: int | None = None,
    results_dir: str | os.PathLike | None = None,
    **loop_kwargs,
) -> dict[str, Array]:
    """Image-averaged amplitude spectra of every unit, streamed over a dataset in bounded memory.

    ``reduce_dataset(images, spectrum_reduction(fn, masks, design, ...), ...)``, once per group of layers.

    Args:
        fn: per-frame function ``[H, W, C] -> pytree of arrays`` (e.g. ``recording.linen_fn``).
        images: ``[N, H, W, C]`` in [0, 1], or an iterable of such arrays (a data loader; with several layer
            groups it must be readable again: an array or a re-iterable loader, not an iterator).
        masks: ``[P, H, W]`` part masks, one per tag.
        design: a ``Design`` or a ``TagConfig``.
        one_period: run one stimulus period per image (exact for a deterministic ``fn``); False runs
            all ``n_frames``.
        method: transform method (``"auto"``: matmul DFT on CPU/TPU, FFT on GPU).
        relative: also return each unit's per-image relative-amplitude moments at the component bins (True) or
            at given bins (the input of the amplitude test across images: ``analysis.measure(..., relative=...)``).
        pixel_noise, noise_seed: Gaussian noise of that standard deviation added to every pixel of every frame
            (needs ``one_period=False``): the injected-noise null of the EEG z rule.
        frame_block, lattice_only: accumulate the coefficients block by block of frames, never storing the time
            series (``streaming.spectrum_reduction``); ``lattice_only`` keeps memory flat in ``n_frames`` for a
            deterministic ``fn`` probed over every frame.
        measures: e.g. ``("amplitude", "snr", "z")``: return the per-neuron measures at the component bins,
            ``{layer: {name: [m, *unit_shape]}}`` (``analysis.spectrum_measures`` of the spectra, without forming
            the ``[K, *unit_shape]`` spectra: cheaper per call).
        granularity: ``"neuron"`` (every unit) or ``"filter"``: the spectra, measures and relative moments of each
            filter (``[c]`` per layer: the mean of its neurons' amplitude spectra over positions, taken inside each
            image's step so that nothing per neuron outlives the layer; ``streaming.spectrum_reduction``).
        memory_budget: bytes (or ``"auto"``: the device's free memory, ``streaming.budget.available_memory``): the
            recorded layers are split into consecutive groups whose estimated peak fits (``streaming.budget``),
            each probed over the whole dataset in its own pass (one forward pass per group and image); results
            are those of one pass. ``ValueError`` if one layer of one image does not fit (it says how many bytes
            the smallest group needs). None: every layer in one pass.
        images_per_step: images vectorised together inside a step (faster where memory allows). None: 1, or with
            ``memory_budget`` the most (up to ``chunk_size``) that the budget leaves room for.
        results_dir: if given, each group's results are written there as ``.npy`` files (``<layer>.npy``, with
            ``measures`` ``<layer>/<measure>.npy``, with ``relative`` also ``<layer>/relative_<key>.npy``) as soon as
            the group finishes, and the returned arrays are read-only memory maps of those files: results larger
            than memory stay on disk.
        **loop_kwargs: ``chunk_size``, ``mesh``, ``axis_name``, ``progress``, ``checkpoint_dir``,
            ``checkpoint_every``, ``compilation_cache_dir`` (:func:`reduce_dataset`).

    Returns:
        ``{layer: [K, *unit_shape]}`` mean amplitude spectra, ``K = n_frames // 2 + 1``; with ``relative``, the
        pair ``(spectra, relative_moments)``.
    """
    budget = check_budget(memory_budget)
    check_granularity(granularity)
    if images_per_step is not None:
        V.check_positive("images_per_step", images_per_step, integer=True)
    settings = dict(one_period=one_period, method=method, relative=relative, pixel_noise=pixel_noise,
                    noise_seed=noise_seed, frame_block=frame_block, lattice_only=lattice_only, measures=measures,
                    granularity=granularity)
    if budget is None:
        groups, per_step = [None], [images_per_step or 1]
    else:
        shapes, images, _ = _peek(images)
        if not (isinstance(shapes, tuple) and all(isinstance(d, int) for d in shapes)):
            raise ValueError("memory_budget needs images as arrays [N, H, W, C] (not a pytree of arrays)")
        n_rel = len(design.bins()[0]) if relative is True else (0 if relative is False else len(np.ravel(relative)))
        layers, frames = layer_bytes(fn, shapes, as_design(design), one_period=one_period, frame_block=frame_block,
                                     granularity=granularity, relative_bins=n_rel,
                                     measures=None if measures is None else len(measures))
        groups = layer_groups(layers, frames, budget)
        most = loop_kwargs.get("chunk_size", 8)
        per_step = [images_per_step or images_per_step_for(layers, g, frames, budget, most) for g in groups]
    if len(groups) > 1 and not _is_batch(images) and iter(images) is images:
        raise ValueError(f"memory_budget splits the layers into {len(groups)} passes over the images, and images is "
                         f"an iterator (read once): pass an array or a loader that can be iterated again")
    out = None
    for i, (names, step) in enumerate(zip(groups, per_step)):
        f = fn if names is None else LayerSelection(fn, names)
        kwargs = dict(loop_kwargs)
        if len(groups) > 1 and kwargs.get("checkpoint_dir") is not None:
            kwargs["checkpoint_dir"] = os.path.join(kwargs["checkpoint_dir"], f"group{i}")
        reduction = spectrum_reduction(f, masks, design, images_per_step=step, **settings)
        desc = "probe dataset" if len(groups) == 1 else f"probe dataset, layers {i + 1}/{len(groups)}"
        got = reduce_dataset(images, reduction, desc=desc, **kwargs)
        if results_dir is not None:
            got = _write_results(got, results_dir)
        out = got if out is None else _join(out, got)
    return out


def _peek(images):
    """``(one example's shapes, the images to pass on, number or None)``: an iterator is chained back."""
    shapes, it, n = first_chunk(images)
    return shapes, (images if _is_batch(images) or iter(images) is not images else it), n


def _join(a, b):
    if isinstance(a, tuple):
        return tuple(_join(x, y) for x, y in zip(a, b))
    return {**a, **b}


def _write_results(result, folder):
    """Write a group's result as ``.npy`` files under ``folder``; return it as read-only memory maps."""
    def save(x, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, np.asarray(x))
        return np.load(path, mmap_mode="r")

    spectra, rel = result if isinstance(result, tuple) else (result, None)
    out = {}
    for k, v in spectra.items():
        base = os.path.join(os.fspath(folder), *k.split("/"))
        out[k] = ({n: save(x, os.path.join(base, f"{n}.npy")) for n, x in v.items()} if isinstance(v, dict)
                  else save(v, base + ".npy"))
    if rel is None:
        return out
    rel = {k: {n: save(x, os.path.join(os.fspath(folder), *k.split("/"), f"relative_{n}.npy")) for n, x in v.items()}
           for k, v in rel.items()}
    return out, rel


__all__ = ["first_chunk", "probe_dataset", "rechunk", "reduce_dataset"]
