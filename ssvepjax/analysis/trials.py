"""Statistics across images: per-unit tests on complex Fourier coefficients, against the z > 1.64 rule.

The z rule (``analysis.results``) averages the amplitude spectra of N images and compares each
component with its neighbouring bins. The tests here (SCIENCE.md section 4) instead ask whether the
mean of each unit's complex coefficient over images is zero: Hotelling's T-squared
(``stats.hotelling_t2``, any bivariate noise) or Victor & Mast's circular T-squared (``stats.circular_t2``,
circular noise), with a Benjamini-Hochberg false discovery rate over the units of a layer, separately
for each bin (``stats.fdr_bh``).

The two ask different questions. The z rule: is there more amplitude at this bin than around it, on
average over images? The T-squared tests: is the response phase-locked to the tag *across images*,
i.e. the same sign and phase whatever the image? A unit whose response flips sign with the image
content (a linear unit sees ``w . x``, whose sign depends on x) passes the first and fails the second.

Memory: :func:`stream_tests` runs the one image loop (``streaming.reduce_dataset``) with
``streaming.moments_reduction``: per unit and bin only the tests' sufficient statistics (count, mean,
centred sums of squares; five numbers) are kept, merged chunk by chunk, so memory does not grow with
the number of images, and the loop's sharding, checkpoints and progress apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from ssvepjax.spectral.design import Design, as_design
from ssvepjax.spectral.noise import measures_at
from ssvepjax.stats.amplitude import amplitude_test
from ssvepjax.stats.fdr import fdr_bh
from ssvepjax.stats.t2 import circular_from_moments, coefficient_moments, hotelling_from_moments
from ssvepjax.streaming.loop import reduce_dataset
from ssvepjax.streaming.reductions import moments_reduction

#: The tests across images: name -> (the test from streamed moments, the fewest images it needs).
TESTS = {"hotelling": (hotelling_from_moments, 3), "circular": (circular_from_moments, 2)}


def statistics_bins(design: Design, *, max_order: int = 2, n_noise: int = 4) -> tuple[list[int], list[str], list[str]]:
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


def stream_tests(
    fn: Callable, images, masks, design: Design, bins: Sequence[int], *, one_period: bool = True,
    method: str = "auto", **loop_kwargs,
) -> tuple[dict[str, np.ndarray], dict[str, dict], dict[str, dict]]:
    """Image-averaged amplitude spectra and, at ``bins``, each unit's coefficient moments over images.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation}``.
        images: ``[N, H, W, C]`` in [0, 1], or an iterable of such arrays.
        masks: ``[P, H, W]`` part masks.
        design: a ``Design`` (or ``TagConfig``).
        bins: rfft bins to test.
        one_period: run one stimulus period per image (exact for a deterministic ``fn``).
        method: transform method (``spectral.fourier``).
        **loop_kwargs: ``chunk_size``, ``mesh``, ``progress``, ``checkpoint_dir``, ... (``streaming.reduce_dataset``).

    Returns:
        ``(mean_amplitude {layer: [K, ...]}, moments {layer: {key: [m, ...]}}, relative {layer: {"n", "sum",
        "sumsq"}})``: test the coefficient moments with :func:`tests_from_moments` (T-squared) and the
        relative-amplitude moments with ``stats.amplitude_test``.
    """
    reduction = moments_reduction(fn, masks, as_design(design), bins, one_period=one_period, method=method)
    loop_kwargs.setdefault("progress", False)
    amp, moments, relative = reduce_dataset(images, reduction, desc="test images", **loop_kwargs)
    return {k: np.asarray(v) for k, v in amp.items()}, moments, relative


def tests_from_moments(moments: dict, *, test: str = "hotelling", alpha: float = 0.05) -> dict[str, np.ndarray]:
    """One test per unit and bin from one layer's moments ``{key: [m, *unit_shape]}``, BH FDR over units per bin.

    Returns:
        ``{"t2", "p", "q", "reject"}``, each ``[m, n_units]``: the statistic, its p-value, the BH q-value
        over the units of each bin, and ``q <= alpha``. NaN (degenerate) tests are never rejected.
    """
    if test not in TESTS:
        raise ValueError(f"test must be one of {sorted(TESTS)}, got {test!r}")
    if not isinstance(moments, dict):
        raise ValueError(f"moments must be a dict (from stream_tests or coefficient_moments), got {type(moments)}")
    # Units flattened to one axis per bin ("n" is a scalar); the test checks the keys.
    flat = {k: jnp.reshape(v, (np.shape(v)[0], -1)) if np.ndim(v) else v for k, v in moments.items()}
    t2, _, p = TESTS[test][0](flat)
    reject, q = fdr_bh(p, alpha, axis=1)
    return {"t2": np.asarray(t2), "p": np.asarray(p), "q": np.asarray(q), "reject": np.asarray(reject)}


def across_image_tests(coefs: np.ndarray, *, test: str = "hotelling", alpha: float = 0.05) -> dict[str, np.ndarray]:
    """:func:`tests_from_moments` from stored coefficients ``[N, m, *unit_shape]`` (N images, m bins)."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {sorted(TESTS)}, got {test!r}")
    if np.ndim(coefs) < 2:
        raise ValueError(f"coefs must have shape [N, m, ...units], got {np.shape(coefs)}")
    n, m = np.shape(coefs)[:2]
    min_images = TESTS[test][1]
    if n < min_images:
        raise ValueError(f"{test} needs at least {min_images} images, got {n}: fewer images than the statistic needs")
    return tests_from_moments(coefficient_moments(np.asarray(coefs).reshape(n, m, -1)), test=test, alpha=alpha)


def compare_detections(
    mean_amplitude: np.ndarray,
    moments: dict,
    bins: Sequence[int],
    labels: Sequence[str],
    design: Design = Design(),
    *,
    alpha: float = 0.05,
    relative: dict | None = None,
) -> dict[str, dict]:
    """Per bin: units detected by the z rule, by each T-squared test after FDR, and their overlap.

    Args:
        mean_amplitude: ``[K, *unit_shape]`` image-averaged amplitude spectrum of one layer.
        moments: its coefficient moments at ``bins`` (:func:`stream_tests`).
        relative: its relative-amplitude moments at ``bins`` (:func:`stream_tests`): adds ``amplitude_fdr``,
            the amplitude test across images (``stats.amplitude``) with the same FDR.
        bins, labels: the m tested bins and their names.
        design: noise settings and z threshold of the z rule.
        alpha: FDR of the T-squared tests.

    Returns:
        ``{label: {...}}`` with fractions of units: ``amplitude_fdr`` (with ``relative``), ``z_rule`` (z > threshold),
        ``hotelling_fdr`` and
        ``circular_fdr`` (q <= alpha), ``z_defined`` (units where the z rule can decide: ``z_rule`` is over them,
        NaN where none is), ``hotelling_p05`` (uncorrected p < .05), ``both`` (z rule and
        Hotelling FDR), ``z_only``, ``t2_only``, and ``defined`` (units where Hotelling's test is not
        degenerate).
    """
    thr = design.noise.z_threshold
    m = len(bins)
    if len(labels) != m or np.shape(moments["mean_re"])[0] != m:
        raise ValueError(f"moments have {np.shape(moments['mean_re'])[0]} bins, bins {m}, labels {len(labels)}: "
                         f"they must match")
    zm = measures_at(mean_amplitude, list(bins), design.noise, measures=("bca", "z"),
                     exclude=design.excluded_bins())
    z, bca = (np.asarray(zm[k], np.float64).reshape(m, -1) for k in ("z", "bca"))
    zs = np.nan_to_num(z, nan=-np.inf) > thr
    # As in analysis.summaries.defined_units: undefined where there is no noise estimate (BCA NaN).
    z_defined = ~np.isnan(bca)
    hot = tests_from_moments(moments, test="hotelling", alpha=alpha)
    circ = tests_from_moments(moments, test="circular", alpha=alpha)
    amp_reject = None
    if relative is not None:
        _, _, p = amplitude_test(relative, design.detection_limit)
        amp_reject = np.asarray(fdr_bh(np.asarray(p).reshape(m, -1), alpha, axis=1)[0])
    out = {}
    for i, lab in enumerate(labels):
        h = hot["reject"][i]
        if amp_reject is not None:
            out.setdefault(lab, {})["amplitude_fdr"] = float(amp_reject[i].mean())
        out.setdefault(lab, {}).update({
            "bin": int(bins[i]),
            "z_rule": float((zs[i] & z_defined[i]).sum() / z_defined[i].sum()) if z_defined[i].any() else float("nan"),
            "z_defined": float(z_defined[i].mean()),
            "hotelling_fdr": float(h.mean()),
            "circular_fdr": float(circ["reject"][i].mean()),
            "hotelling_p05": float((np.nan_to_num(hot["p"][i], nan=1.0) < 0.05).mean()),
            "both": float((zs[i] & h).mean()),
            "z_only": float((zs[i] & ~h).mean()),
            "t2_only": float((~zs[i] & h).mean()),
            "defined": float((~np.isnan(hot["p"][i])).mean()),
        })
    return out


__all__ = ["TESTS", "across_image_tests", "compare_detections", "statistics_bins", "stream_tests",
           "tests_from_moments"]
