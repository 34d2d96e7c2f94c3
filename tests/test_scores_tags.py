"""Tag scores: the kinds' rows, units with known responses, a NumPy reference of both measures, bad input."""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, numpy_spectra

import ssvepjax as sj
from ssvepjax import pruning as P
from ssvepjax import scores as S
from ssvepjax.explain import top_k

DESIGN = sj.Design(max_order=2)  # tags 6 and 7.5 Hz at 120 fps, 240 frames
MASKS = sj.halves(4, 4)
TAGS = sj.TagConfig((6.0, 7.5), 120.0, 240)


def toy_fn(frame):
    """Four filters with known tag responses to halves tagged at f1 (left) and f2 (right).

    0: the left half's mean (0.25 v at f1); 1: the right half's (0.25 v at f2); 2: their product
    (0.1875 v^2 at f1 and f2, 0.03125 v^2 at f1 - f2 and f1 + f2); 3: constant (no response).
    """
    left, right = frame[:, :2].mean(), frame[:, 2:].mean()
    out = jnp.stack([left, right, left * right, jnp.float32(0.5)])
    return {"toy": jnp.broadcast_to(out, (2, 2, 4))}


@pytest.fixture(scope="module")
def images():
    x = np.ones((2, 4, 4, 1), np.float32)
    x[1] *= 0.5
    return x


@pytest.fixture(scope="module")
def tiny(scored_tiny):
    return scored_tiny


def test_component_rows_kinds():
    bins = DESIGN.bins()[0]
    assert list(bins[S.component_rows(DESIGN, "fundamental")]) == [12, 15]
    assert list(bins[S.component_rows(DESIGN, "intermodulation")]) == [3, 27]
    harmonic = bins[S.component_rows(DESIGN, "higher_harmonic")]
    assert 24 in harmonic and 60 in harmonic  # 2f1, and 5f1 = 4f2 (shared by two harmonics: still pure)
    assert len(S.component_rows(DESIGN, "all")) == len(bins)
    # 6, 9 Hz: 2 f1 = 12 Hz (harmonic) and 2 f2 - f1 = 12 Hz (intermodulation) share a bin: pure kinds skip it
    d = sj.Design(sj.TagConfig(freqs_hz=(6.0, 9.0)), max_order=3)
    b = d.bins()[0]
    assert 24 not in b[S.component_rows(d, "higher_harmonic")] and 24 not in b[S.component_rows(d, "intermodulation")]
    assert 24 in b[S.component_rows(d, "all")]
    # The harmonic series is the fundamentals and the higher harmonics; a tag's series holds that tag's bins only.
    series = set(bins[S.component_rows(DESIGN, "harmonic_series")])
    assert series == set(bins[S.component_rows(DESIGN, "fundamental")]) | set(harmonic)
    assert set(bins[S.component_rows(DESIGN, "tag1")]) == {b for b in series if b % 12 == 0 and b != 60}
    with pytest.raises(ValueError, match="no component bin of kind 'intermodulation'"):
        S.component_rows(sj.Design(max_order=1), "intermodulation")


def test_tag_scores_of_known_units(images):
    expected = {
        "fundamental": [0.25, 0.25, 0.375, 0.0],
        "higher_harmonic": [0.0, 0.0, 0.0, 0.0],
        "intermodulation": [0.0, 0.0, 0.0625, 0.0],
        "all": [0.25, 0.25, 0.4375, 0.0],
    }
    for kind, e in expected.items():
        got = S.tag_scores(toy_fn, images[:1], MASKS, DESIGN, kind, measure="amplitude")["toy"]
        assert_close(got, e, atol=2e-4)
    # the image average: linear filters scale with v, the product with v^2 (v = 1 and 0.5)
    avg = S.tag_scores(toy_fn, images, MASKS, DESIGN, "all", measure="amplitude")["toy"]
    assert_close(avg, [0.25 * 0.75, 0.25 * 0.75, 0.4375 * (1 + 0.25) / 2, 0.0], atol=2e-4)


def test_per_image_amplitudes_average_to_dataset(images):
    per = S.component_values(toy_fn, images, MASKS, DESIGN, measure="amplitude", per_image=True)["toy"]
    avg = S.component_values(toy_fn, images, MASKS, DESIGN, measure="amplitude")["toy"]
    assert per.shape == (2, len(DESIGN.bins()[0]), 4)
    assert_close(per.mean(0), avg, atol=1e-5)
    scores = S.sum_rows({"toy": per}, DESIGN, "fundamental")["toy"]
    assert_close(scores[1], [0.125, 0.125, 0.375 / 4, 0.0], atol=2e-4)
    # tag_scores per image is the same sum, image by image
    rows = S.tag_scores(toy_fn, images, MASKS, DESIGN, "fundamental", measure="amplitude", per_image=True)["toy"]
    np.testing.assert_array_equal(rows, scores)


def test_sum_rows_adds_the_rows_of_a_kind():
    m = len(DESIGN.bins()[0])
    amp = np.arange(m * 2, dtype=float).reshape(m, 2)
    rows = S.component_rows(DESIGN, "intermodulation")
    assert_close(S.sum_rows({"x": amp}, DESIGN, "intermodulation")["x"], amp[rows].sum(0))
    with pytest.raises(ValueError, match="one row per component"):
        S.sum_rows({"x": amp[:-1]}, DESIGN)


def test_tag_scores_equal_a_numpy_reference_and_select_alike(images):
    """Tag scores from the library's jitted probe equal a NumPy computation of the same sums, and select alike."""
    got = S.tag_scores(toy_fn, images, MASKS, DESIGN, "all", measure="amplitude")["toy"]
    spec = numpy_spectra(toy_fn, images, MASKS, DESIGN.tags)["toy"]  # [K, 2, 2, 4], float64 rfft of every frame
    want = spec.reshape(len(spec), -1, 4).mean(1)[DESIGN.bins()[0]].sum(0)  # a filter: the mean of its neurons
    assert_close(got, want, rtol=1e-5, atol=1e-7)
    for k in (1, 3):  # filters 0 and 1 tie (0.25 v each): k = 2 would pick between them by rounding
        assert list(top_k(got, k)) == list(top_k(want, k))
    assert got[2] == got.max() and got[3] == 0  # the product responds most, the constant not at all


def test_tag_scores_rank_responsive_filters_first():
    # filter 0 follows the left part (f1), 1 is constant, 2 squares the sum (f1, f2 and intermodulation),
    # 3 follows the right part (f2).
    def fn(frame):
        left, right = frame[0, 0, 0], frame[0, 1, 0]
        return {"layer": jnp.stack([left, jnp.float32(0.3), (left + right) ** 2, right])[None, None]}

    images = np.random.default_rng(1).uniform(0.3, 1.0, size=(2, 1, 2, 1)).astype(np.float32)
    design = sj.Design(TAGS)
    s = S.tag_scores(fn, images, sj.halves(1, 2), design, ("harmonic_series", "intermodulation", "tag1", "tag2",
                                                          "significant", "all"), measure="bca+")
    h, im, t1, t2 = (s[k]["layer"] for k in ("harmonic_series", "intermodulation", "tag1", "tag2"))
    assert h[1] == 0 and h[0] > 0 and h[2] > 0 and h[3] > 0
    assert im[0] == im[1] == im[3] == 0 and im[2] > 0
    assert t1[0] > 0 and t1[3] == 0 and t2[3] > 0 and t2[0] == 0
    # A linear unit's summed BCA is its fundamental's amplitude minus the noise mean (0 off the tags):
    # 0.25 * the mean left pixel.
    assert_close(t1[0], 0.25 * images[:, 0, 0, 0].mean(), rtol=1e-3)
    assert np.all(s["all"]["layer"] >= s["significant"]["layer"] - 1e-9)
    maps = S.tag_scores(fn, images, sj.halves(1, 2), design, "tag1", measure="bca+", per_neuron=True)
    assert maps["layer"].shape == (1, 1, 4)
    # One image: amplitude scores need no test across images; "significant" does, and says so.
    one = S.tag_scores(fn, images[:1], sj.halves(1, 2), design, "tag1", measure="bca+")["layer"]
    assert_close(one[0], 0.25 * images[0, 0, 0, 0], rtol=1e-3)
    with pytest.raises(ValueError, match="at least 2 images"):
        S.tag_scores(fn, images[:1], sj.halves(1, 2), design, "significant", measure="bca+")


def test_importance_tag_methods_on_a_cifar_resnet(tiny):
    model, v, images, _ = tiny
    design = sj.Design(sj.TagConfig((6.0, 7.5), 120.0, 80))
    res = S.importance(("tag_harmonic", "tag1", "tag2"), model, v, images[:2], design=design)
    assert set(res["tag_harmonic"]) == set(sj.conv_layer_names(8))
    topo = P.topology(model)
    for d in res.values():
        for name, s in d.items():
            assert s.shape == (topo.width_of(name),) and np.all(s >= 0) and np.all(np.isfinite(s))
    # The harmonics of both tags are the harmonics of tag 1 plus those of tag 2 (no shared harmonic bin
    # below 30 Hz; 30 Hz is 5 f1 = 4 f2, left out of both).
    for name in res["tag1"]:
        assert_close(res["tag1"][name] + res["tag2"][name], res["tag_harmonic"][name], rtol=1e-5, atol=1e-9)
    for kind in ("tag_harmonic", "tag1", "tag2"):  # each responds somewhere: the sum above is not 0 = 0 + 0
        assert max(s.max() for s in res[kind].values()) > 0, kind


def test_bad_input(images):
    with pytest.raises(ValueError, match="kind must be one of"):
        S.tag_scores(toy_fn, images, MASKS, DESIGN, "subharmonic", measure="amplitude")
    with pytest.raises(ValueError, match="images must have shape"):
        S.tag_scores(toy_fn, images[0], MASKS, DESIGN, measure="amplitude")
    with pytest.raises(ValueError, match="masks has 1 parts"):
        S.component_values(toy_fn, images, MASKS[:1], DESIGN, measure="amplitude", per_image=True)
    with pytest.raises(ValueError, match="measure must be one of"):
        S.tag_scores(toy_fn, images, MASKS, DESIGN, measure="snr")
    with pytest.raises(ValueError, match="no per-image score"):
        S.tag_scores(toy_fn, images, MASKS, DESIGN, "significant", measure="bca+", per_image=True)
