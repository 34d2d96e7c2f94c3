"""Tests for issue 9's sound measures: effect sizes, the amplitude test, noise windows without components,
the detection floor on the AC content, invariance to the recording length, and injected noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from conftest import assert_close

import ssvepjax as sj
from ssvepjax.models import random_variables


def test_unit_effects_analytic():
    g = np.asarray(sj.gains((6.0, 7.5)), np.float64)
    x = np.stack([2 * g[:, 0] + 3.0, g[:, 0] * g[:, 1], np.full(240, 0.7)], 1).astype(np.float32)
    _, amp = sj.amplitude_spectrum(x, 120.0)
    e = sj.unit_effects(amp, sj.Design())
    # 2 g1 + 3: AC amplitude 0.5 whatever the offset; g1 g2: A(f1) = A(f2) = 0.1875, A(f1 +- f2) = 0.03125.
    assert_close(e["ac"][:2], [0.5, np.sqrt(2 * (2 * 0.1875**2 / 2 + 2 * 0.03125**2 / 2))], rtol=1e-5)
    assert e["ac"][2] == 0 and np.isnan(e["relative"][:, 2]).all()  # a constant unit is silent
    assert e["share"]["fundamental"][0] == pytest.approx(1.0, rel=1e-5)
    assert e["share"]["intermodulation"][1] == pytest.approx(0.03125**2 / (0.1875**2 + 0.03125**2), rel=1e-4)
    assert sum(float(e["share"][k][1]) for k in sj.POWER_KINDS) == pytest.approx(1.0, rel=1e-5)
    assert e["im_ratio"][1] == pytest.approx(0.03125 / 0.1875, rel=1e-4) and np.isnan(e["im_ratio"][2])
    with pytest.raises(ValueError, match="bins"):
        sj.unit_effects(amp[:-1], sj.Design())


def test_amplitude_test_matches_scipy():
    rng = np.random.default_rng(0)
    r = np.abs(rng.normal(0.01, 0.02, size=(12, 5, 7)))
    mean, t, p = sj.amplitude_test(sj.amplitude_moments(r), 0.01)
    want = scipy.stats.ttest_1samp(r, 0.01, axis=0, alternative="greater")
    assert_close(mean, r.mean(0), rtol=1e-5)
    assert_close(t, want.statistic, rtol=1e-3, atol=1e-4)
    assert_close(p, want.pvalue, rtol=1e-3, atol=1e-5)
    # The same relative amplitude in every image: sd 0, decided by which side of the limit it lies.
    _, t0, p0 = sj.amplitude_test(sj.amplitude_moments(np.array([[0.2, 1e-6]] * 4)), 1e-4)
    assert np.asarray(p0).tolist() == [0.0, 1.0] and np.isinf(t0).all()
    with pytest.raises(ValueError, match="at least 2"):
        sj.amplitude_test(sj.amplitude_moments(r[:1]), 0.01)
    with pytest.raises(ValueError, match="limit"):
        sj.amplitude_test(sj.amplitude_moments(r), -1.0)
    with pytest.raises(ValueError, match="keys"):
        sj.amplitude_test({"n": 3}, 0.0)


def test_noise_windows_without_components():
    # SCIENCE.md section 3: f2 sits 3 bins from f1. With only f1 and f2 present, f1's EEG window holds f2:
    # z(f1) = (20 A1 / A2 - 1) / sqrt(19). Without the component bins the window is all zeros: z is inf.
    t = np.arange(240) / 120
    a1, a2 = 1.0, 3.0
    x = a1 * np.sin(2 * np.pi * 6 * t) + a2 * np.sin(2 * np.pi * 7.5 * t)
    _, amp = sj.amplitude_spectrum(x, 120.0)
    plain = sj.measures_at(amp, [12], sj.NoiseConfig(exclude="none"))["z"]
    assert float(plain[0]) == pytest.approx((20 * a1 / a2 - 1) / np.sqrt(19), rel=1e-4)
    design = sj.Design()
    ex = design.excluded_bins()
    assert 15 in ex and 12 in ex
    assert np.isinf(sj.zscore(amp, bins=[12], exclude=ex)[0])
    res = sj.measure({"x": amp[:, None]}, design)["x"]
    assert np.isinf(res.neuron["z"][design.bins()[1].index("f1"), 0])
    # Lattice exclusion: every multiple of the common bin step 3 leaves the windows.
    lat = sj.Design(noise=sj.NoiseConfig(exclude="lattice")).excluded_bins()
    assert lat[:3] == (3, 6, 9) and all(b % 3 == 0 for b in lat)
    with pytest.raises(ValueError, match="exclude"):
        sj.NoiseConfig(exclude="everything")
    with pytest.raises(ValueError, match="leaves no noise bin"):
        sj.Design(sj.TagConfig((6.0, 7.0), fps=120.0, n_frames=120), sj.NoiseConfig(1, 0, exclude="lattice"))


def test_detection_floor_ignores_the_dc_offset():
    # SCIENCE.md section 6 / issue 9: a 5e-4 intermodulation beside a DC of 10 was deleted by a floor relative
    # to the series' largest magnitude. On the AC amplitude it is kept, with or without the offset.
    t = np.arange(240) / 120
    ac = np.sin(2 * np.pi * 6 * t) + np.sin(2 * np.pi * 7.5 * t) + 5e-4 * np.cos(2 * np.pi * 13.5 * t)
    for offset in (0.0, 10.0):
        _, amp = sj.amplitude_spectrum((offset + ac).astype(np.float32), 120.0)
        assert float(amp[27]) == pytest.approx(5e-4, rel=2e-2)
    # Below the limit (1e-4 of the AC amplitude sqrt(2)): zeroed.
    _, amp = sj.amplitude_spectrum(ac - 5e-4 * np.cos(2 * np.pi * 13.5 * t) + 5e-5 * np.cos(2 * np.pi * 13.5 * t),
                                   120.0)
    assert float(amp[27]) == 0.0
    # A unit whose whole AC content is below float32 resolution of its magnitude is silent.
    _, amp = sj.amplitude_spectrum((1000.0 + 1e-5 * np.sin(2 * np.pi * 6 * t)).astype(np.float32), 120.0)
    assert float(np.asarray(amp)[1:].max()) == 0.0
    with pytest.raises(ValueError, match="resolution"):
        sj.amplitude_spectrum(ac, 120.0, resolution=1.0)


SIZE = 12


@pytest.fixture(scope="module")
def small():
    model = sj.CifarResNet(8, width=4)
    variables = random_variables(model, jax.ShapeDtypeStruct((1, SIZE, SIZE, 3), np.float32))
    fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False,
                     include=["stem/post", "stage3_block0/conv2/post"])
    images = np.random.default_rng(3).random((6, SIZE, SIZE, 3)).astype(np.float32)
    return fn, images


def test_default_rule_and_effect_sizes_do_not_depend_on_the_recording_length(small):
    # The same 80-frame stimulus period recorded for 160, 240 and 480 frames (issue 9, item 1).
    fn, images = small
    summaries = {}
    for n_frames in (160, 240, 480):
        design = sj.Design(sj.TagConfig((6.0, 7.5), fps=120.0, n_frames=n_frames))
        assert design.tags.period_frames == 80
        results = sj.analyse(fn, images, sj.halves(SIZE, SIZE), design, progress=False, chunk_size=3)
        summaries[n_frames] = {k: sj.layer_summary(v, design) for k, v in results.items()}
    keys = ("f1", "f2", "mean_harmonic", "mean_intermodulation", "any_intermodulation", "false_positive_rate",
            "silent_fraction")
    for layer, s in summaries[240].items():
        for n_frames in (160, 480):
            other = summaries[n_frames][layer]
            for k in keys:
                assert other[k] == pytest.approx(s[k], abs=1e-6), (layer, n_frames, k)
            for lab, v in s["effects"]["relative"].items():
                assert other["effects"]["relative"][lab] == pytest.approx(v, rel=1e-3, abs=1e-7), (layer, lab)
            for kind, v in s["effects"]["share"].items():
                assert other["effects"]["share"][kind] == pytest.approx(v, rel=1e-3, abs=1e-6), (layer, kind)
            assert other["summed_amplitude"] == pytest.approx(s["summed_amplitude"], rel=1e-3)
    assert summaries[240]["stage3_block0/conv2/post"]["any_intermodulation"] > 0  # not vacuous


def _white_noise_rate(design, n_images, n_units=4000):
    """The z rule's rate at the off-lattice bins of image-averaged amplitude spectra of white Gaussian noise.

    This is the rule's real level under the null: above the nominal 5 %, since averaged Rayleigh amplitudes are
    not normal and the window's mean and sd are estimates. Returns ``(rate, number of tests)``.
    """
    t = design.tags.n_frames
    x = np.random.default_rng(0).standard_normal((n_images, t, n_units))
    scale = np.full(t // 2 + 1, 2.0 / t)
    scale[0] = scale[-1] = 1.0 / t
    amp = (np.abs(np.fft.rfft(x, axis=1)) * scale[None, :, None]).mean(0)
    res = sj.measure({"noise": jnp.asarray(amp, jnp.float32)}, design)["noise"]
    return sj.significance_summary(res, design)["false_positive_rate"], res.neuron_noise_z.size


def test_injected_noise_calibrates_the_z_rule(small):
    # Independent noise in every frame: at off-lattice bins the z rule rejects at the rate it has on white noise,
    # within a binomial bound (99.9 %, two-sided, over units x bins; the reference's own error added).
    fn, images = small
    design = sj.Design(significance="z")
    p0, n0 = _white_noise_rate(design, len(images))
    assert 0.05 < p0 < 0.1  # near, and above, the nominal level
    kw = dict(one_period=False, pixel_noise=0.05, noise_seed=1, progress=False)
    pixels = sj.probe_dataset(lambda f: {"pixels": f}, images, sj.halves(SIZE, SIZE), design, chunk_size=4, **kw)
    spec = sj.probe_dataset(fn, images, sj.halves(SIZE, SIZE), design, chunk_size=4, **kw)
    res = sj.measure({**spec, **pixels}, design)
    for name, r in res.items():
        rate, n = sj.significance_summary(r, design)["false_positive_rate"], r.neuron_noise_z.size
        bound = 3.29 * np.sqrt(p0 * (1 - p0) * (1 / n + 1 / n0))
        assert abs(rate - p0) < bound, (name, rate, p0, bound)
    # The noise comes from the images' values and the seed: chunks and order do not change the result (reversed,
    # the chunks of 4 hold other images and the padding falls elsewhere; one chunk size, one program).
    again = sj.probe_dataset(fn, images[::-1], sj.halves(SIZE, SIZE), design, chunk_size=4, **kw)
    for k in spec:
        np.testing.assert_allclose(np.asarray(again[k]), np.asarray(spec[k]), rtol=1e-4, atol=1e-7)
    other = sj.probe_dataset(fn, images, sj.halves(SIZE, SIZE), design, chunk_size=4,
                             **{**kw, "noise_seed": 2})
    assert not np.allclose(np.asarray(other["stem/post"]), np.asarray(spec["stem/post"]))
    with pytest.raises(ValueError, match="one_period=False"):
        sj.probe_dataset(fn, images, sj.halves(SIZE, SIZE), design, pixel_noise=0.05)
    with pytest.raises(ValueError, match="pixel_noise"):
        sj.probe_dataset(fn, images, sj.halves(SIZE, SIZE), design, one_period=False, pixel_noise=-0.1)


def test_measure_rejects_moments_of_other_bins(small):
    fn, images = small
    design = sj.Design()
    spec, rel = sj.probe_dataset(fn, images[:2], sj.halves(SIZE, SIZE), design, relative=[12, 15], progress=False)
    with pytest.raises(ValueError, match="component bins"):
        sj.measure(spec, design, rel)
    with pytest.raises(ValueError, match="layers"):
        sj.measure(spec, design, {"x": rel["stem/post"]})
    assert jax.tree.leaves(rel)  # the moments themselves are arrays
