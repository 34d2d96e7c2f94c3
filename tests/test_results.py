import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj

TAGS = sj.TagConfig((6.0, 7.5), 120.0, 240)


def _two_pixel_fn(frame):
    left, right = frame[0, 0, 0], frame[0, 1, 0]
    lin = jnp.stack([left, right, left + right])
    return {"linear": lin, "square": jnp.square(lin)}


def test_spectra_average_over_images_equals_loop(rng):
    images = rng.uniform(0.2, 1.0, size=(3, 1, 2, 1)).astype(np.float32)
    masks = sj.halves(1, 2)
    spec = sj.probe_dataset(_two_pixel_fn, images, masks, TAGS, progress=False)
    ref = 0
    for im in images:
        acts = sj.probe(_two_pixel_fn, sj.tag_frames(im, masks, TAGS.freqs_hz))
        ref = ref + np.asarray(sj.amplitude_spectrum(acts["square"], 120.0)[1])
    assert_close(spec["square"], ref / 3)


def test_measure_and_summary_find_intermodulation_only_where_parts_combine(rng):
    images = rng.uniform(0.2, 1.0, size=(3, 1, 2, 1)).astype(np.float32)
    design = sj.Design(TAGS)
    res = sj.analyse(_two_pixel_fn, images, sj.halves(1, 2), design, progress=False)
    cb, labels, _ = design.bins()
    im = labels.index("f1+f2")
    assert res["square"].test["reject"][im, 2]  # (left + right)^2 combines both parts
    assert not res["square"].test["reject"][im, :2].any()  # a square of one part: harmonics only
    z = res["square"].neuron["z"]
    assert z[im, 2] > 1.64 and not z[im, 0] > 1.64 and not z[im, 1] > 1.64  # the z rule agrees here
    assert res["square"].neuron["amplitude"][labels.index("2f1"), 0] > 0
    lin = sj.significance_summary(res["linear"], design)
    assert lin["mean_harmonic"] == 0 and lin["mean_intermodulation"] == 0
    assert lin["f1"] > 0 and lin["false_positive_rate"] == 0 and lin["z_rule"]["false_positive_rate"] == 0
    sq = sj.significance_summary(res["square"], design)
    assert sq["any_intermodulation"] == pytest.approx(1 / 3)
    # The squared sum's power: fundamentals, harmonics 2f and f1 +- f2, nothing off the lattice.
    share = res["square"].effects["share"]
    assert share["off_lattice"][2] == 0 and share["intermodulation"][2] > 0 and share["intermodulation"][0] == 0


def test_filter_spectrum_is_mean_of_neuron_spectra(rng):
    spec = {"conv": jnp.asarray(rng.uniform(size=(121, 3, 4, 5)), jnp.float32)}
    res = sj.measure(spec)["conv"]
    assert_close(res.filter_spectrum, np.asarray(spec["conv"]).mean((1, 2)))
    assert_close(res.layer_spectrum, np.asarray(spec["conv"]).reshape(121, -1).mean(1))
    assert res.neuron["z"].shape == (len(sj.Design().bins()[0]), 3, 4, 5)


def test_measure_rejects_wrong_bin_count():
    with pytest.raises(ValueError, match="bins"):
        sj.measure({"x": jnp.ones((50, 2))})


def test_spectra_rejects_nan_activations(rng):
    images = rng.uniform(size=(1, 1, 2, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="NaN"):
        sj.probe_dataset(lambda f: {"bad": jnp.log(f - 2.0)}, images, sj.halves(1, 2), TAGS, progress=False)


def test_spectrum_measures_equal_neuron_measures(rng):
    spec = {"conv": jnp.asarray(rng.uniform(size=(121, 2, 3, 4)), jnp.float32)}
    design = sj.Design()
    got = sj.spectrum_measures(spec, design, measures=sj.MEASURES)["conv"]
    want = sj.measure(spec, design)["conv"].neuron
    for name in sj.MEASURES:
        assert_close(got[name], want[name])
    with pytest.raises(ValueError, match="measures"):
        sj.spectrum_measures(spec, design, measures=("power",))
