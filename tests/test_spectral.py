import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj

FPS, T = 120.0, 240


def np_amplitude(x):
    """NumPy reference of SCIENCE.md section 2 (float64)."""
    n = x.shape[0]
    a = np.abs(np.fft.rfft(x, axis=0)) * 2 / n
    a[0] /= 2
    if n % 2 == 0:
        a[-1] /= 2
    return a


def np_noise(a, n_neighbors=10, skip=1, drop_extremes=0):
    """Loop-by-loop NumPy reference of SCIENCE.md section 3 for a 1-D spectrum."""
    k_bins = len(a)
    mu, sd = np.full(k_bins, np.nan), np.full(k_bins, np.nan)
    for k in range(k_bins):
        idx = [k + o for o in range(-skip - n_neighbors, skip + n_neighbors + 1) if skip < abs(o)]
        vals = sorted(a[i] for i in idx if 1 <= i <= k_bins - 1)
        if len(vals) < n_neighbors:
            continue
        if drop_extremes:
            vals = vals[drop_extremes:len(vals) - drop_extremes]
        mu[k], sd[k] = np.mean(vals), np.std(vals)
    return mu, sd


def sine(freq, amp=1.0, phase=0.0, n=T, fps=FPS):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / fps + phase)


def test_frequencies_on_bins():
    f, _ = sj.amplitude_spectrum(np.zeros(T), FPS)
    assert f.shape == (121,) and f[12] == 6.0 and f[15] == 7.5 and f[-1] == 60.0


@pytest.mark.parametrize("freq, amp, phase", [(6.0, 1.0, 0.0), (7.5, 0.3, 1.0), (0.5, 2.0, 2.0), (59.5, 1.5, 0.2)])
def test_sinusoid_gives_its_amplitude(freq, amp, phase):
    _, a = sj.amplitude_spectrum(sine(freq, amp, phase) + 0.4, FPS)
    k = int(freq * T / FPS)
    assert_close(a[k], amp)
    assert_close(a[0], 0.4)
    mask = np.ones(121, bool)
    mask[[0, k]] = False
    assert float(jnp.max(a[mask])) < 1e-5


def test_nyquist_and_dc_scaling():
    x = np.cos(np.pi * np.arange(T)) * 0.7 + 0.2
    _, a = sj.amplitude_spectrum(x, FPS)
    assert_close(a[-1], 0.7)
    assert_close(a[0], 0.2)


def test_amplitude_matches_numpy_any_axis(rng):
    x = rng.normal(size=(3, T, 4))
    _, a = sj.amplitude_spectrum(x, FPS, axis=1)
    assert_close(a, np.moveaxis(np_amplitude(np.moveaxis(x, 1, 0)), 0, 1), atol=1e-5)


def test_constant_series_has_zero_spectrum():
    _, a = sj.amplitude_spectrum(np.full((T, 3), 0.3712, np.float32), FPS)
    assert float(jnp.max(a[1:])) == 0.0
    assert np.all(np.isnan(np.asarray(sj.zscore(a)[12])))


@pytest.mark.parametrize("n_neighbors, skip, drop", [(10, 1, 0), (3, 1, 0), (4, 0, 0), (10, 1, 2), (6, 2, 1)])
def test_snr_z_bca_match_numpy_reference(rng, n_neighbors, skip, drop):
    a = np.abs(rng.normal(size=(121, 5))) + 0.1
    kw = dict(n_neighbors=n_neighbors, skip=skip, drop_extremes=drop)
    ref = [np_noise(a[:, j], **kw) for j in range(5)]
    mu = np.stack([r[0] for r in ref], 1)
    sd = np.stack([r[1] for r in ref], 1)
    snr, z, bca = (jax.jit(lambda x, f=f: f(x, **kw))(a) for f in (sj.snr, sj.zscore, sj.bca))
    assert_close(snr, a / mu)
    assert_close(z, (a - mu) / sd)
    assert_close(bca, a - mu)
    # edges: DC's window lies partly outside 1..K-1, and NaN appears exactly where the reference has it
    assert np.array_equal(np.isnan(np.asarray(snr)), np.isnan(a / mu))


def test_edge_windows_nan_exactly_where_too_incomplete():
    a = np.ones(121)
    z = np.asarray(sj.snr(a, n_neighbors=10, skip=1))
    # bin k keeps 10 upper neighbours plus the lower ones in 1..k-2: complete enough everywhere at
    # the low edge; at the top edge (k=120) the lower 10 remain too.
    assert not np.isnan(z).any()
    z = np.asarray(sj.snr(a[:20], n_neighbors=10, skip=1))
    # a 20-bin spectrum: bin 9 keeps bins 1..7 and 11..19 (16), bin 19 keeps 8..17 (10): all valid,
    # but with skip 5 bins near the middle lose both sides
    z = np.asarray(sj.snr(a[:20], n_neighbors=10, skip=5))
    ref = np.array([np_noise(a[:20], 10, 5)[0][k] for k in range(20)])
    assert np.array_equal(np.isnan(z), np.isnan(ref)) and np.isnan(z).any()


def test_snr_along_other_axis_and_bins(rng):
    a = np.abs(rng.normal(size=(4, 121))) + 0.1
    full = sj.zscore(a, axis=1)
    part = sj.zscore(a, axis=1, bins=[12, 15, 27])
    assert_close(part, np.asarray(full)[:, [12, 15, 27]])
    m = sj.measures_at(a.T, [12, 15])
    assert_close(m["snr"], np.asarray(sj.snr(a.T))[[12, 15]])
    assert_close(m["bca"], np.asarray(sj.bca(a.T))[[12, 15]])


def test_sinusoid_in_noise_is_significant(rng):
    x = sine(6.0, 1.0) + rng.normal(scale=1.0, size=T)
    _, a = sj.amplitude_spectrum(x, FPS)
    assert float(sj.zscore(a)[12]) > 3.1 and float(sj.snr(a)[12]) > 4
    assert float(sj.zscore(a)[40]) < 3.1


def _probe_pixel_gains(fn, a=1.0, b=1.0):
    masks = sj.halves(1, 2)
    img = np.array([[[a], [b]]], np.float32)
    frames = sj.tag_frames(img, masks, (6.0, 7.5))
    return sj.probe(fn, frames)


def test_identity_function_spectrum_is_quarter_of_pixels(rng):
    img = rng.uniform(size=(6, 8, 3)).astype(np.float32)
    frames = sj.tag_frames(img, sj.halves(6, 8), (6.0, 7.5))
    out = sj.probe(lambda fr: {"id": fr}, frames)
    _, a = sj.amplitude_spectrum(out["id"], FPS)
    assert_close(a[12][:, :4], 0.25 * img[:, :4])
    assert_close(a[15][:, 4:], 0.25 * img[:, 4:])
    assert float(jnp.max(a[12][:, 4:])) < 1e-6 and float(jnp.max(a[15][:, :4])) < 1e-6


@pytest.mark.parametrize("A, B", [(1.0, 1.0), (2.0, 0.5), (0.3, 1.7)])
def test_square_of_sum_gives_ab_over_16_at_intermodulation(A, B):
    out = _probe_pixel_gains(lambda fr: (A * fr[0, 0, 0] / 1.0 + B * fr[0, 1, 0]) ** 2)
    _, a = sj.amplitude_spectrum(out, FPS)
    assert_close(a[27], A * B / 16, rtol=1e-4)  # f1 + f2 = 13.5 Hz
    assert_close(a[3], A * B / 16, rtol=1e-4)  # f2 - f1 = 1.5 Hz


def test_linear_function_has_no_harmonics_or_intermodulation():
    comps = sj.components((6.0, 7.5))
    out = _probe_pixel_gains(lambda fr: 0.3 * fr[0, 0, 0] - 1.2 * fr[0, 1, 0] + 0.1)
    _, a = sj.amplitude_spectrum(out, FPS)
    z = np.asarray(sj.zscore(a))
    for c in comps:
        if c.kind == "fundamental":
            assert_close(a[c.bin], 0.25 * (0.3 if c.label == "f1" else 1.2))
        else:
            assert float(a[c.bin]) < 1e-6 and not z[c.bin] > 1.64


def test_relu_shows_harmonics():
    # a ReLU of the zero-mean gain: a half-wave rectified sinusoid has a strong 2nd harmonic
    out = _probe_pixel_gains(lambda fr: jax.nn.relu(fr[0, 0, 0] - 0.75))
    _, a = sj.amplitude_spectrum(out, FPS)
    assert_close(a, np_amplitude(np.maximum(0.25 * sine(6.0), 0.0)))
    # continuous half-wave rectified sine: A/2 at f, 2A/(3 pi) at 2f (sampling aliases ~1% onto 2f)
    assert_close(a[12], 0.25 / 2, rtol=1e-3)
    assert_close(a[24], 0.25 * 2 / (3 * np.pi), rtol=0.03)
    assert float(a[36]) < 1e-4  # odd harmonics above the fundamental vanish
    assert float(sj.zscore(a)[24]) > 1.64


def test_harmonic_sum_stops_after_two_misses():
    bca = np.array([1.0, 2.0, 0.5, 4.0, 8.0, 0.1, 0.2, 16.0])
    sig = np.array([3.0, 3.0, 0.0, 3.0, 3.0, 0.0, 0.0, 3.0]) > 1.64
    # Grand-average range: harmonics 1-5 (3 misses alone); 6 and 7 miss together, so 8 is out. Every value in
    # the range counts, significant or not (the 0.5 of harmonic 3 too).
    assert float(sj.harmonic_sum(bca, sig)) == 1 + 2 + 0.5 + 4 + 8
    assert float(jax.jit(sj.harmonic_sum, static_argnums=1)(bca[None], tuple(sig))[0]) == 15.5
    # Per-unit selection (the biased variant): only the unit's own significant harmonics before its stop.
    assert float(sj.harmonic_sum(bca, sig, per_unit=True)) == 1 + 2 + 4 + 8
    assert float(sj.harmonic_sum(bca, np.zeros(8, bool))) == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_neighbors=0), "n_neighbors"), (dict(skip=-1), "skip"), (dict(drop_extremes=5), "drop_extremes"),
    (dict(axis=3), "axis"),
])
def test_bad_noise_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sj.snr(np.ones(121), **kwargs)


def test_nan_activations_rejected():
    x = np.ones((T, 2))
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sj.amplitude_spectrum(x, FPS)
    with pytest.raises(ValueError, match="NaN"):
        sj.zscore(np.full(121, np.inf))


def test_bins_out_of_range():
    with pytest.raises(ValueError, match="bins"):
        sj.snr(np.ones(121), bins=[121])


@pytest.mark.parametrize(("period", "repeats"), [(80, 3), (20, 2), (7, 2), (16, 1), (9, 4)])
def test_repeated_spectrum_equals_spectrum_of_tiled_series(rng, period, repeats):
    x = rng.normal(size=(period, 3)).astype(np.float64)
    _, one = sj.amplitude_spectrum(x, FPS)
    got = sj.repeated_spectrum(one, period, repeats)
    want = np_amplitude(np.tile(x, (repeats, 1)))  # NumPy reference on the whole series
    assert got.shape == want.shape == (repeats * period // 2 + 1, 3)
    assert_close(got, want)
    off = np.arange(got.shape[0]) % repeats != 0
    assert np.all(np.asarray(got)[off] == 0.0)  # exactly 0 off the multiples of repeats


def test_repeated_spectrum_analytic_sinusoid():
    # 80 samples of a cosine on bin 4 with amplitude 0.7, repeated 3 times: bin 12 of 240 holds 0.7.
    x = 0.7 * np.cos(2 * np.pi * 4 * np.arange(80) / 80)
    _, one = sj.amplitude_spectrum(x, FPS)
    got = np.asarray(sj.repeated_spectrum(one, 80, 3))
    assert got.shape == (121,)
    assert got[12] == pytest.approx(0.7, rel=1e-6)
    assert got[0] < 1e-6  # DC: float rounding of a zero mean (the floor spares DC)
    assert np.all(np.delete(got, [0, 12]) == 0.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(period=80, repeats=0), "repeats"),
    (dict(period=84, repeats=3), "bins"),
    (dict(period=0, repeats=3), "period"),
    (dict(period=80, repeats=2.5), "repeats"),
])
def test_repeated_spectrum_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sj.repeated_spectrum(np.ones(41), **kwargs)


@pytest.mark.parametrize("bins", [(3, 12, 15, 60, 119), (40, 41), tuple(range(1, 121))])
def test_noise_windows_of_some_bins_agree_with_numpy(rng, bins):
    # A few target bins read a few rows (only those take part in the window sums); every bin reads them all.
    a = np.abs(rng.normal(size=(121, 4))) + 0.1
    mu_ref, sd_ref = (np.stack(v, 1) for v in zip(*[np_noise(a[:, j], 3, 1) for j in range(4)]))
    got = sj.measures_at(a, bins, sj.NoiseConfig(n_neighbors=3, skip=1))
    assert_close(got["bca"], (a - mu_ref)[list(bins)], rtol=1e-5, atol=1e-6)
    assert_close(got["z"], ((a - mu_ref) / sd_ref)[list(bins)], rtol=1e-4, atol=1e-5)
