"""Tests for probing large models: filter granularity, layer groups under a memory budget, images per step."""

import jax
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.streaming import budget as B

# 40 frames at 40 fps: 1 Hz bins, tags on bins 4 and 5, one period of 40 frames (the tests of test_streaming).
TAGS = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
DESIGN = sj.Design(TAGS, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
SIZE = 12
MASKS = sj.halves(SIZE, SIZE)


@pytest.fixture(scope="module")
def model_fn(probe_fn):
    return probe_fn


@pytest.fixture(scope="module")
def images(probe_images):
    return probe_images


@pytest.fixture(scope="module")
def tiny_fn():
    """Three small layers in plain jax (compiles in a fraction of the ResNet's time): the layer-group tests."""
    rng = np.random.default_rng(1)
    w1, w2 = (jax.numpy.asarray(0.5 * rng.standard_normal(s), np.float32) for s in ((3, 3, 3, 4), (3, 3, 4, 6)))

    def conv(x, w):
        return jax.lax.conv_general_dilated(x[None], w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]

    def fn(frame):
        a = conv(frame, w1)
        b = conv(jax.nn.relu(a), w2)
        return {"a": a, "b": jax.nn.relu(b), "c": jax.numpy.tanh(b).mean((0, 1))}

    return fn


@pytest.fixture(scope="module")
def neuron(model_fn, images):
    return sj.probe_dataset(model_fn, images, MASKS, DESIGN, relative=True, progress=False)


def position_mean(s):
    s = np.asarray(s, np.float64)
    return s.reshape(s.shape[0], -1, s.shape[-1]).mean(1) if s.ndim > 2 else s


def close(a, b, rtol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = np.abs(b[np.isfinite(b)]).max() if np.isfinite(b).any() else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(scale, 1e-30), equal_nan=True)


@pytest.mark.parametrize("frame_block", [None, 8])
def test_filter_spectra_are_the_position_means_of_the_neuron_spectra(model_fn, images, neuron, frame_block):
    got = sj.probe_dataset(model_fn, images, MASKS, DESIGN, granularity="filter", frame_block=frame_block,
                           progress=False)
    assert sorted(got) == sorted(neuron[0])
    for k, s in neuron[0].items():
        assert got[k].shape == (DESIGN.n_bins, s.shape[-1]), k
        close(got[k], position_mean(s))


def test_filter_relative_moments_equal_a_numpy_reference(model_fn, images, neuron):
    spec, rel = sj.probe_dataset(model_fn, images, MASKS, DESIGN, granularity="filter", relative=True,
                                 progress=False)
    for k in spec:
        close(spec[k], position_mean(neuron[0][k]))
    # Per image: the filter spectrum (position mean of that image's neuron spectra), its AC amplitude by
    # Parseval, the relative amplitude at the components.
    cb = np.asarray(DESIGN.bins()[0])
    w = np.full(DESIGN.n_bins, 0.5)
    w[0], w[-1] = 0.0, 1.0
    total = {}
    for image in images:
        one = sj.probe_dataset(model_fn, image[None], MASKS, DESIGN, progress=False)
        for k, s in one.items():
            f = position_mean(s)
            ac = np.sqrt(2 * np.tensordot(w, f**2, 1))
            r = np.where(ac > 0, f[cb] / np.where(ac > 0, ac, 1), 0.0)
            t = total.setdefault(k, [0.0, 0.0])
            t[0], t[1] = t[0] + r, t[1] + r**2
    for k, (s1, s2) in total.items():
        assert float(rel[k]["n"]) == len(images)
        n = len(images)  # the shifted moments (stats.amplitude_moments): mean = shift + sum / n, m2 centred
        close(np.asarray(rel[k]["shift"]) + np.asarray(rel[k]["sum"]) / n, s1 / n, rtol=1e-4)
        np.testing.assert_allclose(rel[k]["m2"], s2 - s1**2 / n, rtol=1e-3, atol=1e-7)


def test_filter_measures_and_summaries_work_on_filters(model_fn, images):
    spec, rel = sj.probe_dataset(model_fn, images, MASKS, DESIGN, granularity="filter", relative=True,
                                 progress=False)
    got = sj.probe_dataset(model_fn, images, MASKS, DESIGN, granularity="filter", measures=("amplitude", "snr", "z"),
                           progress=False)
    want = sj.spectrum_measures(spec, DESIGN, measures=("amplitude", "snr", "z"))
    for k in want:
        for n in want[k]:
            close(got[k][n], want[k][n], rtol=1e-4)
    res = sj.measure(spec, DESIGN, rel)  # what analyse(..., granularity="filter") returns
    name = "stem/post"
    assert res[name].unit_shape == (4,) and res[name].test["p"].shape == (len(DESIGN.bins()[0]), 4)
    close(res[name].filter_spectrum, spec[name])
    close(res[name].neuron["amplitude"], res[name].filter["amplitude"])  # a filter is its own unit here
    summary = sj.layer_summary(res[name], DESIGN)
    assert 0 <= summary["snr"]["f1"]["infinite_fraction"] <= 1


def test_unknown_granularity_names_the_choices(model_fn, images):
    with pytest.raises(ValueError, match="granularity must be one of .*neuron.*filter"):
        sj.probe_dataset(model_fn, images, MASKS, DESIGN, granularity="channel", progress=False)


def budget_of_groups(model_fn, n_groups_at_least, **kw):
    layers, frames = B.layer_bytes(model_fn, (SIZE, SIZE, 3), DESIGN, **kw)
    one = max(B.group_need(layers, [k], frames) for k in layers)
    groups = B.layer_groups(layers, frames, one)
    assert len(groups) >= n_groups_at_least
    return one, groups


@pytest.mark.parametrize("kw", [{"relative": True}, {"measures": ("amplitude", "z")}])
def test_layer_groups_under_a_budget_equal_one_pass(tiny_fn, images, kw):
    one_pass = sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, progress=False, **kw)
    budget, groups = budget_of_groups(tiny_fn, 3, relative_bins=len(DESIGN.bins()[0]) if "relative" in kw else 0,
                                      measures=len(kw["measures"]) if "measures" in kw else None)
    got = sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, memory_budget=budget, progress=False, **kw)
    assert jax.tree.structure(got) == jax.tree.structure(one_pass)
    # Each group is its own program: XLA may round the same forward pass differently in the last float32 bits.
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(one_pass)):
        close(a, b, rtol=1e-5)


def test_a_budget_below_one_layer_says_what_the_smallest_group_needs(tiny_fn, images):
    layers, frames = B.layer_bytes(tiny_fn, (SIZE, SIZE, 3), DESIGN)
    need = max(B.group_need(layers, [k], frames) for k in layers)
    with pytest.raises(ValueError, match=f"smallest group .* needs {need} bytes"):
        sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, memory_budget=need - 1, progress=False)
    with pytest.raises(ValueError, match="memory_budget must be"):
        sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, memory_budget=-5, progress=False)
    assert sj.available_memory() > 0


def test_several_groups_refuse_an_iterator(tiny_fn, images):
    budget, _ = budget_of_groups(tiny_fn, 2)
    with pytest.raises(ValueError, match="iterator"):
        sj.probe_dataset(tiny_fn, iter([images[:2], images[2:]]), MASKS, DESIGN, memory_budget=budget,
                         progress=False)
    # A list can be read again: the groups' passes give the one-pass spectra.
    got = sj.probe_dataset(tiny_fn, [images[:2], images[2:]], MASKS, DESIGN, memory_budget=budget, progress=False)
    want = sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, progress=False)
    for k in want:
        close(got[k], want[k], rtol=1e-5)


def test_images_per_step_and_results_on_disk_equal_one_image_at_a_time(tiny_fn, images, tmp_path):
    one = sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, relative=True, progress=False)
    # 5 images, 3 per step: the second step is padded with a zero-weight image.
    got = sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, relative=True, images_per_step=3, progress=False,
                           results_dir=tmp_path / "nested")
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(one)):
        close(a, b, rtol=1e-5)
    close(np.load(tmp_path / "nested" / "b.npy"), one[0]["b"])
    assert isinstance(got[0]["b"], np.memmap) and (tmp_path / "nested" / "b" / "relative_sum.npy").exists()
    with pytest.raises(ValueError, match="images_per_step"):
        sj.probe_dataset(tiny_fn, images, MASKS, DESIGN, images_per_step=0, progress=False)
