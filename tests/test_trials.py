"""Tests for ssvepjax.analysis.trials: T-squared tests across images through the one image loop."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.analysis import trials

DESIGN = sj.Design()
LAYER = "stage1_block0/conv2/post"


def test_statistics_bins():
    bins, labels, kinds = trials.statistics_bins(DESIGN, max_order=2, n_noise=3)
    assert {"f1", "f2", "2f1", "2f2", "f1+f2", "f2-f1"} <= set(labels)
    assert kinds.count("noise") == 3
    lattice = sj.lattice_step(DESIGN.components)
    assert all(b % lattice for b, k in zip(bins, kinds) if k == "noise")
    with pytest.raises(ValueError, match="n_noise"):
        trials.statistics_bins(DESIGN, n_noise=-1)


def test_across_image_tests_power_and_null():
    rng = np.random.default_rng(0)
    n, units = 40, 500
    noise = (rng.normal(size=(n, 2, units)) + 1j * rng.normal(size=(n, 2, units))).astype(np.complex64)
    coefs = noise.copy()
    coefs[:, 0, :50] += 2.0  # phase-locked response in the first 50 units of bin 0
    for test in ("hotelling", "circular"):
        out = trials.across_image_tests(coefs, test=test)
        assert out["reject"].shape == (2, units)
        assert out["reject"][0, :50].mean() > 0.9
        assert out["reject"][1].mean() < 0.02  # pure noise: few FDR discoveries
    with pytest.raises(ValueError, match="at least 3 images"):
        trials.across_image_tests(coefs[:2], test="hotelling")
    with pytest.raises(ValueError, match="test must be"):
        trials.across_image_tests(coefs, test="student")


def stored_coefficients(fn, images, bins):
    """Per-image coefficients ``[N, m, ...]`` of one stimulus period, stored (what the moments must reproduce)."""
    tags, out = DESIGN.tags, []
    for image in images:
        frames = sj.tag_frames(image, sj.halves(8, 8), tags.freqs_hz)[: tags.period_frames]
        out.append(np.asarray(sj.fourier_coefficients(sj.probe(fn, frames)[LAYER], bins, repeats=tags.repeats)))
    return np.stack(out)


def test_compare_detections(tiny):
    model, variables, images = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=[LAYER], train=False)
    bins = [12, 15, 27]
    amp, moments, relative = trials.stream_tests(fn, images, sj.halves(8, 8), DESIGN, bins)
    table = trials.compare_detections(amp[LAYER], moments[LAYER], bins, ["f1", "f2", "f1+f2"], DESIGN,
                                      relative=relative[LAYER])
    assert set(table) == {"f1", "f2", "f1+f2"}
    assert all(0 <= v["z_rule"] <= 1 and 0 <= v["hotelling_fdr"] <= 1 for v in table.values())
    # The amplitude test at the tags agrees with analyse's test of the same images and units.
    res = sj.analyse(fn, images, sj.halves(8, 8), DESIGN, progress=False)[LAYER]
    rows = [DESIGN.bins()[1].index(lab) for lab in ("f1", "f2", "f1+f2")]
    for row, lab in zip(rows, ("f1", "f2", "f1+f2")):
        assert table[lab]["amplitude_fdr"] == pytest.approx(float(res.test["reject"][row].mean()), abs=0.02)
    with pytest.raises(ValueError, match="must match"):
        trials.compare_detections(amp[LAYER], moments[LAYER], bins[:2], ["f1", "f2"], DESIGN)


def test_one_period_moments_equal_every_frame(tiny):
    # Complex coefficients (phase included) at components and at off-lattice bins (exactly 0).
    model, variables, images = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=[LAYER], train=False)
    bins = [3, 12, 15, 24, 27, 13, 50]  # 13 and 50 are off the lattice of step 3
    a1, m1, _ = trials.stream_tests(fn, images, sj.halves(8, 8), DESIGN, bins)
    a2, m2, _ = trials.stream_tests(fn, images, sj.halves(8, 8), DESIGN, bins, one_period=False)
    scale = float(np.abs(m2[LAYER]["mean_re"]).max())
    for key in ("mean_re", "mean_im"):
        np.testing.assert_allclose(np.asarray(m1[LAYER][key]), np.asarray(m2[LAYER][key]), rtol=1e-4,
                                   atol=1e-5 * scale)
        assert np.all(np.asarray(m1[LAYER][key])[5:] == 0)
    np.testing.assert_allclose(a1[LAYER], a2[LAYER], rtol=1e-4, atol=1e-5 * float(np.abs(a2[LAYER]).max()))


def test_stream_tests_equal_tests_on_stored_coefficients(tiny):
    # Moments merged over chunks of 2 (the last padded) give the tests of the stored coefficients.
    model, variables, _ = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=[LAYER], train=False)
    images = np.random.default_rng(5).random((7, 8, 8, 1)).astype(np.float32)
    bins, masks = [3, 12, 15, 27], sj.halves(8, 8)
    # The same transform (FFT of one period) on both sides: a coefficient at the detection floor may be
    # kept by one transform and zeroed by another, which turns a test degenerate; the moments are under test.
    coefs = stored_coefficients(fn, images, bins)
    _, moments, _ = trials.stream_tests(fn, iter([images[:3], images[3:]]), masks, DESIGN, bins, chunk_size=2,
                                     method="fft")
    assert float(moments[LAYER]["n"]) == 7
    for test in ("hotelling", "circular"):
        want = trials.across_image_tests(coefs, test=test)
        got = trials.tests_from_moments(moments[LAYER], test=test)
        assert got["p"].shape == want["p"].shape == (4, 8 * 8 * 4)
        # Degenerate spread (NaN) is decided against a few ulps: a unit at that edge may fall
        # either way under another summation order. Everywhere else the tests agree.
        defined = ~np.isnan(want["p"]) & ~np.isnan(got["p"])
        assert defined.sum() > 50
        assert np.mean(np.isnan(want["p"]) != np.isnan(got["p"])) < 0.01
        # The network's activations differ by float32 rounding between the two programs, and T2 divides by
        # det(S) (Hotelling) or the spread (circular): compare units whose covariance is well conditioned.
        z = coefs.reshape(len(images), len(bins), -1).astype(np.complex128)
        sxx, syy = z.real.var(0), z.imag.var(0)
        sxy = ((z.real - z.real.mean(0)) * (z.imag - z.imag.mean(0))).mean(0)
        spread = sxx + syy
        good = defined & (sxx * syy - sxy**2 > 1e-2 * sxx * syy) & (np.minimum(sxx, syy) > 1e-6 * spread.max())
        assert good.sum() > 50
        rel = np.abs(got["t2"][good] - want["t2"][good]) / np.abs(want["t2"][good])
        assert np.quantile(rel, 0.99) < 1e-3 and rel.max() < 0.02, (test, np.quantile(rel, 0.99), rel.max())
        assert np.mean(got["reject"] != want["reject"]) < 0.01
    with pytest.raises(ValueError, match="chunk_size"):
        trials.stream_tests(fn, images, masks, DESIGN, bins, chunk_size=0)
    with pytest.raises(ValueError, match="bins"):
        trials.stream_tests(fn, images, masks, DESIGN, [500])
