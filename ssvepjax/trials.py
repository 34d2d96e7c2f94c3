"""Statistics across images: per-unit tests on complex Fourier coefficients, against the z > 1.64 rule.

The z rule (``analysis``) averages the amplitude spectra of N images and compares each component
with its neighbouring bins. The tests here (SCIENCE.md section 4) instead keep one complex
coefficient per image and unit at each tested bin and ask whether their mean is zero:
Hotelling's T-squared (``stats.hotelling_t2``, any bivariate noise) or Victor & Mast's circular
T-squared (``stats.circular_t2``, circular noise), with a Benjamini-Hochberg false discovery rate
over the units of a layer, separately for each bin (``stats.fdr_bh``).

The two ask different questions. The z rule: is there more amplitude at this bin than around it, on
average over images? The T-squared tests: is the response phase-locked to the tag *across images*,
i.e. the same sign and phase whatever the image? A unit whose response flips sign with the image
content (a linear unit sees ``w . x``, whose sign depends on x) passes the first and fails the second.

Memory: the coefficients are ``[N, m, *unit_shape]`` complex64 per layer, so only the requested
layers and the m requested bins are kept (``probe_coefficients`` takes ``include``-filtered probe
functions); images are processed one at a time. For datasets, ``stream_tests`` keeps per unit and
bin only the tests' sufficient statistics (count, mean, centred sums of squares; five numbers),
merged chunk by chunk, and ``tests_from_moments`` tests them: memory no longer grows with N.

Coefficients at or below ``spectral.RESOLUTION_RTOL`` times the series' largest magnitude are
float32 rounding error and set to 0, as the amplitude
spectrum does: at bins no combination of tags reaches, every image then gives 0 and the tests are
undefined (NaN: not a test, left out of the FDR count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax import _validate as V
from ssvepjax import analysis as A
from ssvepjax import stream
from ssvepjax.probe import recorder
from ssvepjax.spectral import RESOLUTION_RTOL, _amplitude, _repeat_bins, measures_at
from ssvepjax.stats import (
    _coefficients,
    circular_from_moments,
    coefficient_moments,
    fdr_bh,
    hotelling_from_moments,
    merge_moments,
)
from ssvepjax.stimulus import TagConfig, check_image, check_masks

TESTS = {"hotelling": (hotelling_from_moments, 3), "circular": (circular_from_moments, 2)}


def statistics_bins(
    design: A.Design, *, max_order: int = 2, n_noise: int = 4
) -> tuple[list[int], list[str], list[str]]:
    """Bins to test: the non-shared components up to ``max_order`` and ``n_noise`` off-lattice noise bins.

    Returns:
        ``(bins, labels, kinds)``; kinds are ``"fundamental"``, ``"harmonic"``, ``"intermodulation"`` or
        ``"noise"`` (off-lattice bins, where a false positive is the only way to be significant).
    """
    if not isinstance(max_order, int) or max_order < 1:
        raise ValueError(f"max_order must be an integer >= 1, got {max_order!r}")
    if not isinstance(n_noise, int) or n_noise < 0:
        raise ValueError(f"n_noise must be an integer >= 0, got {n_noise!r}")
    comps = [c for c in design.components if c.order <= max_order and not c.shared]
    bins, labels, kinds = [], [], []
    for c in comps:
        if c.bin not in bins:
            bins.append(c.bin)
            labels.append(c.label)
            kinds.append(c.kind)
    nb = design.bins("off")[2]
    # Spread the noise bins over the spectrum rather than taking the lowest ones.
    pick = nb[np.linspace(0, len(nb) - 1, n_noise).round().astype(int)] if len(nb) and n_noise else []
    for b in pick:
        bins.append(int(b))
        labels.append(f"noise@{int(b) * design.tags.resolution_hz:g}Hz")
        kinds.append("noise")
    return bins, labels, kinds


def coefficient_fn(fn: Callable, masks, tags: TagConfig, bins: Sequence[int], *, one_period: bool = True) -> Callable:
    """A jitted ``image -> ({layer: amplitude [K, ...]}, {layer: coefficients [m, ...]})`` for one image.

    With ``one_period`` only one stimulus period goes through ``fn`` (as in ``analysis.spectrum_fn``):
    bin ``R * j`` of the ``R = tags.repeats`` periods has the period's coefficient at j (same
    scaling, same phase) and every other bin is 0.
    """
    record = recorder(fn, masks, tags, one_period=one_period)
    r = tags.repeats if one_period else 1
    b = tuple(int(x) for x in bins)
    on = [i for i, x in enumerate(b) if x % r == 0]  # bins on the lattice of the repeated series

    @jax.jit
    def run(image):
        acts = record(image)
        amp = {k: _repeat_bins(_amplitude(v, 0), r, 0, tags.n_frames // 2 + 1) for k, v in acts.items()}
        coef = {}
        for k, v in acts.items():
            z = jnp.zeros((len(b), *v.shape[1:]), jnp.complex64)
            if on:
                z = z.at[np.asarray(on)].set(_coefficients(v, tuple(b[i] // r for i in on), 0))
            floor = RESOLUTION_RTOL * jnp.max(jnp.abs(v), 0, keepdims=True)
            coef[k] = jnp.where(jnp.abs(z) > floor, z, 0)
        return amp, coef

    return run


def probe_coefficients(
    fn: Callable,
    images: np.ndarray,
    masks,
    tags: TagConfig,
    bins: Sequence[int],
    *,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Image-averaged amplitude spectra and per-image complex coefficients at ``bins``.

    Args:
        fn: per-frame function (restrict it to a few layers with ``linen_fn(..., include=...)``).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` part masks.
        tags: the tags.
        bins: rfft bins to keep coefficients at.

    Returns:
        ``(mean_amplitude {layer: [K, ...]}, coefficients {layer: complex64 [N, m, ...]})``.
    """
    check_image(images, "images", "N, H, W, C")
    n, h, w, _ = np.shape(images)
    masks = check_masks(masks, h, w, n_parts=len(tags.freqs_hz))
    k_max = tags.n_frames // 2
    if not len(bins) or min(bins) < 0 or max(bins) > k_max:
        raise ValueError(f"bins must be a non-empty list of rfft bins in [0, {k_max}], got {list(bins)}")
    run = coefficient_fn(fn, masks, tags, bins)
    total, coefs = None, None
    for i in tqdm(range(n), desc="probe images", disable=not progress, leave=False):
        amp, coef = run(jnp.asarray(images[i], jnp.float32))
        total = amp if total is None else jax.tree.map(jnp.add, total, amp)
        if coefs is None:
            coefs = {k: np.empty((n, *v.shape), np.complex64) for k, v in coef.items()}
        for k, v in coef.items():
            coefs[k][i] = np.asarray(v)
    return {k: np.asarray(v) / n for k, v in total.items()}, coefs


def across_image_tests(coefs: np.ndarray, *, test: str = "hotelling", alpha: float = 0.05) -> dict[str, np.ndarray]:
    """One test per unit and bin across images, with Benjamini-Hochberg FDR over units per bin.

    Args:
        coefs: ``[N, m, *unit_shape]`` complex coefficients (N images, m bins).
        test: ``"hotelling"`` (N >= 3) or ``"circular"`` (N >= 2).
        alpha: false discovery rate.

    Returns:
        ``{"t2", "p", "q", "reject"}``, each ``[m, n_units]``: the statistic, its p-value, the BH q-value
        over the units of each bin, and ``q <= alpha``. NaN (degenerate) tests are never rejected.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {sorted(TESTS)}, got {test!r}")
    min_images = TESTS[test][1]
    if np.ndim(coefs) < 2:
        raise ValueError(f"coefs must have shape [N, m, ...units], got {np.shape(coefs)}")
    n, m = np.shape(coefs)[:2]
    if n < min_images:
        raise ValueError(f"{test} needs at least {min_images} images, got {n}: fewer images than the statistic needs")
    return tests_from_moments(coefficient_moments(np.asarray(coefs).reshape(n, m, -1)), test=test, alpha=alpha)


def stream_tests(
    fn: Callable,
    images,
    masks,
    tags: TagConfig,
    bins: Sequence[int],
    *,
    chunk_size: int = 8,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """:func:`probe_coefficients` for datasets of any size: per-unit moments instead of coefficients.

    Images are streamed in chunks (an array or any iterable of batches, as in
    ``stream.probe_dataset``); each chunk's coefficients are reduced to the sufficient statistics of
    the T-squared tests (``stats.coefficient_moments``) and merged into running ones, so memory is
    one chunk's, not ``[N, m, units]`` per layer. Test them with :func:`tests_from_moments`.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation}``.
        images: ``[N, H, W, C]`` in [0, 1], or an iterable of such arrays.
        masks: ``[P, H, W]`` part masks.
        tags: the tags.
        bins: rfft bins to test.
        chunk_size: images per step (the last chunk is padded with zero-weight images).
        progress: show a progress bar over chunks.

    Returns:
        ``(mean_amplitude {layer: [K, ...]}, moments {layer: {key: [m, ...]}})``.
    """
    V.check_positive("chunk_size", chunk_size, integer=True)
    h_w_c, chunks, n_images = stream._first_shape(images)
    masks = check_masks(masks, h_w_c[0], h_w_c[1], n_parts=len(tags.freqs_hz))
    k_max = tags.n_frames // 2
    if not len(bins) or min(bins) < 0 or max(bins) > k_max:
        raise ValueError(f"bins must be a non-empty list of rfft bins in [0, {k_max}], got {list(bins)}")
    if n_images is not None:
        chunk_size = min(chunk_size, n_images)
    run = jax.vmap(coefficient_fn(fn, masks, tags, bins))

    @jax.jit
    def step(state, xs, w):
        amp, coef = run(xs)
        amp = {k: jnp.tensordot(w, v, axes=1) for k, v in amp.items()}
        mom = {k: coefficient_moments(v, 0, w) for k, v in coef.items()}
        if state is None:  # the first chunk (a second trace of this program)
            return amp, mom
        return ({k: state[0][k] + amp[k] for k in amp}, {k: merge_moments(state[1][k], mom[k]) for k in mom})

    state, count = None, 0
    total = None if n_images is None else -(-n_images // chunk_size)
    for chunk, n_valid in tqdm(stream._rechunk(chunks, chunk_size, h_w_c, checked=n_images is not None),
                               total=total, desc="test images", unit="chunk", disable=not progress, leave=False):
        w = (np.arange(chunk_size) < n_valid).astype(np.float32)
        state = step(state, chunk, w)
        count += n_valid
    amp, moments = state
    return {k: np.asarray(v) / count for k, v in amp.items()}, moments


def tests_from_moments(moments: dict, *, test: str = "hotelling", alpha: float = 0.05) -> dict[str, np.ndarray]:
    """:func:`across_image_tests` from one layer's moments ``{key: [m, *unit_shape]}`` (:func:`stream_tests`)."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {sorted(TESTS)}, got {test!r}")
    if not isinstance(moments, dict):
        raise ValueError(f"moments must be a dict (from stream_tests or coefficient_moments), got {type(moments)}")
    # Units flattened to one axis per bin ("n" is a scalar); the test checks the keys.
    flat = {k: jnp.reshape(v, (np.shape(v)[0], -1)) if np.ndim(v) else v for k, v in moments.items()}
    t2, _, p = TESTS[test][0](flat)
    reject, q = fdr_bh(p, alpha, axis=1)
    return {"t2": np.asarray(t2), "p": np.asarray(p), "q": np.asarray(q), "reject": np.asarray(reject)}


def compare_detections(
    mean_amplitude: np.ndarray,
    coefs: np.ndarray,
    bins: Sequence[int],
    labels: Sequence[str],
    design: A.Design = A.Design(),
    *,
    alpha: float = 0.05,
) -> dict[str, dict]:
    """Per bin: units detected by the z rule, by each T-squared test after FDR, and their overlap.

    Args:
        mean_amplitude: ``[K, *unit_shape]`` image-averaged amplitude spectrum of one layer.
        coefs: ``[N, m, *unit_shape]`` its per-image coefficients at ``bins``.
        bins, labels: the m tested bins and their names.
        design: noise settings and z threshold of the z rule.
        alpha: FDR of the T-squared tests.

    Returns:
        ``{label: {...}}`` with fractions of units: ``z_rule`` (z > threshold), ``hotelling_fdr`` and
        ``circular_fdr`` (q <= alpha), ``hotelling_p05`` (uncorrected p < .05), ``both`` (z rule and
        Hotelling FDR), ``z_only``, ``t2_only``, and ``defined`` (units where Hotelling's test is not
        degenerate).
    """
    thr = design.noise.z_threshold
    m = len(bins)
    if np.shape(coefs)[1] != m or len(labels) != m:
        raise ValueError(f"coefs has {np.shape(coefs)[1]} bins, bins {m}, labels {len(labels)}: they must match")
    z = np.asarray(measures_at(mean_amplitude, list(bins), design.noise)["z"]).reshape(m, -1)
    zs = np.nan_to_num(z, nan=-np.inf) > thr
    hot = across_image_tests(coefs, test="hotelling", alpha=alpha)
    circ = across_image_tests(coefs, test="circular", alpha=alpha)
    out = {}
    for i, lab in enumerate(labels):
        h = hot["reject"][i]
        out[lab] = {
            "bin": int(bins[i]),
            "z_rule": float(zs[i].mean()),
            "hotelling_fdr": float(h.mean()),
            "circular_fdr": float(circ["reject"][i].mean()),
            "hotelling_p05": float(np.nan_to_num(hot["p"][i], nan=1.0).__lt__(0.05).mean()),
            "both": float((zs[i] & h).mean()),
            "z_only": float((zs[i] & ~h).mean()),
            "t2_only": float((~zs[i] & h).mean()),
            "defined": float((~np.isnan(hot["p"][i])).mean()),
        }
    return out


__all__ = ["across_image_tests", "coefficient_fn", "compare_detections", "probe_coefficients",
           "statistics_bins"]
