"""Tests for ssvepjax.stats: NumPy / scipy.stats references, analytic cases, null calibration, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from ssvepjax import spectral, stats

RTOL, ATOL = 2e-5, 1e-6


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, equal_nan=True)


# One jitted version of each public function for the whole module, so shapes seen by one test are
# compiled once (a fresh jax.jit per test would recompile betainc every time).
_JITTED = {
    spectral.fourier_coefficients: jax.jit(spectral.fourier_coefficients, static_argnames=("bins", "axis")),
    stats.hotelling_t2: jax.jit(stats.hotelling_t2, static_argnames="axis"),
    stats.circular_t2: jax.jit(stats.circular_t2, static_argnames="axis"),
    stats.fdr_bh: jax.jit(stats.fdr_bh, static_argnames="axis"),  # alpha traced
}


def _maybe_jit(fn, jit, **kwargs):
    """``fn`` with ``kwargs`` bound, jitted when ``jit`` (static arguments stay Python values)."""
    return functools.partial(_JITTED[fn] if jit else fn, **kwargs)


def _complex_normal(rng, shape, scale_re=1.0, scale_im=1.0):
    return (scale_re * rng.standard_normal(shape) + 1j * scale_im * rng.standard_normal(shape)).astype(
        np.complex64
    )


# ---------------------------------------------------------------- references


def hotelling_reference(z):
    """Per-unit Hotelling's T-squared with np.cov and np.linalg.solve; z is [N, U] complex."""
    n = z.shape[0]
    t2 = []
    for u in range(z.shape[1]):
        v = np.stack([z[:, u].real, z[:, u].imag], axis=1).astype(np.float64)
        m = v.mean(0)
        s = np.cov(v, rowvar=False, ddof=1)
        t2.append(n * m @ np.linalg.solve(s, m))
    t2 = np.asarray(t2)
    f = (n - 2) / (2 * (n - 1)) * t2
    return t2, f, scipy.stats.f.sf(f, 2, n - 2)


def circular_reference(z):
    """Victor & Mast's circular T-squared in float64; z is [N, ...] complex."""
    z = z.astype(np.complex128)
    n = z.shape[0]
    zbar = z.mean(0)
    t2 = (n - 1) * np.abs(zbar) ** 2 / np.sum(np.abs(z - zbar) ** 2, axis=0)
    f = n * t2
    return t2, f, scipy.stats.f.sf(f, 2, 2 * n - 2)


def bh_reference(p, alpha):
    """Benjamini-Hochberg on a 1-D vector, NaNs left out: q-values by the step-up formula."""
    p = np.asarray(p, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m:
        order = idx[np.argsort(p[idx], kind="stable")]
        adj = p[order] * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(adj[::-1])[::-1]
        q[order] = np.minimum(adj, 1.0)
    return q <= alpha, q


def bh_stepup_reject(p, alpha):
    """The textbook step-up rule: reject the k smallest, k = max{i : p_(i) <= i alpha / m}."""
    p = np.asarray(p, dtype=np.float64)
    idx = np.flatnonzero(~np.isnan(p))
    reject = np.zeros(p.shape, bool)
    m = idx.size
    order = idx[np.argsort(p[idx], kind="stable")]
    below = np.flatnonzero(p[order] <= np.arange(1, m + 1) * alpha / m)
    if below.size:
        reject[order[: below.max() + 1]] = True
    return reject


# ---------------------------------------------------------------- fourier_coefficients


@pytest.mark.parametrize("jit", [False, True])
def test_fourier_coefficients_analytic_cosines(jit):
    t, fps = 240, 120.0
    i = np.arange(t)
    x = (
        0.3
        + 0.7 * np.cos(2 * np.pi * 12 * i / t + 0.4)
        + 0.2 * np.sin(2 * np.pi * 15 * i / t + 1.1)
        + 0.05 * np.cos(np.pi * i)
    ).astype(np.float32)
    fn = _maybe_jit(spectral.fourier_coefficients, jit, bins=(0, 12, 15, 20, 120), axis=0)
    coef = fn(x)
    expected = [0.3, 0.7 * np.exp(0.4j), 0.2 * np.exp(1j * (1.1 - np.pi / 2)), 0.0, 0.05]
    assert coef.shape == (5,) and jnp.iscomplexobj(coef)
    assert_close(coef, expected, atol=2e-6)
    _, amp = spectral.amplitude_spectrum(x, fps)
    assert_close(jnp.abs(coef), amp[np.array([0, 12, 15, 20, 120])], atol=2e-6)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("t", [63, 64])
def test_fourier_coefficients_matches_numpy_rfft(jit, t):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, t, 5)).astype(np.float32)
    bins = (0, 1, 7, t // 2)
    coef = _maybe_jit(spectral.fourier_coefficients, jit, bins=bins, axis=1)(x)
    ref = np.take(np.fft.rfft(x.astype(np.float64), axis=1), bins, axis=1)
    scale = np.array([1 / t, 2 / t, 2 / t, (1 if t % 2 == 0 else 2) / t])
    assert coef.shape == (3, 4, 5)
    assert_close(coef, ref * scale[None, :, None], rtol=1e-4, atol=1e-5)
    assert_close(spectral.fourier_coefficients(x, bins, axis=-2), coef)


@pytest.mark.parametrize(
    "x, bins, axis, match",
    [
        (np.float32(1.0), (0,), 0, "time axis"),
        (np.ones((8, 2), np.complex64), (1,), 0, "real"),
        (np.ones((1, 3)), (0,), 0, "at least 2 samples"),
        (np.ones((8, 3)), (5,), 0, "bins must lie in"),
        (np.ones((8, 3)), (-1,), 0, "bins must lie in"),
        (np.ones((8, 3)), (1.5,), 0, "integers"),
        (np.ones((8, 3)), (), 0, "at least one"),
        (np.ones((8, 3)), (1,), 2, "axis"),
        (np.array([0.0, np.nan, 1.0, 2.0]), (1,), 0, "x holds 1 NaN"),
    ],
)
def test_fourier_coefficients_errors(x, bins, axis, match):
    with pytest.raises(ValueError, match=match):
        spectral.fourier_coefficients(x, bins, axis=axis)


# ---------------------------------------------------------------- Hotelling and circular T-squared


def test_f_survival_matches_scipy():
    f = jnp.asarray([0.0, 0.01, 0.5, 1.0, 3.0, 10.0, 40.0, np.nan, np.inf], jnp.float32)
    for dfn, dfd in [(2, 1), (2, 6), (2, 38), (3, 7), (5, 120)]:
        p = stats.f_survival(f, dfn, dfd)
        assert_close(p[:-2], scipy.stats.f.sf(np.asarray(f[:-2]), dfn, dfd), rtol=1e-4)
        assert np.isnan(p[-2]) and float(p[-1]) == 0.0


def test_hand_computed_example():
    # z = 2, 0, 1+i, 1-i: mean 1, deviations 1, -1, i, -i.
    z = np.array([2, 0, 1 + 1j, 1 - 1j], np.complex64)
    t2, f, p = stats.hotelling_t2(z)
    # S = diag(2/3, 2/3): T2 = 4 * 1 / (2/3) = 6; F = 2/6 * 6 = 2; P(F(2,2) > 2) = 2 / (2 + 4).
    assert_close([t2, f, p], [6.0, 2.0, 1 / 3])
    t2c, fc, pc = stats.circular_t2(z)
    # T2circ = 3 * 1 / 4; F = 4 * 0.75 = 3; P(F(2,6) > 3) = (6 / 12) ** 3.
    assert_close([t2c, fc, pc], [0.75, 3.0, 0.125])


@pytest.mark.parametrize("jit", [False, True])
def test_hotelling_matches_numpy_reference(jit):
    rng = np.random.default_rng(2)
    n, u = 6, 20
    mean = 0.6 * _complex_normal(rng, (u,))
    # Anisotropic, correlated noise: Hotelling uses the full covariance.
    re = rng.standard_normal((n, u))
    im = 0.5 * re + 0.3 * rng.standard_normal((n, u))
    z = (mean + re + 1j * im).astype(np.complex64)
    t2, f, p = _maybe_jit(stats.hotelling_t2, jit, axis=0)(z)
    rt2, rf, rp = hotelling_reference(z)
    assert t2.shape == f.shape == p.shape == (u,)
    assert_close(t2, rt2, rtol=2e-4)
    assert_close(f, rf, rtol=2e-4)
    assert_close(p, rp, rtol=1e-3, atol=1e-6)
    assert rp.min() < 1e-3 and rp.max() > 0.1  # the case spans small and large p-values


@pytest.mark.parametrize("jit", [False, True])
def test_circular_matches_numpy_reference(jit):
    rng = np.random.default_rng(3)
    n = 6
    z = (0.5 * _complex_normal(rng, (1, 20)) + _complex_normal(rng, (n, 20))).astype(np.complex64)
    t2, f, p = _maybe_jit(stats.circular_t2, jit, axis=0)(z)
    rt2, rf, rp = circular_reference(z)
    assert t2.shape == (20,)
    assert_close(t2, rt2, rtol=1e-4)
    assert_close(f, rf, rtol=1e-4)
    assert_close(p, rp, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("fn", [stats.hotelling_t2, stats.circular_t2])
def test_image_axis_and_elementwise_loop(fn):
    rng = np.random.default_rng(4)
    z = (0.4 + _complex_normal(rng, (6, 4, 5))).astype(np.complex64)
    full = fn(z, axis=0)
    moved = fn(np.moveaxis(z, 0, 2), axis=2)
    negative = fn(np.moveaxis(z, 0, -1), axis=-1)
    vmapped = jax.vmap(fn, in_axes=1)(z.reshape(6, 20))
    for a, b, c, d in zip(full, moved, negative, vmapped, strict=True):
        assert a.shape == (4, 5)
        assert_close(b, a)
        assert_close(c, a)
        assert_close(d.reshape(4, 5), a)
    for i in range(4):
        for j in range(5):
            single = fn(z[:, i, j])
            for a, s in zip(full, single, strict=True):
                assert_close(a[i, j], s)


def test_invariances():
    rng = np.random.default_rng(5)
    z = (0.5 + 0.3j + _complex_normal(rng, (6, 20))).astype(np.complex64)
    rotated = (z * np.exp(1j * 0.8) * 3.0).astype(np.complex64)
    # Hotelling's T2 is invariant under any invertible linear map of (Re, Im); the circular one under
    # rotation and uniform scaling.
    sheared = (2.0 * z.real + 0.7 * z.imag + 1j * (-0.3 * z.real + 0.5 * z.imag)).astype(np.complex64)
    base = stats.hotelling_t2(z)[0]
    assert_close(stats.hotelling_t2(rotated)[0], base, rtol=1e-4)
    assert_close(stats.hotelling_t2(sheared)[0], base, rtol=1e-4)
    assert_close(stats.circular_t2(rotated)[0], stats.circular_t2(z)[0], rtol=1e-4)


@pytest.mark.parametrize("fn", [stats.hotelling_t2, stats.circular_t2])
def test_common_phase_gives_tiny_p(fn):
    rng = np.random.default_rng(6)
    n, u = 20, 20
    z = (np.exp(1j * np.pi / 3) + 0.1 * _complex_normal(rng, (n, u))).astype(np.complex64)
    _, _, p = fn(z)
    assert float(jnp.max(p)) < 1e-6
    # The same amplitudes with random phases: no common phase, no effect.
    scrambled = (np.abs(z) * np.exp(2j * np.pi * rng.random((n, u)))).astype(np.complex64)
    assert float(jnp.median(fn(scrambled)[2])) > 0.1


@pytest.mark.parametrize("fn", [stats.hotelling_t2, stats.circular_t2])
@pytest.mark.parametrize("n", [5, 50])
def test_false_positive_rate_under_null(fn, n):
    """Random phases: p uniform, false-positive rate alpha within a binomial tolerance (seeded)."""
    rng = np.random.default_rng(100 + n)
    units, alpha = 4000, 0.05
    _, _, p = fn(_complex_normal(rng, (n, units)))
    p = np.asarray(p, np.float64)
    assert np.all(np.isfinite(p))
    fpr = np.mean(p < alpha)
    sd = np.sqrt(alpha * (1 - alpha) / units)
    assert abs(fpr - alpha) < 4 * sd, fpr
    assert scipy.stats.kstest(p, "uniform").pvalue > 1e-3


def test_noncircular_noise_hotelling_stays_valid_circular_does_not():
    rng = np.random.default_rng(7)
    units, alpha = 4000, 0.05
    z = _complex_normal(rng, (50, units), scale_re=1.0, scale_im=0.05)
    sd = np.sqrt(alpha * (1 - alpha) / units)
    fpr_h = np.mean(np.asarray(stats.hotelling_t2(z)[2]) < alpha)
    fpr_c = np.mean(np.asarray(stats.circular_t2(z)[2]) < alpha)
    assert abs(fpr_h - alpha) < 4 * sd, fpr_h
    # Victor & Mast assume circular noise: here the F(2, 2N-2) reference is too light-tailed (~8%).
    assert fpr_c > alpha + 4 * sd, fpr_c


@pytest.mark.parametrize("fn", [stats.hotelling_t2, stats.circular_t2])
def test_degenerate_spread_is_nan(fn):
    z = np.zeros((6, 20), np.complex64)
    z[:, 1] = 1 + 2j  # identical coefficients
    z[:, 2] = (1 + 1j) * np.arange(6)  # for Hotelling: points on a line
    _, _, p = fn(z)
    assert np.isnan(p[0]) and np.isnan(p[1])
    if fn is stats.hotelling_t2:
        assert np.isnan(p[2])
    else:
        assert 0 < float(p[2]) < 1


@pytest.mark.parametrize(
    "fn, coefs, axis, match",
    [
        (stats.hotelling_t2, np.ones((2, 4), np.complex64), 0, "fewer images than the statistic needs"),
        (stats.hotelling_t2, np.ones((4, 2), np.complex64), 1, "fewer images than the statistic needs"),
        (stats.circular_t2, np.ones((1, 4), np.complex64), 0, "fewer images than the statistic needs"),
        (stats.hotelling_t2, np.ones((5, 4), np.float32), 0, "coefs must be complex"),
        (stats.circular_t2, np.ones((5, 4), np.float32), 0, "coefs must be complex"),
        (stats.hotelling_t2, np.complex64(1), 0, "image axis"),
        (stats.circular_t2, np.ones((5, 4), np.complex64), 2, "axis=2 is out of range"),
        (stats.hotelling_t2, np.ones((5, 4), np.complex64), -3, "axis=-3 is out of range"),
        (stats.hotelling_t2, np.array([1, 2, np.nan + 1j, 3], np.complex64), 0, "coefs holds 1 NaN"),
        (stats.circular_t2, np.array([1, np.inf, 2], np.complex64), 0, "coefs holds 1 NaN or infinite"),
    ],
)
def test_t2_errors(fn, coefs, axis, match):
    with pytest.raises(ValueError, match=match):
        fn(coefs, axis=axis)


def test_image_count_error_is_raised_under_jit():
    with pytest.raises(ValueError, match="fewer images"):
        jax.jit(stats.hotelling_t2)(jnp.ones((2, 3), jnp.complex64))


# ---------------------------------------------------------------- Benjamini-Hochberg


@pytest.mark.parametrize("jit", [False, True])
def test_fdr_bh_hand_example(jit):
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan], np.float32)
    reject, q = _maybe_jit(stats.fdr_bh, jit, alpha=0.05)(p)
    # m = 4 (the NaN is no test): sorted 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.0533, 0.0533, 0.5.
    assert_close(q, [0.04, 0.16 / 3, 0.16 / 3, 0.5, np.nan])
    assert reject.tolist() == [True, False, False, False, False]
    assert stats.fdr_bh(p, alpha=0.06)[0].tolist() == [True, True, True, False, False]


@pytest.mark.parametrize("jit", [False, True])
def test_fdr_bh_matches_numpy_reference(jit):
    rng = np.random.default_rng(8)
    p = np.concatenate([rng.random(150) ** 4, rng.random(150)]).astype(np.float32)
    p[rng.choice(300, 20, replace=False)] = np.nan
    p[:5] = p[5]  # ties
    p = p.reshape(10, 30)
    reject, q = _maybe_jit(stats.fdr_bh, jit, alpha=0.1)(p)
    ref_reject, ref_q = bh_reference(p.reshape(-1), 0.1)
    assert reject.shape == q.shape == (10, 30)
    assert_close(q.reshape(-1), ref_q, rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(reject).reshape(-1), ref_reject)
    np.testing.assert_array_equal(ref_reject, bh_stepup_reject(p.reshape(-1), 0.1))
    assert 0 < ref_reject.sum() < 280  # a case with rejections and acceptances
    # Along an axis: each row separately.
    reject_rows, q_rows = _maybe_jit(stats.fdr_bh, jit, alpha=0.1, axis=1)(p)
    for r in range(10):
        rr, rq = bh_reference(p[r], 0.1)
        assert_close(q_rows[r], rq, rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(reject_rows[r]), rr)
    assert_close(stats.fdr_bh(p, alpha=0.1, axis=-1)[1], q_rows)


def test_fdr_bh_matches_scipy():
    rng = np.random.default_rng(9)
    p = (rng.random(300) ** 3).astype(np.float32)
    q = stats.fdr_bh(p.reshape(10, 30))[1]
    assert_close(q.reshape(-1), scipy.stats.false_discovery_control(p.astype(np.float64)), rtol=1e-5)


def test_fdr_bh_edge_cases():
    reject, q = stats.fdr_bh(np.full(5, np.nan, np.float32))
    assert not np.any(reject) and np.all(np.isnan(q))
    reject, q = stats.fdr_bh(np.float32(0.01))
    assert q.shape == () and bool(reject) and float(q) == pytest.approx(0.01)
    _, q = stats.fdr_bh(np.array([0.0, 1.0, 1.0, 0.02, np.nan]))
    assert_close(q, [0.0, 1.0, 1.0, 0.04, np.nan])


@pytest.mark.parametrize(
    "p, kwargs, match",
    [
        (np.array([0.1, 1.5]), {}, r"outside \[0, 1\]"),
        (np.array([0.1, -0.01]), {}, r"outside \[0, 1\]"),
        (np.array([0.1, np.inf]), {}, r"outside \[0, 1\]"),
        (np.array([0.1, 0.2]), {"alpha": 0.0}, "alpha must lie in"),
        (np.array([0.1, 0.2]), {"alpha": 1.0}, "alpha must lie in"),
        (np.array([0.1, 0.2]), {"alpha": float("nan")}, "alpha must lie in"),
        (np.array([0.1, 0.2]), {"axis": 1}, "axis=1 is out of range"),
        (np.array([0.1, 0.2], np.complex64), {}, "real"),
    ],
)
def test_fdr_bh_errors(p, kwargs, match):
    with pytest.raises(ValueError, match=match):
        stats.fdr_bh(p, **kwargs)


# ---------------------------------------------------------------- streamed moments


def test_merged_moments_equal_moments_of_all_images(rng):
    z = _complex_normal(rng, (40, 7), 1.0, 0.5) + (0.3 + 0.2j)
    parts = [z[:5], z[5:6], z[6:23], z[23:]]  # uneven chunks, one of a single image
    merged = stats.coefficient_moments(parts[0])
    for part in parts[1:]:
        merged = stats.merge_moments(merged, stats.coefficient_moments(part))
    x, y = z.real.astype(np.float64), z.imag.astype(np.float64)  # NumPy reference
    want = {"n": 40, "mean_re": x.mean(0), "mean_im": y.mean(0), "sxx": ((x - x.mean(0)) ** 2).sum(0),
            "syy": ((y - y.mean(0)) ** 2).sum(0), "sxy": ((x - x.mean(0)) * (y - y.mean(0))).sum(0)}
    for k, v in want.items():
        assert_close(merged[k], v, rtol=1e-5, atol=1e-5)
    # Zero weights drop images (the padding of a last chunk).
    padded = stats.coefficient_moments(np.concatenate([z[:3], np.zeros_like(z[:2])]), weights=[1, 1, 1, 0, 0])
    for k, v in stats.coefficient_moments(z[:3]).items():
        assert_close(padded[k], v)


@pytest.mark.parametrize(("from_moments", "direct", "reference"), [
    (stats.hotelling_from_moments, stats.hotelling_t2, hotelling_reference),
    (stats.circular_from_moments, stats.circular_t2, circular_reference),
])
def test_tests_from_merged_moments_equal_the_direct_tests(rng, from_moments, direct, reference):
    z = _complex_normal(rng, (30, 6)) + np.array([0, 0.1, 0.3, 0.6, 1.0, 2.0], np.float32)
    m = stats.merge_moments(stats.coefficient_moments(z[:11]), stats.coefficient_moments(z[11:]))
    t2, f, p = from_moments(m)
    for got, want in zip((t2, f, p), direct(z)):
        assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert_close(t2, reference(z)[0], rtol=1e-4)


def test_moments_errors(rng):
    z = _complex_normal(rng, (4, 3))
    with pytest.raises(ValueError, match="weights"):
        stats.coefficient_moments(z, weights=[1, 0])
    with pytest.raises(ValueError, match="complex"):
        stats.coefficient_moments(z.real)
    with pytest.raises(ValueError, match="needs >= 3"):
        stats.hotelling_from_moments(stats.coefficient_moments(z[:2]))
    with pytest.raises(ValueError, match="keys"):
        stats.circular_from_moments({"n": 3})


# ----------------------------------------------------------------------------------------------
# The amplitude test's moments (issue 24): count, mean and M2 merged with Chan et al.'s update.


def test_amplitude_test_identical_samples_are_infinite():
    # sum(r^2) - n mean^2 in float32 left a "variance" of rounding: t = 5494 for six samples of 0.3.
    _, t, p = stats.amplitude_test(stats.amplitude_moments(np.full((6, 3), [0.3, 0.7, 1e-6], np.float32)), 1e-4)
    assert np.asarray(t).tolist() == [np.inf, np.inf, -np.inf] and np.asarray(p).tolist() == [0.0, 0.0, 1.0]
    # Merged chunk by chunk (as devices and processes do) and image by image (Welford), still no spread.
    merged = functools.reduce(stats.merge_amplitude_moments,
                              [stats.amplitude_moments(np.full((k, 1), 0.3, np.float32)) for k in (1, 2, 3)])
    assert float(merged["n"]) == 6 and np.isinf(stats.amplitude_test(merged, 1e-4)[1]).all()


@pytest.mark.parametrize("split", [None, (5, 1, 10), (1,) * 16])
def test_amplitude_test_small_spread_matches_scipy(split):
    # Spread 1e-4 of the mean: the old float32 sum of squares was off by tens of percent here.
    rng = np.random.default_rng(3)
    r = (0.5 * (1 + 1e-4 * rng.standard_normal((16, 40)))).astype(np.float32)
    if split is None:
        m = stats.amplitude_moments(r)
    else:
        edges = np.cumsum((0,) + split)
        m = functools.reduce(stats.merge_amplitude_moments,
                             [stats.amplitude_moments(r[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    mean, t, p = stats.amplitude_test(m, 1e-4)  # the detection limit
    want = scipy.stats.ttest_1samp(r.astype(np.float64), 1e-4, axis=0, alternative="greater")
    np.testing.assert_allclose(np.asarray(t), want.statistic, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(mean), r.astype(np.float64).mean(0), rtol=1e-6)
    assert_close(p, want.pvalue, rtol=1e-3, atol=1e-6)


def test_amplitude_moments_weights_drop_padding():
    r = np.array([[0.2], [0.4], [np.nan]], np.float32)  # a padded last chunk may hold anything
    m = stats.amplitude_moments(r, np.array([1.0, 1.0, 0.0]))
    assert float(m["n"]) == 2 and float(stats.moments.moments_mean(m)[0]) == pytest.approx(0.3)
    assert float(m["m2"][0]) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="weights"):
        stats.amplitude_moments(r, np.ones(2))
    with pytest.raises(ValueError, match="moments"):
        stats.amplitude_test({"n": 3.0, "shift": np.array([np.nan]), "sum": np.zeros(1), "m2": np.zeros(1)}, 0.0)
