"""Reductions: what a stream of images is reduced to, as pure functions the one image loop runs.

A :class:`Reduction` is to ``streaming.loop.reduce_dataset`` what a ``GradientTransformation`` is to
an optax training loop: a named tuple of pure functions, with the state a pytree of arrays beside them.

- ``init(example)``: the zero state of one device, from the shapes of ONE example (a pytree of
  ``jax.ShapeDtypeStruct`` without the leading axis: ``(H, W, C)`` for images).
- ``update(state, batch, weights)``: the state after a batch (a pytree of arrays with a leading axis
  b) whose examples have ``weights [b]`` in {0, 1} (0 marks the padding of a last chunk). Traceable:
  the loop jits it, once per device inside ``shard_map``.
- ``merge(a, b)``: the state of the union of two disjoint sets of examples (devices, processes).
- ``finalize(state)``: the result, from the merged state (runs on the host, may validate).
- ``check(batch)``: optional host-side validation of each concrete chunk (``ValueError``).
- ``name``: describes the settings, so a checkpoint of another reduction is never resumed.

The spectral reductions of the library are built here: :func:`spectrum_reduction` (image-averaged
amplitude spectra of every unit) and :func:`moments_reduction` (the same plus the sufficient
statistics of the across-image T-squared tests at chosen bins). Each image is tagged, run through the
network (``recording.probing.recorder``: one stimulus period by default) and transformed by the one
transform (``spectral.fourier``) inside the same jitted program, image after image, so that no
time series of two images is alive at once. A new per-unit statistic is a new ``Reduction``, never a
new loop.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ssvepjax import _checks as V
from ssvepjax.recording.probing import block_recorder, recorder
from ssvepjax.spectral.design import Design, as_design
from ssvepjax.spectral.fourier import (
    Plan,
    bins_of_rows,
    block_finish,
    block_init,
    block_update,
    make_block_plan,
    make_plan,
    power_weights,
    resolve_method,
    static_bins,
    transform,
)
from ssvepjax.spectral.noise import check_measures, measures_from_rows
from ssvepjax.stats.amplitude import amplitude_moments, merge_amplitude_moments
from ssvepjax.stats.moments import add_sample
from ssvepjax.stats.t2 import coefficient_moments, merge_moments
from ssvepjax.tagging.frames import check_image
from ssvepjax.tagging.masks import check_masks


class Reduction(NamedTuple):
    """A streamed reduction over examples (module docstring)."""

    init: Callable[[PyTree], PyTree]
    update: Callable[[PyTree, PyTree, jax.Array], PyTree]
    merge: Callable[[PyTree, PyTree], PyTree]
    finalize: Callable[[PyTree], Any]
    check: Callable[[PyTree], None] | None = None
    name: str = ""


def sum_merge(a: PyTree, b: PyTree) -> PyTree:
    """``merge`` of additive states (sums and counts)."""
    return jax.tree.map(jnp.add, a, b)


def summed(contribution: Callable[[PyTree], PyTree], per_step: int = 1) -> Callable:
    """``update`` that adds ``contribution(example)`` of every valid example to the state.

    Examples run ``per_step`` at a time (``jax.vmap``) in a ``fori_loop`` (each is vectorised inside, e.g. over
    its frames), so ``per_step`` examples' intermediates are alive at a time; a batch that ``per_step`` does not
    divide is padded with zero-weight examples. Padding (weight 0) adds exactly 0, whatever its contribution
    (NaN included).
    """
    V.check_positive("per_step", per_step, integer=True)

    def update(state, batch, weights):
        if per_step == 1:
            def body(i, s):
                delta = contribution(jax.tree.map(lambda x: x[i], batch))
                return jax.tree.map(lambda acc, d: acc + jnp.where(weights[i] > 0, d, 0).astype(acc.dtype), s, delta)

            return jax.lax.fori_loop(0, weights.shape[0], body, state)
        b = weights.shape[0]
        pad = -b % per_step
        groups = jax.tree.map(lambda x: jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(
            -1, per_step, *x.shape[1:]), batch)
        w = jnp.pad(weights, (0, pad)).reshape(-1, per_step)

        def body_n(i, s):
            delta = jax.vmap(contribution)(jax.tree.map(lambda x: x[i], groups))
            keep = w[i] > 0
            return jax.tree.map(lambda acc, d: acc + jnp.sum(jnp.where(keep.reshape((-1,) + (1,) * (d.ndim - 1)),
                                                                        d, 0), axis=0).astype(acc.dtype), s, delta)

        return jax.lax.fori_loop(0, w.shape[0], body_n, state)

    return update


def _checked_masks(masks, n_tags: int) -> np.ndarray:
    if np.ndim(masks) != 3:
        raise ValueError(f"masks must have shape [P, H, W], got shape {np.shape(masks)}")
    return check_masks(masks, np.shape(masks)[1], np.shape(masks)[2], n_parts=n_tags)


def image_check(masks: np.ndarray) -> Callable:
    """``check`` for chunks of images ``[b, H, W, C]`` in [0, 1] that match the masks' ``H, W``."""
    def check(images):
        check_image(images, "images", "N, H, W, C")
        if tuple(np.shape(images)[1:3]) != masks.shape[1:]:
            raise ValueError(f"images have spatial shape {tuple(np.shape(images)[1:3])}, the masks "
                             f"{masks.shape[1:]}")

    return check


def _spectral_setup(fn, masks_key, design: Design, one_period: bool, method: str, noise=(0.0, 0)):
    m = np.frombuffer(masks_key[0], bool).reshape(masks_key[1])
    plan = make_plan(design.tags.n_frames, method, design.tags.repeats if one_period else 1)
    return m, plan, recorder(fn, m, design.tags, one_period=one_period, pixel_noise=noise[0], noise_seed=noise[1])


class _Spectra:
    """One image's amplitude rows of every layer, from the whole series at once (``fourier.transform``).

    ``rows(image) -> ({layer: [R, *unit]}, {layer: ac [*unit]})``; ``spectrum(rows) -> [K, *unit]`` and
    ``at(rows, bins)`` read T-frame bins from rows.
    """

    def __init__(self, record, plan: Plan, design: Design):
        self.record, self.plan, self.design = record, plan, design
        self.n_rows = plan.n_rows
        # Bin k of the spectrum is row row_of_bin[k]; zero_row (None: no such row) holds the bins off the lattice.
        self.row_of_bin, self.zero_row = np.asarray(plan.row_of_bin), plan.zero_row

    def shapes(self, example) -> dict:
        return {k: v.shape[1:] for k, v in jax.eval_shape(self.record, example).items()}

    def rows(self, image):
        rows, ac = {}, {}
        for k, v in self.record(image).items():
            x = v.reshape(v.shape[0], -1)
            rows[k] = transform(x, self.plan, *self.design.floor).reshape(self.n_rows, *v.shape[1:])
            ac[k] = (np.sqrt(2.0) * jnp.std(x, axis=0)).reshape(v.shape[1:])
        return rows, ac

    def spectrum(self, rows):
        return bins_of_rows(rows, self.plan)

    def at(self, rows, bins):
        return bins_of_rows(rows, self.plan, bins)


class _BlockedSpectra(_Spectra):
    """The same rows accumulated block by block of ``frame_block`` frames (``fourier.BlockPlan``): the series is
    never stored. Rows are the bins of the F-frame series (one period or every frame) that are kept: all of
    them, or with ``lattice_only`` the multiples of the stimulus' repeats (every other bin of a deterministic
    network is 0), so that memory stays flat in the recording length."""

    def __init__(self, fn, masks, design: Design, one_period: bool, frame_block: int, lattice_only: bool, noise):
        tags = design.tags
        f = tags.period_frames if one_period else tags.n_frames
        self.stride = tags.n_frames // f  # T-bin of F-bin j: stride * j
        step = tags.repeats if (lattice_only and not one_period) else 1
        self.bplan = make_block_plan(f, tuple(range(0, f // 2 + 1, step)), frame_block)
        self.record = block_recorder(fn, masks, tags, frame_block, one_period=one_period, pixel_noise=noise[0],
                                     noise_seed=noise[1])
        self.design, self.n_rows = design, len(self.bplan.bins)
        t_bins = self.stride * self.bplan.bins
        self.row_of_bin = np.full(tags.n_bins, self.n_rows)  # bins without a row read a zero row
        self.row_of_bin[t_bins] = np.arange(self.n_rows)
        self.zero_row = self.n_rows  # not stored: measures_from_rows counts it without reading it

    def shapes(self, example) -> dict:
        start = jax.ShapeDtypeStruct((), jnp.int32)
        return {k: v.shape[1:] for k, v in jax.eval_shape(self.record, example, start).items()}

    def rows(self, image):
        shapes = self.shapes(jax.ShapeDtypeStruct(image.shape, image.dtype))
        init = {k: block_init(self.bplan, math.prod(shape)) for k, shape in shapes.items()}
        b = self.bplan.block

        def step(acc, i):
            acts = self.record(image, i * b)
            return {k: block_update(acc[k], acts[k].reshape(b, -1), i * b, self.bplan) for k in acc}, None

        acc, _ = jax.lax.scan(step, init, jnp.arange(self.bplan.n_blocks))
        rows = {k: block_finish(a, self.bplan, *self.design.floor).reshape(self.n_rows, *shapes[k])
                for k, a in acc.items()}
        f = self.bplan.n_frames
        ac = {k: (np.sqrt(2.0) * jnp.sqrt(jnp.maximum(a["sumsq"] / f - jnp.square(a["sum"] / f), 0.0))
                  ).reshape(shapes[k]) for k, a in acc.items()}
        return rows, ac

    def spectrum(self, rows):
        zero = jnp.zeros((1, *rows.shape[1:]), rows.dtype)
        return jnp.concatenate([rows, zero])[self.row_of_bin]

    def at(self, rows, bins):
        return self.spectrum(rows)[np.asarray(bins)]


#: What a unit of the result is (``spectrum_reduction(granularity=...)``).
GRANULARITIES = ("neuron", "filter")


def check_granularity(granularity) -> str:
    """``granularity`` if it is one of :data:`GRANULARITIES`, else ``ValueError`` naming the choices."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    return granularity


def filter_shape(unit_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one layer's filters: the last (channel) axis of its unit shape (``()`` stays ``()``)."""
    return tuple(unit_shape[-1:])


def filter_mean(rows: jax.Array) -> jax.Array:
    """``[R, *unit_shape] -> [R, c]``: each filter's mean over positions of its neurons' rows.

    The convention of ``analysis.measure``'s filter spectra: the mean of the neurons' amplitude spectra (spatial
    map first), not the spectrum of the spatially averaged series.
    """
    if rows.ndim <= 2:
        return rows
    return rows.reshape(rows.shape[0], -1, rows.shape[-1]).mean(1)



_LINEAR = ("amplitude", "bca")  # the measures that scale with the amplitudes (SNR and z are ratios)


def _per_layer(mean: Callable[[jax.Array, jax.Array], Any]) -> Callable[[dict, jax.Array], dict]:
    """``(sums {layer: rows}, count) -> {layer: mean(rows, count)}``: one jitted program for every layer, and one
    host transfer of a finiteness flag per layer; ``ValueError`` naming the layers whose activations held NaN or
    infinite values. A flag is one scalar sum: a total of non-negative amplitude sums is NaN or infinite exactly
    when one of them is (short of a float32 overflow past 3e38)."""
    @jax.jit
    def run(sums, count):
        return {k: mean(v, count) for k, v in sums.items()}, {k: jnp.isfinite(jnp.sum(v)) for k, v in sums.items()}

    def finalize(sums, count):
        out, finite = run(sums, count)
        bad = [k for k, ok in jax.device_get(finite).items() if not ok]
        if bad:
            raise ValueError(f"activations of {bad} hold NaN or infinite values")
        return out

    return finalize


def mean_measures(spectra, design: Design, names: tuple[str, ...]) -> Callable[[dict, jax.Array], dict]:
    """``(sums {layer: rows}, count) -> {layer: {name: [m, *unit]}}`` at the design's component bins.

    The measures of ``spectral.noise.measures_from_rows`` read straight from the accumulated rows (one
    jitted program for every layer): the ``[K, *unit]`` spectrum is never formed, so the cost follows the
    rows kept (one period: a third of the bins), not ``n_frames``. ``ValueError`` naming layers whose
    activations held NaN or infinite values.
    """
    bins = tuple(int(b) for b in design.bins()[0])
    exclude = design.excluded_bins()
    row_of_bin, zero_row = spectra.row_of_bin, spectra.zero_row
    if zero_row is not None and np.any(row_of_bin[list(bins)] == zero_row):  # components sit on the lattice
        raise ValueError("a component bin lies off the rows kept (lattice_only): use the spectra instead")

    def mean(v, count):
        # From the sums: SNR and z do not change with the scale of the rows, amplitude and BCA are divided by the
        # count after the gather (the [R, n] means are never formed).
        got = measures_from_rows(v.reshape(v.shape[0], -1), row_of_bin, bins, design.noise, names, zero_row, exclude)
        return {n: (x / count if n in _LINEAR else x).reshape(len(bins), *v.shape[1:]) for n, x in got.items()}

    return _per_layer(mean)


def mean_spectra(expand: Callable[[jax.Array], jax.Array]) -> Callable[[dict, jax.Array], dict]:
    """``(sums {layer: rows}, count) -> {layer: spectrum / count}`` in one jitted program, checked finite.

    One program and one host transfer for every layer (eager indexing per layer cost more than the probe
    of one image); ``ValueError`` naming the layers that hold NaN or infinite values.
    """
    return _per_layer(lambda v, count: expand(v) / count)


def spectrum_reduction(
    fn: Callable, masks, design: Design = Design(), *, one_period: bool = True, method: str = "auto",
    relative: bool = False, pixel_noise: float = 0.0, noise_seed: int = 0, frame_block: int | None = None,
    lattice_only: bool = False, measures=None, granularity: str = "neuron", images_per_step: int = 1,
) -> Reduction:
    """Image-averaged amplitude spectra of every unit ``fn`` records: ``{layer: [K, *unit_shape]}``.

    Args:
        fn: per-frame function ``[H, W, C] -> pytree of arrays`` (e.g. ``recording.linen_fn``).
        masks: ``[P, H, W]`` part masks, one per tag.
        design: a ``Design`` (or a ``TagConfig``): tags, components, and the detection floor.
        one_period: run one stimulus period per image (exact for a deterministic ``fn``,
            ``tags.repeats`` times cheaper); False runs all ``n_frames`` (stochastic ``fn``, noise).
        method: transform method (``spectral.fourier``).
        relative: also accumulate the moments of each unit's per-image relative amplitude ``A / ac``
            (``stats.amplitude``: the amplitude test across images) at the component bins ``design.bins()[0]``
            (True) or at the given bins (a sequence, e.g. another design's components).
        pixel_noise, noise_seed: Gaussian noise added to every frame (``recording.probing.recorder``).
        frame_block: run the network over blocks of this many frames and accumulate the coefficients block by
            block (``fourier.BlockPlan``): the time series is never stored; it must divide the frames run.
        lattice_only: with ``frame_block`` and every frame, keep only the bins on the tags' lattice (every other
            bin of a deterministic network is 0), so memory does not grow with ``n_frames``. For a deterministic
            ``fn`` only (not with ``pixel_noise``).
        measures: names of ``spectral.noise.MEASURES`` (e.g. ``("amplitude", "snr", "z")``): the result is the
            per-neuron measures of the mean spectra at the component bins ``design.bins()[0]``,
            ``{layer: {name: [m, *unit_shape]}}``, computed from the accumulated rows (the full spectrum is never
            formed; equal to ``analysis.spectrum_measures`` of the spectra). Not with ``relative``.
        granularity: ``"neuron"`` (every unit) or ``"filter"``: a unit is a filter (the last axis of a layer's unit
            shape, ``[h, w, c] -> [c]``; the tokens of ``[n_tokens, dim]`` are averaged, ``[dim]`` remain). Inside
            each image's step, every layer's per-neuron amplitude rows are averaged over positions as soon as they
            are computed (``filter_mean``), so the state across images, the result and the per-image relative
            amplitudes are per filter. A filter's relative amplitude in an image is its mean amplitude over its AC
            amplitude from that mean spectrum (Parseval, as ``analysis.effects``), so that ``analysis.measure``
            of the result treats each filter as one unit.
        images_per_step: images vectorised together inside a step (``summed``): faster where memory allows, the
            transient memory grows with it; results are those of one image at a time.

    Returns:
        A :class:`Reduction` whose result is the mean over images of each unit's amplitude spectrum,
        ``K = n_frames // 2 + 1`` bins (``ValueError`` if an activation was NaN or infinite); with
        ``relative``, the pair ``(spectra, {layer: {"n", "shift", "sum", "m2"}})`` (``stats.amplitude_moments``;
        these take Welford's update image by image, so ``images_per_step`` vectorises the spectra only). With
        ``granularity="filter"`` ``*unit_shape`` is ``[c]``.
    """
    design = as_design(design)
    m = _checked_masks(masks, design.tags.n_tags)
    if relative is True:
        bins = tuple(int(b) for b in design.bins()[0])
    else:
        bins = static_bins(relative, design.tags.n_frames) if relative is not False else ()
    if lattice_only and frame_block is None:
        raise ValueError("lattice_only needs frame_block (the whole-series transform keeps every bin)")
    if lattice_only and pixel_noise:
        raise ValueError("lattice_only keeps the tags' lattice only, and pixel_noise > 0 puts power on every bin: "
                         "probe the noise without lattice_only")
    if frame_block is not None:
        V.check_positive("frame_block", frame_block, integer=True)
    check_granularity(granularity)
    V.check_positive("images_per_step", images_per_step, integer=True)
    if measures is not None:
        measures = check_measures(measures)
        if bins:
            raise ValueError("measures and relative cannot be combined: ask for one of them")
    return _spectrum_reduction(fn, (m.tobytes(), m.shape), design, one_period, resolve_method(method), bins,
                               (float(pixel_noise), int(noise_seed)), frame_block, bool(lattice_only), measures,
                               granularity, int(images_per_step))


@functools.lru_cache(maxsize=16)
def _spectrum_reduction(fn, masks_key, design, one_period, method, relative, noise, frame_block, lattice_only,
                        measures=None, granularity="neuron", per_step=1) -> Reduction:
    # Cached: the loop caches its compiled programs per reduction, so the same settings compile once.
    m, plan, record = _spectral_setup(fn, masks_key, design, one_period, method, noise)
    spectra = (_Spectra(record, plan, design) if frame_block is None else
               _BlockedSpectra(fn, m, design, one_period, frame_block, lattice_only, noise))

    per_filter = granularity == "filter"
    weights = jnp.asarray(power_weights(design.tags.n_frames), jnp.float32)

    def init(example):
        shapes = spectra.shapes(example)
        if per_filter:
            shapes = {k: filter_shape(v) for k, v in shapes.items()}
        state = {"sum": {k: jnp.zeros((spectra.n_rows, *v), jnp.float32) for k, v in shapes.items()},
                 "count": jnp.zeros((), jnp.float32)}
        if relative:
            state["relative"] = {k: _zero_amplitude_moments((len(relative), *v)) for k, v in shapes.items()}
        return state

    def contribution(image):
        rows, ac = spectra.rows(image)
        if per_filter:  # positions averaged as each layer comes out: no per-neuron rows outlive the layer
            rows = {k: filter_mean(v) for k, v in rows.items()}
            ac = {k: jnp.sqrt(2.0 * jnp.tensordot(weights, jnp.square(spectra.spectrum(v)), 1))
                  for k, v in rows.items()}
        out = {"sum": rows, "count": jnp.ones((), jnp.float32)}
        if relative:
            out["relative"] = {}
            for k, v in rows.items():
                r = spectra.at(v, relative) / jnp.where(ac[k] > 0, ac[k], 1.0)
                out["relative"][k] = jnp.where(ac[k] > 0, r, 0.0)
        return out

    add = summed(lambda image: {k: v for k, v in contribution(image).items() if k != "relative"}, per_step)

    def update(state, batch, weights):
        if not relative:
            return add(state, batch, weights)

        # Sums add; the relative amplitudes' shifted mean and M2 take Welford's update, image by image.
        def body(i, s):
            delta = contribution(jax.tree.map(lambda x: x[i], batch))
            w = weights[i]
            sums = jax.tree.map(lambda acc, d: acc + jnp.where(w > 0, d, 0).astype(acc.dtype),
                                {"sum": s["sum"], "count": s["count"]}, {"sum": delta["sum"], "count": delta["count"]})
            rel = {k: add_sample(s["relative"][k], delta["relative"][k], w) for k in s["relative"]}
            return {**sums, "relative": rel}

        return jax.lax.fori_loop(0, weights.shape[0], body, state)

    def merge(a, b):
        out = sum_merge({"sum": a["sum"], "count": a["count"]}, {"sum": b["sum"], "count": b["count"]})
        if relative:
            out["relative"] = {k: merge_amplitude_moments(a["relative"][k], b["relative"][k]) for k in a["relative"]}
        return out

    mean = mean_spectra(spectra.spectrum) if measures is None else mean_measures(spectra, design, measures)

    def finalize(state):
        out = mean(state["sum"], state["count"])
        if not relative:
            return out
        return out, state["relative"]

    return Reduction(init, update, merge, finalize, image_check(m),
                     f"spectrum {design.key(one_period, plan.method, relative, noise, frame_block, lattice_only)}"
                     + (f" measures {measures}" if measures else "") + (" shifted-m2" if relative else "")
                     + (f" granularity {granularity}" if per_filter else ""))


def _zero_amplitude_moments(shape) -> dict:
    zero = jnp.zeros(shape, jnp.float32)
    return {"n": jnp.zeros((), jnp.float32), "shift": zero, "sum": zero, "m2": zero}


def moments_reduction(
    fn: Callable, masks, design: Design, bins: Sequence[int], *, one_period: bool = True, method: str = "auto"
) -> Reduction:
    """Mean amplitude spectra and, at ``bins``, the moments of each unit's coefficients over images.

    At each of the m ``bins``, per unit: the moments of the complex coefficient (``stats.coefficient_moments``:
    count, mean, centred sums of squares and products of the real and imaginary parts, merged chunk by chunk
    with ``stats.merge_moments``), the sufficient statistics of the Hotelling and circular T-squared tests; and
    the count, mean and centred sum of squares of the relative amplitude ``A / ac`` (``stats.amplitude``: the
    amplitude test), merged the same way.
    Memory does not grow with the number of images.

    Returns:
        A :class:`Reduction` whose result is ``(mean_amplitude {layer: [K, *unit_shape]}, moments {layer: {key:
        [m, *unit_shape]}}, relative {layer: {"n", "shift", "sum", "m2"}})``.
    """
    design = as_design(design)
    m = _checked_masks(masks, design.tags.n_tags)
    target = static_bins(bins, design.tags.n_frames)
    return _moments_reduction(fn, (m.tobytes(), m.shape), design, target, one_period, resolve_method(method))


@functools.lru_cache(maxsize=16)
def _moments_reduction(fn, masks_key, design, target, one_period, method) -> Reduction:
    m, plan, record = _spectral_setup(fn, masks_key, design, one_period, method)

    def one(image):
        acts = record(image)
        amp, coef, rel = {}, {}, {}
        for k, v in acts.items():
            x = v.reshape(v.shape[0], -1)
            re, im = transform(x, plan, *design.floor, phase=True)
            amp[k] = jnp.sqrt(jnp.square(re) + jnp.square(im)).reshape(plan.n_rows, *v.shape[1:])
            z = bins_of_rows(re, plan, target) + 1j * bins_of_rows(im, plan, target, imaginary=True)
            coef[k] = z.reshape(len(target), *v.shape[1:])
            ac = np.sqrt(2.0) * jnp.std(x, axis=0)
            r = jnp.where(ac > 0, jnp.abs(z) / jnp.where(ac > 0, ac, 1.0), 0.0).reshape(coef[k].shape)
            rel[k] = r
        return amp, coef, rel

    def init(example):
        acts = jax.eval_shape(record, example)
        zeros = {k: jnp.zeros((len(target), *v.shape[1:]), jnp.complex64) for k, v in acts.items()}
        rows = {k: jnp.zeros((plan.n_rows, *v.shape[1:]), jnp.float32) for k, v in acts.items()}
        return {"sum": rows, "count": jnp.zeros((), jnp.float32),
                "moments": {k: coefficient_moments(z[None], 0, jnp.zeros((1,))) for k, z in zeros.items()},
                "relative": {k: _zero_amplitude_moments(z.shape) for k, z in zeros.items()}}

    def update(state, images, weights):
        def body(carry, xw):
            image, w = xw
            amp, coef, rel = one(image)
            carry = jax.tree.map(lambda acc, a: acc + jnp.where(w > 0, a, 0).astype(acc.dtype), carry, amp)
            return carry, (coef, rel)

        sums, (coefs, rels) = jax.lax.scan(body, state["sum"], (images, weights))
        chunk = {k: coefficient_moments(v, 0, weights) for k, v in coefs.items()}
        rel = {k: merge_amplitude_moments(state["relative"][k], amplitude_moments(v, weights)) for k, v in rels.items()}
        return {"sum": sums, "count": state["count"] + jnp.sum(weights), "relative": rel,
                "moments": {k: merge_moments(state["moments"][k], chunk[k]) for k in chunk}}

    def merge(a, b):
        return {"sum": sum_merge(a["sum"], b["sum"]), "count": a["count"] + b["count"],
                "relative": {k: merge_amplitude_moments(a["relative"][k], b["relative"][k]) for k in a["relative"]},
                "moments": {k: merge_moments(a["moments"][k], b["moments"][k]) for k in a["moments"]}}

    mean = mean_spectra(lambda rows: bins_of_rows(rows, plan))

    def finalize(state):
        return mean(state["sum"], state["count"]), state["moments"], state["relative"]

    return Reduction(init, update, merge, finalize, image_check(m),
                     f"moments {design.key(one_period, plan.method, target)} shifted-m2")


__all__ = ["GRANULARITIES", "Reduction", "check_granularity", "filter_mean", "filter_shape", "image_check",
           "moments_reduction", "spectrum_reduction", "sum_merge", "summed"]
