"""Filter selection: tag scores of units with known responses, top-k / top-fraction, baselines, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init, numpy_spectra

import ssvepjax as sj
from ssvepjax.explain import selection as S

DESIGN = sj.Design(max_order=2)  # tags 6 and 7.5 Hz at 120 fps, 240 frames
MASKS = sj.halves(4, 4)


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


def test_component_rows_kinds():
    bins = DESIGN.bins()[0]
    assert list(bins[S.component_rows(DESIGN, "fundamental")]) == [12, 15]
    assert list(bins[S.component_rows(DESIGN, "intermodulation")]) == [3, 27]
    harmonic = bins[S.component_rows(DESIGN, "harmonic")]
    assert 24 in harmonic and 60 in harmonic  # 2f1, and 5f1 = 4f2 (shared by two harmonics: still pure)
    assert len(S.component_rows(DESIGN, "combined")) == len(bins)
    # 6, 9 Hz: 2 f1 = 12 Hz (harmonic) and 2 f2 - f1 = 12 Hz (intermodulation) share a bin: pure kinds skip it
    d = sj.Design(sj.TagConfig(freqs_hz=(6.0, 9.0)), max_order=3)
    b = d.bins()[0]
    assert 24 not in b[S.component_rows(d, "harmonic")] and 24 not in b[S.component_rows(d, "intermodulation")]
    assert 24 in b[S.component_rows(d, "combined")]


def test_tag_scores_of_known_units(images):
    expected = {
        "fundamental": [0.25, 0.25, 0.375, 0.0],
        "harmonic": [0.0, 0.0, 0.0, 0.0],
        "intermodulation": [0.0, 0.0, 0.0625, 0.0],
        "combined": [0.25, 0.25, 0.4375, 0.0],
    }
    for kind, e in expected.items():
        got = S.tag_filter_scores(toy_fn, images[:1], MASKS, DESIGN, kind=kind)["toy"]
        assert_close(got, e, atol=2e-4)
    # the image average: linear filters scale with v, the product with v^2 (v = 1 and 0.5)
    avg = S.tag_filter_scores(toy_fn, images, MASKS, DESIGN, kind="combined")["toy"]
    assert_close(avg, [0.25 * 0.75, 0.25 * 0.75, 0.4375 * (1 + 0.25) / 2, 0.0], atol=2e-4)


def test_per_image_amplitudes_average_to_dataset(images):
    per = S.tag_component_amplitudes(toy_fn, images, MASKS, DESIGN, per_image=True)["toy"]
    avg = S.tag_component_amplitudes(toy_fn, images, MASKS, DESIGN)["toy"]
    assert per.shape == (2, len(DESIGN.bins()[0]), 4)
    assert_close(per.mean(0), avg, atol=1e-5)
    scores = S.scores_from_amplitudes({"toy": per}, DESIGN, "fundamental")["toy"]
    assert_close(scores[1], [0.125, 0.125, 0.375 / 4, 0.0], atol=2e-4)


def test_scores_from_amplitudes_sums_rows():
    m = len(DESIGN.bins()[0])
    amp = np.arange(m * 2, dtype=float).reshape(m, 2)
    rows = S.component_rows(DESIGN, "intermodulation")
    assert_close(S.scores_from_amplitudes({"x": amp}, DESIGN, "intermodulation")["x"], amp[rows].sum(0))
    with pytest.raises(ValueError, match="one row per component"):
        S.scores_from_amplitudes({"x": amp[:-1]}, DESIGN)


def test_top_k_and_fraction():
    s = np.array([0.5, 2.0, np.nan, 2.0, 1.0])
    assert list(S.top_k(s, 2)) == [False, True, False, True, False]
    assert list(S.top_k(s, 3)) == [False, True, False, True, True]
    assert list(S.top_k(s, 5)) == [True] * 5  # NaN ranks last but is kept when k = c
    per = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert S.top_k(per, 1).tolist() == [[True, False, False], [False, True, False]]
    d = S.top_k({"a": s, "b": per}, 2)
    assert d["a"].sum() == 2 and d["b"].shape == (2, 3) and (d["b"].sum(1) == 2).all()
    assert S.top_fraction(s, 0.4).sum() == 2
    assert S.top_fraction(s, 0.01).sum() == 1  # never empty
    assert S.top_fraction({"a": s}, 1.0)["a"].all()


def test_tag_scores_equal_a_numpy_reference_and_select_alike(images):
    """Tag scores from the library's jitted probe equal a NumPy computation of the same sums, and select alike."""
    got = S.tag_filter_scores(toy_fn, images, MASKS, DESIGN, kind="combined")["toy"]
    spec = numpy_spectra(toy_fn, images, MASKS, DESIGN.tags)["toy"]  # [K, 2, 2, 4], float64 rfft of every frame
    want = spec.reshape(len(spec), -1, 4).mean(1)[DESIGN.bins()[0]].sum(0)  # a filter: the mean of its neurons
    assert_close(got, want, rtol=1e-5, atol=1e-7)
    for k in (1, 3):  # filters 0 and 1 tie (0.25 v each): k = 2 would pick between them by rounding
        assert list(S.top_k(got, k)) == list(S.top_k(want, k))
    assert got[2] == got.max() and got[3] == 0  # the product responds most, the constant not at all


def test_random_scores():
    key = jax.random.key(0)
    a = S.random_scores(key, {"x": 8, "y": 3})
    b = S.random_scores(key, {"x": 8, "y": 3})
    assert a["x"].shape == (8,) and a["y"].shape == (3,)
    assert_close(a["x"], b["x"])
    assert not np.allclose(a["x"], S.random_scores(jax.random.key(1), {"x": 8})["x"])
    per = S.random_scores(key, {"x": 8}, n_images=5)["x"]
    assert per.shape == (5, 8) and len({tuple(S.top_k(r, 3)) for r in per}) > 1


def test_l1_scores_match_library():
    module = sj.CifarResNet(depth=8, num_classes=3, width=2)
    variables = jit_init(module, 0, jnp.zeros((1, 8, 8, 1)))
    layers = ["stem", "stage3_block0/conv2"]
    got = S.l1_scores(variables, layers)
    for layer in layers:  # NumPy: the sum of |w| over every axis of the kernel but the output channels
        kernel = variables["params"]
        for key in layer.split("/"):
            kernel = kernel[key]
        kernel = np.asarray(kernel["conv"]["kernel"], np.float64)
        assert_close(got[layer], np.abs(kernel).sum((0, 1, 2)))
    assert_close(S.l1_scores(variables, ["head"])["head"], np.abs(variables["params"]["head"]["kernel"]).sum(0))
    with pytest.raises(ValueError, match="unknown layer"):
        S.l1_scores(variables, ["stage9_block0/conv1"])
    with pytest.raises(ValueError, match="exactly one"):
        S.l1_scores(variables, ["stage1_block0"])


def test_mean_activation_scores(images):
    fn = lambda f: {"x": f * jnp.array([1.0, -2.0])}
    x = np.concatenate([images, images], -1)[..., :1]
    got = S.mean_activation_scores(fn, x, per_image=True, batch_size=1)["x"]
    assert_close(got, [[1.0, 2.0], [0.5, 1.0]])
    assert_close(S.mean_activation_scores(fn, x)["x"], [0.75, 1.5])


def test_bad_input(images):
    s = np.arange(4.0)
    for k in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\]"):
            S.top_k(s, k)
    with pytest.raises(ValueError, match="layer 'a'"):
        S.top_k({"a": s}, 9)
    for f in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction must lie"):
            S.top_fraction(s, f)
    with pytest.raises(ValueError, match="kind must be one of"):
        S.tag_filter_scores(toy_fn, images, MASKS, DESIGN, kind="subharmonic")
    with pytest.raises(ValueError, match="images must have shape"):
        S.tag_filter_scores(toy_fn, images[0], MASKS, DESIGN)
    with pytest.raises(ValueError, match="masks has 1 parts"):
        S.tag_component_amplitudes(toy_fn, images, MASKS[:1], DESIGN, per_image=True)
    with pytest.raises(ValueError, match="n_images"):
        S.random_scores(jax.random.key(0), {"x": 3}, n_images=0)
    with pytest.raises(ValueError, match="batch_size"):
        S.mean_activation_scores(toy_fn, images, batch_size=0)
