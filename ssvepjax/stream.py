"""Probing at scale: one image near the cost of a forward pass, datasets in bounded memory, many devices.

Three entry points share one spectral core:

- :func:`measures_fn` builds ``image -> {layer: {"amplitude"|"snr"|"bca"|"z": [m, *unit_shape]}}``:
  the per-neuron measures at the m component bins of a :class:`~ssvepjax.analysis.Design` for one
  image, equal to ``analysis.measure(analysis.spectra(fn, image[None], ...))[layer].neuron``.
- :func:`probe_dataset` streams images in chunks (an array, or any iterable of batches such as a
  data loader), reduces each chunk to summed amplitude spectra on the device and returns the
  image-averaged spectra ``{layer: [K, *unit_shape]}`` of :func:`ssvepjax.analysis.spectra`, so
  ``analysis.measure`` applies unchanged. No time series of more than one chunk is ever held, so peak
  memory is set by ``chunk_size`` and the model, never by the number of images. With a
  ``jax.sharding.Mesh`` each chunk is sharded over the devices of one mesh axis.
- :func:`spectrum_measures` turns such spectra into per-neuron measures at the component bins.

One stimulus period: the tags repeat together every ``tags.period_frames`` frames (80 of the 240
for 6 and 7.5 Hz at 120 fps: ``tags.repeats`` = 3 periods), and a network applied frame by frame is
a deterministic function of the frame, so its activations repeat too. By default (``one_period``)
only one period goes through the network; the spectrum of all ``n_frames`` follows exactly
(``spectral.repeated_spectrum``): bin ``R * m`` holds the period's bin m and every other bin is 0,
which is also where no combination of the tags can respond. That divides the forward pass, the
memory and the transform by ``repeats``. ``one_period=False`` runs every frame (the only choice for
designs whose tags share no divisor with T, ``repeats`` = 1; the results are equal otherwise).

The spectral core follows SCIENCE.md sections 2 and 3 exactly: the one-sided scaling and the
``RESOLUTION_RTOL`` rounding floor of ``spectral.amplitude_spectrum``, and the noise window,
``drop_extremes`` and NaN for incomplete windows of ``spectral.noise_stats``. The transform over
time has two implementations (``method``):

- ``"matmul"`` (default on CPUs and TPUs): the DFT as two small matrix products, Cooley-Tukey with
  ``T = t1 * t2`` for real input and bins 0..T/2 only, so about ``2 * T * (t1 + 2 * t2)`` flops per
  series instead of the ``2 * T * (T + 2)`` of a DFT matrix (frame counts without a useful
  factorisation use the DFT matrix). It reads activations in their ``[T, units]`` layout, never
  transposing them, and runs on matrix units. Products use ``Precision.HIGHEST``: float32 is never
  rounded to bfloat16 or TF32.
- ``"fft"`` (default on GPUs): ``jnp.fft.rfft``. XLA's FFT transforms the minor axis, so every
  layer's ``[T, units]`` activations are transposed first: cheap on GPUs; on CPUs XLA fuses the
  transpose with its input and it runs several times slower than the matmul path.

On CPUs the series are processed in blocks of ``unit_block`` units inside a loop, so the transform,
the spectrum and the noise statistics of a block stay in cache and each activation is read from
memory once. The network (tag -> frames -> activations) is one compiled program; the spectral
reduction is another, one per distinct layer shape (three for a CIFAR ResNet) and reused by every
layer of that shape. One program with every layer inlined runs no faster and compiles several times
longer.

Devices and hosts: with ``mesh``, images are sharded along ``axis_name`` (other mesh axes hold
replicas). Each device adds the spectra of its own images into its own accumulator, and the devices'
partial sums are reduced once, at the end: one all-reduce per layer per dataset, never one per chunk.
On several hosts (after ``jax.distributed.initialize()``) each process passes its own images and
every process receives the global mean.
"""


from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array, ArrayLike, Float, PyTree
from tqdm.auto import tqdm

from ssvepjax import _validate as V
from ssvepjax.analysis import Design
from ssvepjax.probe import recorder
from ssvepjax.spectral import RESOLUTION_RTOL, NoiseConfig, window_stats
from ssvepjax.stimulus import TagConfig, check_image, check_masks

MEASURES = ("amplitude", "snr", "bca", "z")
METHODS = ("auto", "fft", "matmul")
# Units per block of the CPU loop: 240 frames x 1000 units x 4 bytes is about 1 MB, the L2 of a core.
# Not a power of two: transposing [T, 1024] strides rows by 4 KiB, which maps every row of a column to
# one cache set and makes the transpose several times slower.
CPU_UNIT_BLOCK = 1000
_HIGHEST = jax.lax.Precision.HIGHEST
try:  # public since JAX 0.7; the experimental module before
    _shard_map = jax.shard_map
except AttributeError:  # pragma: no cover
    from jax.experimental.shard_map import shard_map as _shard_map


# ----------------------------------------------------------------------------------------------
# Spectral core: [T, n] series -> amplitude "rows" [R, n] (scaled, floored); rows_of_bin maps bins.


@dataclasses.dataclass(frozen=True)
class _Plan:
    """How a transform of ``n_frames`` samples is computed (NumPy constants, built once per T)."""

    n_frames: int
    method: str
    t1: int  # first factor (1: a plain DFT matrix)
    t2: int
    w1: np.ndarray | None  # [2 * h1, t1]: stage-1 real DFT rows (k1, re|im)
    w2: np.ndarray | None  # [h1, 2 * t2, 2 * t2]: twiddled stage-2 DFT per k1
    row_of_bin: np.ndarray  # [K]: the row holding bin k
    row_scale: np.ndarray  # [R]: one-sided scale of each row
    dc_row: int
    repeats: int = 1  # > 1: x holds one of `repeats` periods; bins off the lattice read an extra zero row

    @property
    def n_rows(self) -> int:
        return len(self.row_scale) + (self.repeats > 1)


def _factor_cost(t1: int, t2: int) -> int:
    h1 = t1 // 2 + 1
    return 2 * h1 * t1 * t2 + h1 * (2 * t2) ** 2


@functools.lru_cache(maxsize=32)
def _plan(n_frames: int, method: str, repeats: int = 1) -> _Plan:
    """The plan for series of ``n_frames // repeats`` samples (one period), giving the bins of
    ``n_frames`` (``spectral.repeated_spectrum``: bin ``repeats * m`` is the period's bin m)."""
    one = _period_plan(n_frames // repeats, method)
    if repeats == 1:
        return one
    k = np.arange(n_frames // 2 + 1)
    zero_row = len(one.row_scale)
    row_of_bin = np.where(k % repeats == 0, one.row_of_bin[np.minimum(k // repeats, len(one.row_of_bin) - 1)],
                          zero_row)
    return dataclasses.replace(one, row_of_bin=row_of_bin, repeats=repeats)


def _period_plan(n_frames: int, method: str) -> _Plan:
    t = n_frames
    k = t // 2 + 1
    scale_of_bin = np.full(k, 2.0 / t)
    scale_of_bin[0] = 1.0 / t
    if t % 2 == 0:
        scale_of_bin[-1] = 1.0 / t
    if method == "fft":
        return _Plan(t, method, 1, t, None, None, np.arange(k), scale_of_bin, 0)
    best = (2 * k * t, 1, t)  # a plain DFT matrix [2K, T]
    for t1 in range(2, t // 2 + 1):
        if t % t1 == 0 and t // t1 >= 2:
            best = min(best, (_factor_cost(t1, t // t1), t1, t // t1))
    _, t1, t2 = best
    if t1 == 1:
        ang = 2 * np.pi * np.outer(np.arange(k), np.arange(t)) / t
        w = np.concatenate([np.cos(ang), -np.sin(ang)])  # rows: re of bins 0..K-1, then im
        return _Plan(t, method, 1, t, w, None, np.arange(k), scale_of_bin, 0)
    # Sample i = t2 * a + b; bin j = j1 + t1 * j2. Stage 1: real DFT of length t1 over a (bins j1 up
    # to t1/2 suffice: the input is real). Stage 2: for each j1, twiddle by exp(-2 pi i j1 b / T)
    # and DFT of length t2 over b, folded into one real [2 t2, 2 t2] matrix per j1.
    h1 = t1 // 2 + 1
    j1, a, b, j2 = np.arange(h1), np.arange(t1), np.arange(t2), np.arange(t2)
    ang1 = 2 * np.pi * np.outer(j1, a) / t1
    w1 = np.stack([np.cos(ang1), -np.sin(ang1)], 1).reshape(2 * h1, t1)
    ang2 = 2 * np.pi * (j1[:, None, None] * b[None, None, :] / t + j2[None, :, None] * b[None, None, :] / t2)
    c, s = np.cos(ang2), -np.sin(ang2)  # [j1, j2, b]
    w2 = np.zeros((h1, 2, t2, 2, t2))  # [j1, out re|im, j2, in re|im, b]
    w2[:, 0, :, 0, :], w2[:, 0, :, 1, :] = c, -s
    w2[:, 1, :, 0, :], w2[:, 1, :, 1, :] = s, c
    w2 = w2.reshape(h1, 2 * t2, 2 * t2)
    # Bin j of a real series: row (j1, j2) directly when j1 <= t1/2, else its mirror T - j (same
    # magnitude) at row (t1 - j1, t2 - 1 - j2).
    jj = np.arange(k)
    q1, q2 = jj % t1, jj // t1
    mirror = q1 > t1 // 2
    row_of_bin = np.where(mirror, t1 - q1, q1) * t2 + np.where(mirror, t2 - 1 - q2, q2)
    g1, g2 = np.divmod(np.arange(h1 * t2), t2)
    freq = g1 + t1 * g2
    row_scale = scale_of_bin[np.minimum(freq, t - freq)]
    return _Plan(t, method, t1, t2, w1, w2, row_of_bin, row_scale, 0)


def _rows(x: Array, plan: _Plan) -> Array:
    """Amplitude rows ``[R, n]`` of series ``x [T, n]``; bin k is row ``plan.row_of_bin[k]``.

    Scaled like ``spectral.amplitude_spectrum``, with its ``RESOLUTION_RTOL`` floor (DC excepted).
    """
    t, n = x.shape
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    dt = x.dtype
    if plan.method == "fft":
        # XLA's FFT transforms the minor axis: transpose in, transpose the amplitudes back.
        raw = jnp.abs(jnp.fft.rfft(x.T, axis=-1)).T
    elif plan.t1 == 1:
        z = jnp.dot(jnp.asarray(plan.w1, dt), x, precision=_HIGHEST)
        raw = jnp.sqrt(jnp.square(z[: t // 2 + 1]) + jnp.square(z[t // 2 + 1:]))
    else:
        h1, t2 = plan.w2.shape[0], plan.t2
        y = jnp.dot(jnp.asarray(plan.w1, dt), x.reshape(plan.t1, t2 * n), precision=_HIGHEST)
        z = jnp.einsum("kij,kjn->kin", jnp.asarray(plan.w2, dt), y.reshape(h1, 2 * t2, n),
                       precision=_HIGHEST).reshape(h1, 2, t2, n)
        raw = jnp.sqrt(jnp.square(z[:, 0]) + jnp.square(z[:, 1])).reshape(h1 * t2, n)
    amp = raw * jnp.asarray(plan.row_scale[:, None], dt)
    dc = np.zeros((amp.shape[0], 1), bool)
    dc[plan.dc_row] = True
    amp = jnp.where((amp > RESOLUTION_RTOL * jnp.max(jnp.abs(x), axis=0)) | dc, amp, 0.0)
    if plan.repeats > 1:  # the row read by every bin off the lattice of the repeated series
        amp = jnp.concatenate([amp, jnp.zeros((1, n), dt)])
    return amp


def _noise_measures(rows: Array, row_of_bin: np.ndarray, bins: tuple[int, ...], noise: NoiseConfig,
                    names: tuple[str, ...], zero_row: int | None = None) -> dict[str, Array]:
    """Measures at ``bins`` from amplitude rows ``[R, n]``: ``{name: [m, n]}`` (``spectral.window_stats``)."""
    mu, sigma = window_stats(rows, row_of_bin, bins, noise.n_neighbors, noise.skip, noise.drop_extremes, zero_row)
    a = rows[row_of_bin[np.asarray(bins)]]
    every = {"amplitude": lambda: a, "snr": lambda: a / mu, "bca": lambda: a - mu,
             "z": lambda: (a - mu) / sigma}
    return {k: every[k]() for k in names}


def _over_blocks(f: Callable, args: tuple, n: int, block: int | None, init: PyTree,
                 carry_axis: int = -1) -> PyTree:
    """Run ``f(carry_block, *arg_blocks) -> carry_block`` over blocks of ``block`` units.

    ``args`` hold units on their last axis, the ``carry`` pytree on ``carry_axis``; the carry is
    updated in place. Full blocks run in a ``fori_loop`` (one compiled body), the remainder once.
    """
    if block is None or n <= block:
        return f(init, *args)

    def cut(x, start, size, axis):
        return jax.lax.dynamic_slice_in_dim(x, start, size, axis=axis % x.ndim)

    def run(carry, start, size):
        blk = jax.tree.map(lambda c: cut(c, start, size, carry_axis), carry)
        new = f(blk, *(cut(x, start, size, -1) for x in args))
        put = jax.lax.dynamic_update_slice_in_dim
        return jax.tree.map(lambda c, v: put(c, v, start, carry_axis % c.ndim), carry, new)

    full = n // block
    carry = jax.lax.fori_loop(0, full, lambda i, c: run(c, i * block, block), init)
    if n > full * block:
        carry = run(carry, full * block, n - full * block)
    return carry


_POOL: list = []


def _map_threads(f: Callable, items: list) -> list:
    """``[f(x) for x in items]``, finished, from one thread per CPU core.

    XLA runs a loop of small blocks on one core; programs started from several threads run side
    by side (JAX releases the GIL while they run).
    """
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 1), thread_name_prefix="ssvepjax"))
    return list(_POOL[0].map(lambda x: jax.block_until_ready(f(x)), items))


def _resolve(method: str, unit_block, platform: str) -> tuple[str, int | None]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "fft" if platform in ("gpu", "cuda", "rocm") else "matmul"
    if unit_block == "auto":
        unit_block = CPU_UNIT_BLOCK if platform == "cpu" else None
    elif unit_block is not None:
        V.check_positive("unit_block", unit_block, integer=True)
    return method, unit_block


def _bins_and_noise(design: Design) -> tuple[tuple[int, ...], NoiseConfig]:
    cb, _, _ = design.bins()
    return tuple(int(b) for b in cb), design.noise


def _check_names(names) -> tuple[str, ...]:
    names = tuple(names)
    bad = [n for n in names if n not in MEASURES]
    if not names or bad:
        raise ValueError(f"measures must be a non-empty subset of {MEASURES}, got {names}")
    return names


# ----------------------------------------------------------------------------------------------
# One image.


def measures_fn(
    fn: Callable[[Array], PyTree],
    masks,
    design: Design = Design(),
    *,
    measures=("amplitude", "snr", "z"),
    method: str = "auto",
    unit_block: int | str | None = "auto",
    one_period: bool = True,
) -> Callable[[Float[ArrayLike, "h w c"]], PyTree]:
    """Per-neuron measures of one image at every component bin, at little more than a forward pass.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation}`` (e.g. ``probe.linen_fn``).
        masks: ``[P, H, W]`` part masks, one per tag.
        design: tags, components and noise window.
        measures: which of ``"amplitude"``, ``"snr"``, ``"bca"``, ``"z"`` to return.
        method: ``"fft"``, ``"matmul"`` or ``"auto"`` (module docstring).
        unit_block: units per block of the cache-sized loop; ``"auto"`` (``CPU_UNIT_BLOCK`` on CPU,
            no loop elsewhere) or None for no loop.
        one_period: run the ``tags.period_frames`` frames of one stimulus period only (exact for
            any deterministic ``fn``, ``tags.repeats`` times cheaper; module docstring); False runs
            all ``n_frames``.

    Returns:
        ``run(image [H, W, C]) -> {layer: {measure: [m, *unit_shape]}}`` for the m component bins
        ``design.bins()[0]``; the network and the spectral reduction are compiled on the first call
        (one program for the network, one per distinct layer shape).
    """
    names = _check_names(measures)
    bins, noise = _bins_and_noise(design)
    tags = design.tags
    method, unit_block = _resolve(method, unit_block, jax.default_backend())
    plan = _plan(tags.n_frames, method, tags.repeats if one_period else 1)
    zero_row = plan.n_rows - 1 if plan.repeats > 1 else None
    masks_np = program = None

    def layer(x):
        t, unit_shape = x.shape[0], x.shape[1:]
        x2 = x.reshape(t, -1)
        n = x2.shape[1]
        init = {k: jnp.zeros((len(bins), n), jnp.float32) for k in names}

        def blk(_, xb):
            return _noise_measures(_rows(xb, plan), plan.row_of_bin, bins, noise, names, zero_row)

        out = _over_blocks(blk, (x2,), n, unit_block, init)
        return {k: v.reshape(len(bins), *unit_shape) for k, v in out.items()}

    def build(record):
        if unit_block is None:  # accelerators: one program, one dispatch
            return jax.jit(lambda image: jax.tree.map(layer, record(image)))
        # CPUs: the network, then one program per distinct layer shape (compiles much faster), the
        # layers reduced in parallel (each reduction is a single-threaded loop over unit blocks).
        record, layer_jit = jax.jit(record), jax.jit(layer)

        def run_all(image):
            leaves, tree = jax.tree.flatten(record(image))
            return jax.tree.unflatten(tree, _map_threads(layer_jit, leaves))

        return run_all

    def run(image):
        nonlocal masks_np, program
        check_image(image)
        h, w, _ = np.shape(image)
        if program is None:
            masks_np = check_masks(masks, h, w, n_parts=len(tags.freqs_hz))
            program = build(recorder(fn, masks_np, tags, one_period=one_period))
        elif masks_np.shape[1:] != (h, w):
            raise ValueError(f"image has spatial shape {(h, w)}, the masks {masks_np.shape[1:]}")
        return program(jnp.asarray(image, jnp.float32))

    return run


def spectrum_measures(
    spec: PyTree, design: Design = Design(), *, measures=("amplitude", "snr", "z"), unit_block="auto"
) -> PyTree:
    """Per-neuron measures at the component bins from amplitude spectra ``{layer: [K, *unit_shape]}``.

    The neuron part of ``analysis.measure`` (``LayerResult.neuron``) without the filter, layer and
    noise-bin measures: ``{layer: {measure: [m, *unit_shape]}}``.
    """
    names = _check_names(measures)
    bins, noise = _bins_and_noise(design)
    _, unit_block = _resolve("matmul", unit_block, jax.default_backend())

    for s in jax.tree.leaves(spec):
        if np.shape(s)[0] != design.n_bins:
            raise ValueError(f"spectrum has {np.shape(s)[0]} bins, the design has {design.n_bins}")
    if unit_block is None:  # accelerators: every layer in one program
        return _spectrum_all(spec, bins, noise, names)
    return jax.tree.map(lambda s: _spectrum_layer(jnp.asarray(s), bins, noise, names, unit_block), spec)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _spectrum_all(spec, bins, noise, names):
    return jax.tree.map(lambda s: _spectrum_layer(s, bins, noise, names, None), spec)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _spectrum_layer(s, bins, noise, names, unit_block):
    s2 = s.reshape(s.shape[0], -1)
    init = {k: jnp.zeros((len(bins), s2.shape[1]), s2.dtype) for k in names}
    rob = np.arange(s.shape[0])
    out = _over_blocks(lambda _, sb: _noise_measures(sb, rob, bins, noise, names), (s2,), s2.shape[1],
                       unit_block, init)
    return {k: v.reshape(len(bins), *s.shape[1:]) for k, v in out.items()}


# ----------------------------------------------------------------------------------------------
# Datasets.


def enable_compilation_cache(cache_dir: str, *, min_compile_time_s: float = 0.0) -> None:
    """Turn on JAX's persistent compilation cache in ``cache_dir`` (process-wide).

    Later processes that compile the same programs (same model, shapes, design, devices and JAX
    version) load them from disk instead of compiling. ``min_compile_time_s`` skips caching programs
    that compile faster than that.
    """
    if not isinstance(cache_dir, (str, bytes)) and not hasattr(cache_dir, "__fspath__"):
        raise ValueError(f"cache_dir must be a path, got {cache_dir!r}")
    if not (isinstance(min_compile_time_s, (int, float)) and min_compile_time_s >= 0):
        raise ValueError(f"min_compile_time_s must be a number >= 0, got {min_compile_time_s!r}")
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_s))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _check_mesh(mesh, axis_name: str) -> Mesh:
    if mesh is None:
        return Mesh(np.asarray(jax.devices()[:1]), (axis_name,))
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    if axis_name not in mesh.axis_names:
        raise ValueError(f"mesh has axes {tuple(mesh.axis_names)}, no axis named {axis_name!r} "
                         f"(pass axis_name= one of them)")
    return mesh


def _rechunk(images, chunk: int, h_w_c, checked: bool = False) -> Iterator[tuple[np.ndarray, int]]:
    """Fixed-size chunks ``([chunk, H, W, C] float32, n_valid)`` from an iterable of image batches;
    the last one is padded with zero images."""
    buf: list[np.ndarray] = []
    have = 0
    for i, part in enumerate(images):
        part = np.asarray(part)
        if not checked:
            check_image(part, f"images chunk {i}", "N, H, W, C")
        if part.shape[1:] != h_w_c:
            raise ValueError(f"images chunk {i} has image shape {part.shape[1:]}, the first had {h_w_c}")
        buf.append(part.astype(np.float32, copy=False))
        have += len(part)
        while have >= chunk:
            cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
            yield cat[:chunk], chunk
            buf, have = ([cat[chunk:]] if have > chunk else []), have - chunk
    if have:
        cat = np.concatenate(buf) if len(buf) > 1 else buf[0]
        pad = np.zeros((chunk - have, *h_w_c), np.float32)
        yield np.concatenate([cat, pad]), have


def _first_shape(images):
    """``(image shape, iterator over chunks, number of images or None)``, validating array input."""
    if isinstance(images, (np.ndarray, jax.Array)):
        check_image(images, "images", "N, H, W, C")
        if len(images) == 0:
            raise ValueError("images is empty: need at least one image")
        arr = np.asarray(images)
        return arr.shape[1:], iter([arr]), len(arr)
    if isinstance(images, (str, bytes)) or not isinstance(images, Iterable):
        raise ValueError(f"images must be an array [N, H, W, C] or an iterable of such arrays, got "
                         f"{type(images).__name__}")
    it = iter(images)
    for first in it:
        first = np.asarray(first)
        check_image(first, "images chunk 0", "N, H, W, C")
        if len(first):
            return first.shape[1:], _chain(first, it), None
    raise ValueError("images is empty: the iterable yielded no images")


def _chain(first, rest):
    yield first
    yield from rest


def probe_dataset(
    fn: Callable[[Array], PyTree],
    images,
    masks,
    design: Design | TagConfig = Design(),
    *,
    chunk_size: int = 8,
    mesh: Mesh | None = None,
    axis_name: str = "data",
    progress: bool = True,
    method: str = "auto",
    unit_block: int | str | None = "auto",
    compilation_cache_dir: str | None = None,
    one_period: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
) -> dict[str, Array]:
    """Image-averaged amplitude spectra of every unit, streamed over a dataset in bounded memory.

    The result equals ``analysis.spectra(fn, images, masks, tags)``: ``{layer: [K, *unit_shape]}``
    with ``K = n_frames // 2 + 1``, the mean over images of each unit's amplitude spectrum.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation}`` (e.g. ``probe.linen_fn``).
        images: ``[N, H, W, C]`` in [0, 1], or an iterable of such arrays of any sizes (a data
            loader); they are regrouped into chunks of ``chunk_size``. On several hosts, the images
            of this process.
        masks: ``[P, H, W]`` part masks, one per tag.
        design: a :class:`~ssvepjax.analysis.Design` or a :class:`~ssvepjax.stimulus.TagConfig`.
        chunk_size: images per step (per process); with a mesh, a multiple of the devices on
            ``axis_name`` (per process). Memory grows with it; the last chunk is padded with
            zero-weight images so one program serves every step.
        mesh: a ``jax.sharding.Mesh``; images are sharded along ``axis_name``. None: one device.
        axis_name: the mesh axis to shard images over.
        progress: show a progress bar over chunks.
        method: ``"fft"``, ``"matmul"`` or ``"auto"`` (module docstring).
        unit_block: units per block of the cache-sized loop (``"auto"``: ``CPU_UNIT_BLOCK`` on CPU,
            no loop elsewhere).
        compilation_cache_dir: if given, turn on JAX's persistent compilation cache there
            (:func:`enable_compilation_cache`).
        one_period: run one stimulus period per image (exact, ``tags.repeats`` times cheaper;
            module docstring); False runs all ``n_frames``.
        checkpoint_dir: if given, the running sums are saved there with orbax every
            ``checkpoint_every`` chunks, and a later call with the same folder, images, settings
            and devices resumes after the last saved chunk (a finished probe is replayed from its
            last checkpoint). Each process passes its own images, as for the probe itself.
        checkpoint_every: chunks between checkpoints.

    Returns:
        ``{layer: [K, *unit_shape]}`` mean amplitude spectra (jax Arrays, replicated on the mesh).
    """
    V.check_positive("chunk_size", chunk_size, integer=True)
    V.check_positive("checkpoint_every", checkpoint_every, integer=True)
    tags = design.tags if isinstance(design, Design) else design
    if not isinstance(tags, TagConfig):
        raise ValueError(f"design must be a Design or a TagConfig, got {type(design).__name__}")
    if compilation_cache_dir is not None:
        enable_compilation_cache(compilation_cache_dir)
    mesh = _check_mesh(mesh, axis_name)
    n_dev = int(mesh.shape[axis_name])
    n_proc = jax.process_count()
    local_dev = max(n_dev // n_proc, 1)
    if chunk_size % local_dev:
        raise ValueError(f"chunk_size={chunk_size} must be a multiple of the {local_dev} device(s) (per "
                         f"process) on mesh axis {axis_name!r}")
    h_w_c, chunks, n_images = _first_shape(images)
    if n_images is not None:
        if n_images < local_dev:
            raise ValueError(f"images holds {n_images} image(s) but mesh axis {axis_name!r} has {n_dev} "
                             f"devices: need at least one image per device")
        # Never pad a small dataset up to a large chunk.
        chunk_size = min(chunk_size, -(-n_images // local_dev) * local_dev)
    masks_np = check_masks(masks, h_w_c[0], h_w_c[1], n_parts=len(tags.freqs_hz))
    method, unit_block = _resolve(method, unit_block, mesh.devices.flat[0].platform)
    repeats = tags.repeats if one_period else 1
    record, accumulate, finish, step = _dataset_programs(
        fn, (masks_np.tobytes(), masks_np.shape), tags, mesh, axis_name, method, unit_block, repeats)
    plan = _plan(tags.n_frames, method, repeats)
    data = NamedSharding(mesh, PartitionSpec(axis_name))
    acc, count, acts, done, n_chunks = None, 0, None, 0, 0
    ckpt = _Checkpoints(checkpoint_dir, chunk_size, n_dev, plan) if checkpoint_dir is not None else None
    steps = None if n_images is None else -(-n_images // chunk_size)
    bar = tqdm(total=steps, desc="probe dataset", unit="chunk", disable=not progress, leave=False)
    for i, (chunk, n_valid) in enumerate(_synchronised(
            _rechunk(chunks, chunk_size, h_w_c, checked=n_images is not None), (chunk_size, *h_w_c), n_proc)):
        if i == 0 and n_valid < local_dev:
            # A short first chunk means the images ran out: fewer images than devices.
            raise ValueError(f"images holds {n_valid} image(s) but mesh axis {axis_name!r} has {n_dev} "
                             f"devices: need at least one image per device")
        n_chunks = i + 1
        if acc is None:
            shape = jax.ShapeDtypeStruct((chunk_size * n_proc, *h_w_c), jnp.float32, sharding=data)
            acts = _flat(jax.eval_shape(record, shape))
            acc = {k: _zeros_acc(a, plan, n_dev, mesh, axis_name) for k, a in acts.items()}
            if ckpt is not None:
                acc, done = ckpt.restore(acc)
                count = done * chunk_size  # checkpoints are taken after full chunks only
        if i < done:  # summed before the interruption
            bar.update(1)
            continue
        weights = (np.arange(chunk_size) < n_valid).astype(np.float32)
        xs = jax.make_array_from_process_local_data(data, chunk)
        ws = jax.make_array_from_process_local_data(data, weights)
        if step is not None:
            acc = step(acc, xs, ws)
        else:
            live = _flat(record(xs))
            keys = list(acc)
            args = [(acc[k], live[k], ws) for k in keys]
            # One process: layers in parallel threads. Several: one fixed launch order on every process.
            run = _map_threads if n_proc == 1 else lambda f, xs: [f(x) for x in xs]
            acc = dict(zip(keys, run(lambda a: accumulate(*a), args)))
            del args
            del live
        # Finish this chunk before reading the next: one chunk's activations alive at a time, so
        # peak memory stays that of one step (the host's work between steps is small).
        jax.block_until_ready(acc)
        count += n_valid
        bar.update(1)
        if ckpt is not None and (i + 1) % checkpoint_every == 0 and n_valid == chunk_size:
            ckpt.save(i + 1, acc)
    bar.close()
    if ckpt is not None:
        ckpt.close()
        if done > n_chunks:
            raise ValueError(f"checkpoint_dir {ckpt.folder} holds {done} chunks of {chunk_size} images, more "
                             f"than the {n_chunks} chunks of images given: use another folder")
    if n_proc > 1:
        count = _sum_processes(count)
    out, finite = finish(acc, float(count), tuple((k, tuple(a.shape[2:])) for k, a in acts.items()))
    bad = [k for k, v in jax.device_get(finite).items() if not v]
    if bad:
        raise ValueError(f"activations of {bad} hold NaN or infinite values")
    return out


class _Checkpoints:
    """Orbax checkpoints of ``probe_dataset``'s running sums, with a check that the settings match."""

    def __init__(self, folder, chunk_size: int, n_dev: int, plan: _Plan):
        import orbax.checkpoint as ocp

        self.ocp = ocp
        self.folder = os.path.abspath(os.fspath(folder))
        self.meta = {"chunk_size": chunk_size, "devices": n_dev, "processes": jax.process_count(),
                     "rows": plan.n_rows, "bins": len(plan.row_of_bin), "repeats": plan.repeats}
        self.mngr = ocp.CheckpointManager(self.folder, options=ocp.CheckpointManagerOptions(max_to_keep=1))

    def restore(self, acc: dict) -> tuple[dict, int]:
        """``(acc, chunks done)``: the latest checkpoint, or ``(acc, 0)`` if there is none."""
        latest = self.mngr.latest_step()
        if latest is None:
            return acc, 0
        path = os.path.join(self.folder, "settings.json")
        saved = None
        if os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
        shapes = {k: list(v.shape) for k, v in acc.items()}
        if saved != {**self.meta, "layers": shapes}:
            raise ValueError(f"checkpoint_dir {self.folder} holds a probe with other settings ({saved}); these "
                             f"are {self.meta}: use another folder")
        return self.mngr.restore(latest, args=self.ocp.args.StandardRestore(acc)), int(latest)

    def save(self, chunks_done: int, acc: dict) -> None:
        if jax.process_index() == 0:
            meta = {**self.meta, "layers": {k: list(v.shape) for k, v in acc.items()}}
            os.makedirs(self.folder, exist_ok=True)
            tmp = os.path.join(self.folder, f".settings.json.{os.getpid()}")
            with open(tmp, "w") as f:
                json.dump(meta, f)
            os.replace(tmp, os.path.join(self.folder, "settings.json"))
        self.mngr.save(chunks_done, args=self.ocp.args.StandardSave(acc))
        self.mngr.wait_until_finished()  # the next step donates these buffers

    def close(self) -> None:
        self.mngr.wait_until_finished()
        self.mngr.close()


def _synchronised(chunks: Iterator, shape: tuple, n_proc: int) -> Iterator[tuple[np.ndarray, int]]:
    """The chunks of this process, then, with several processes, zero-weight chunks until all are done.

    Every process must run the same number of steps (each step is a collective program).
    """
    for item in chunks:
        if n_proc > 1:
            _any_process(True)
        yield item
    if n_proc > 1:
        while _any_process(False):
            yield np.zeros(shape, np.float32), 0


@functools.lru_cache(maxsize=8)
def _dataset_programs(fn, masks_key, tags: TagConfig, mesh: Mesh, axis_name: str, method: str, unit_block,
                      repeats: int):
    """The jitted programs of ``probe_dataset``, cached so that repeated calls compile once.

    ``record`` (network), ``accumulate`` (one layer's spectra into its accumulator) and ``finish``
    (mean of every layer); on accelerators ``step`` does record and accumulate in one program. The
    cache holds ``fn`` (and the variables it closes over) until 8 newer settings replace it.
    """
    masks = np.frombuffer(masks_key[0], bool).reshape(masks_key[1])
    plan = _plan(tags.n_frames, method, repeats)
    spec = PartitionSpec(axis_name)
    record_batch = jax.vmap(recorder(fn, masks, tags, one_period=repeats > 1))  # images -> [b, F, ...] per layer
    record = jax.jit(_shard_map(record_batch, mesh=mesh, in_specs=spec, out_specs=spec))

    def local_sum(acc, x, w):
        # acc [1, R, n] and this device's images x [b, T, ...], weights w [b] (0 for padding).
        x = x.reshape(x.shape[0], x.shape[1], -1)
        if unit_block is None:  # accelerators: all images and units in one batched pass
            rows = jax.vmap(lambda s: _rows(s, plan))(x)
            return acc + jnp.sum(jnp.where((w > 0)[:, None, None], rows, 0.0), axis=0)[None]

        # CPUs: image after image, each in cache-sized blocks of units (a batched matmul over
        # images would transpose every block).
        def image(i, acc):
            def blk(acc_b, x_b):
                return acc_b + jnp.where(w[i] > 0, _rows(x_b, plan), 0.0)[None]

            return _over_blocks(blk, (x[i],), x.shape[-1], unit_block, acc)

        return jax.lax.fori_loop(0, x.shape[0], image, acc)

    accumulate = jax.jit(_shard_map(local_sum, mesh=mesh, in_specs=spec, out_specs=spec), donate_argnums=0)
    step = None
    if unit_block is None:  # accelerators: network and reduction in one program per chunk
        def local_step(acc, xs, w):
            acts = _flat(record_batch(xs))
            return {k: local_sum(acc[k], acts[k], w) for k in acc}

        step = jax.jit(_shard_map(local_step, mesh=mesh, in_specs=spec, out_specs=spec), donate_argnums=0)

    @functools.partial(jax.jit, static_argnums=2)
    def finish(acc, count, unit_shapes):
        # Every layer in one program: the one cross-device reduction, the mean, and a finiteness flag.
        out, finite = {}, {}
        for k, shape in unit_shapes:
            total = jnp.sum(acc[k], axis=0)  # [R, n]
            out[k] = (total[plan.row_of_bin] / count).reshape(len(plan.row_of_bin), *shape)
            finite[k] = jnp.all(jnp.isfinite(out[k]))
        return out, finite

    return record, accumulate, finish, step


def _flat(acts) -> dict:
    """``{name: leaf}``: a flat dict keeps its keys, a nested pytree gets ``keystr`` paths."""
    leaves = jax.tree_util.tree_flatten_with_path(acts)[0]
    if isinstance(acts, dict) and all(len(p) == 1 for p, _ in leaves):
        return {p[0].key: v for p, v in leaves}
    return {jax.tree_util.keystr(p): v for p, v in leaves}


def _zeros_acc(a, plan: _Plan, n_dev: int, mesh: Mesh, axis_name: str) -> Array:
    shape = (n_dev, plan.n_rows, math.prod(a.shape[2:]))
    return _zeros_program(shape, NamedSharding(mesh, PartitionSpec(axis_name)))()


@functools.lru_cache(maxsize=64)
def _zeros_program(shape, sharding):
    return jax.jit(functools.partial(jnp.zeros, shape, jnp.float32), out_shardings=sharding)


def _any_process(flag: bool) -> bool:
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag))))


def _sum_processes(count: int) -> int:
    from jax.experimental import multihost_utils

    return int(np.sum(multihost_utils.process_allgather(np.asarray(count))))
