"""Tests for ssvepjax.controls, ssvepjax.trials and ssvepjax.experiment, and the experiment scripts."""

import argparse
import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax import controls, experiment, trials

ROOT = Path(__file__).resolve().parents[1]
DESIGN = sj.Design()
T, FPS = DESIGN.tags.n_frames, DESIGN.tags.fps


def _gains():
    return np.asarray(sj.gains(DESIGN.tags.freqs_hz, fps=FPS, n_frames=T), np.float64)


def _layer(series: np.ndarray, name="layer") -> sj.LayerResult:
    """Measures of a synthetic layer: ``series`` is ``[T, units]``."""
    _, amp = sj.amplitude_spectrum(series.astype(np.float32), FPS)
    return sj.measure({name: amp}, DESIGN)[name]


# --- layer_summary ------------------------------------------------------------------------------


def test_harmonic_bins_skip_shared():
    hb = controls.harmonic_bins(DESIGN)
    assert [n for n, _ in hb[0]][:4] == [1, 2, 3, 4]
    assert 5 not in [n for n, _ in hb[0]]  # 5 f1 = 30 Hz = 4 f2
    assert 4 not in [n for n, _ in hb[1]]
    assert dict(hb[0])[1] == 12 and dict(hb[1])[1] == 15


def test_layer_summary_analytic():
    g = _gains()
    lin = 2.0 * g[:, 0]  # f1 only: amplitude 2 * 0.25 = 0.5
    rect = np.maximum(g[:, 0] - 0.75, 0)  # half-wave rectified: harmonics of f1
    prod = g[:, 0] * g[:, 1]  # f1, f2, f1 - f2, f1 + f2
    s = controls.layer_summary(_layer(np.stack([lin, rect, prod], 1)), DESIGN)
    assert s["f1"] == pytest.approx(1.0)
    assert s["f2"] == pytest.approx(1 / 3)
    assert s["harmonic_order"][1] == pytest.approx((1.0 + 1 / 3) / 2)
    assert s["harmonic_order_by_tag"]["f1"][2] == pytest.approx(1 / 3)  # only the rectified unit
    assert s["per_component"]["f1+f2"] == pytest.approx(1 / 3)
    # A pure sinusoid on an empty spectrum: BCA = its amplitude, the only significant harmonic.
    res = _layer(lin[:, None])
    assert controls.layer_summary(res, DESIGN)["summed_bca"]["f1"] == pytest.approx(0.5, rel=1e-5)
    assert controls.layer_summary(res, DESIGN)["snr"]["f1"]["infinite_fraction"] == 1.0


def test_summed_bca_matches_numpy_reference():
    g = _gains()
    x = np.maximum(g[:, 0] - 0.7, 0) + 0.3 * np.maximum(g[:, 1] - 0.8, 0) ** 2
    res = _layer(np.stack([x, 0.5 * x + g[:, 1]], 1))
    s = controls.layer_summary(res, DESIGN)
    cb = list(DESIGN.bins()[0])
    thr = DESIGN.noise.z_threshold
    for p, tag in enumerate(("f1", "f2")):
        rows = [cb.index(b) for _, b in controls.harmonic_bins(DESIGN)[p]]
        ref = []
        for u in range(2):
            total, misses = 0.0, 0
            for r in rows:
                z, b = res.neuron["z"][r, u], res.neuron["bca"][r, u]
                if np.nan_to_num(z, nan=-np.inf) > thr:
                    total, misses = total + b, 0
                else:
                    misses += 1
                    if misses == 2:
                        break
            ref.append(total)
        assert s["summed_bca"][tag] == pytest.approx(np.mean(ref), rel=1e-5)


def test_amplitude_ratios():
    g = _gains()
    two_f1 = 0.1 * np.cos(2 * np.pi * 12.0 * np.arange(T) / FPS)  # 12 Hz = 2 f1, amplitude 0.1
    res = _layer(np.stack([g[:, 0] + two_f1, g[:, 0] * g[:, 1]], 1))
    r = controls.amplitude_ratios(res, DESIGN)
    assert r["2f1/f1"]["units"] == 2
    assert r["2f1/f1"]["median"] == pytest.approx((0.1 / 0.25 + 0.0) / 2, rel=1e-3)  # g1 g2 has no 2f1
    # g1 g2 = (0.75 + 0.25 s1)(0.75 + 0.25 s2): A(f1) = A(f2) = 0.1875, A(f1 + f2) = 0.25**2 / 2.
    assert r["f1+f2/sqrt(f1*f2)"]["units"] == 1  # the first unit has no f2
    assert r["f1+f2/sqrt(f1*f2)"]["median"] == pytest.approx(0.03125 / 0.1875, rel=1e-3)


def test_component_row_unknown_label():
    assert DESIGN.bins()[1][controls.component_row(DESIGN, "f1+f2")] == "f1+f2"
    with pytest.raises(ValueError, match="unknown component label"):
        controls.component_row(DESIGN, "3f1+7f2")


def test_markdown_table():
    md = controls.markdown_table({"a": {"x": 0.5, "y": {"z": float("inf")}}, "b": {"x": None}},
                                 [("X", "x"), ("Z", "y.z")])
    lines = md.splitlines()
    assert lines[0] == "| layer | X | Z |"
    assert lines[2] == "| a | 0.50 | inf |"
    assert lines[3] == "| b | - | - |"


# --- receptive fields ---------------------------------------------------------------------------


def test_receptive_field_size():
    assert controls.receptive_field_size(8, "stem") == 3
    assert controls.receptive_field_size(8, "stage1_block0/conv1/post") == 5
    assert controls.receptive_field_size(8, "stage1_block0/conv2") == 7
    assert controls.receptive_field_size(8, "stage2_block0/conv1") == 9  # stride 2: 7 + 2
    assert controls.receptive_field_size(8, "stage2_block0/conv2") == 13  # then 2 * 2 per conv


@pytest.mark.parametrize("bad", ["stage4_block0/conv1", "stem/postx", "head", ""])
def test_unknown_layer_names(bad):
    with pytest.raises(ValueError, match="unknown layer name"):
        controls.conv_strides(8, bad)


def test_receptive_field_spans_match_perturbation():
    """The analytic span is exactly the set of input columns whose change moves a unit (linear ResNet)."""
    depth, size = 8, 12
    model = sj.CifarResNet(depth, 10, width=4, act="identity")
    variables = model.init(jax.random.key(1), jnp.zeros((1, size, size, 1)))
    layers = ("stem", "stage2_block0/conv1", "stage3_block0/conv2")
    base = jax.random.uniform(jax.random.key(3), (size, size, 1))
    # Batch 0: the base image; batch 1 + c: the base with column c raised by 1.
    batch = jnp.concatenate([base[None], base[None] + jnp.eye(size)[:, None, :, None]])
    _, state = model.apply(variables, batch, capture_intermediates=False, mutable=["intermediates"])
    acts = sj.flatten_intermediates(state["intermediates"], squeeze_batch=False)
    for layer in layers:
        a = np.asarray(acts[f"{layer}/pre"], np.float64)  # [1 + size, h, w, c]
        moved = np.abs(a[1:] - a[:1]).max(axis=(1, 3)) > 1e-5 * np.abs(a).max()  # [input column, layer column]
        spans = controls.receptive_field_spans(depth, layer, size)
        for j in range(len(spans)):
            cols = np.nonzero(moved[:, j])[0]
            assert (cols.min(), cols.max()) == tuple(spans[j]), (layer, j)


def test_rf_classes_halves():
    masks = sj.halves(28, 28)
    cls, names = controls.rf_classes(8, "stem", masks)
    assert names == ["left-only", "right-only", "both", "none"]
    assert cls.shape == (28, 28)
    assert list(np.nonzero(cls[0] == 2)[0]) == [13, 14]
    assert (cls[:, :13] == 0).all() and (cls[:, 15:] == 1).all()
    cls2, _ = controls.rf_classes(8, "stage3_block0/conv2/post", masks)
    assert cls2.shape == (7, 7)
    with pytest.raises(ValueError, match="part_names"):
        controls.rf_classes(8, "stem", masks, part_names=("a",))


# --- control conditions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    model = sj.CifarResNet(8, 10, width=4)
    variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
    images = np.asarray(jax.random.uniform(jax.random.key(2), (3, 8, 8, 1)))
    return model, variables, images


def test_control_conditions_build(tiny):
    model, variables, _ = tiny
    conds = controls.control_conditions(model, variables, (8, 8, 1), include=["stem/post"])
    assert list(conds) == list(controls.CONDITIONS)
    assert conds["one_part"].masks.shape[0] == 1 and conds["one_part"].tags.freqs_hz == (6.0,)
    assert conds["swapped"].tags.freqs_hz == (7.5, 6.0)
    with pytest.raises(ValueError, match="unknown conditions"):
        controls.control_conditions(model, variables, (8, 8, 1), conditions=["nope"])
    with pytest.raises(ValueError, match="at least 2 tags"):
        controls.control_conditions(model, variables, (8, 8, 1), sj.TagConfig((6.0,)), conditions=["swapped"])


def test_controls_behave(tiny):
    model, variables, images = tiny
    layers = ["stem/pre", "stage3_block0/conv2/post"]
    conds = controls.control_conditions(model, variables, (8, 8, 1), include=layers)
    res = {n: controls.run_condition(c, images, DESIGN) for n, c in conds.items()}
    one = controls.layer_summary(res["one_part"]["stage3_block0/conv2/post"], DESIGN)
    assert one["f2"] == 0 and one["mean_intermodulation"] == 0 and one["any_intermodulation"] == 0
    lin = controls.layer_summary(res["linear"]["stage3_block0/conv2/post"], DESIGN)
    # Float32 rounding can land on harmonic bins, but orders of magnitude below a real nonlinearity.
    assert lin["amplitude_ratio"]["2f1/f1"]["p99"] < 1e-3
    trained_pre = controls.layer_summary(res["trained"]["stem/pre"], DESIGN)
    assert trained_pre["any_intermodulation"] == 0  # conv + batch norm: affine
    follow = controls.part_following(controls.tag_significance(res["trained"], DESIGN),
                                     controls.tag_significance(res["swapped"], DESIGN))
    assert follow["stem/pre"]["follow_part_exclusive"] == 1.0
    assert follow["stem/pre"]["follow_frequency_exclusive"] == 0.0


def test_part_following_synthetic():
    ref = {"l": np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool)}
    sw = {"l": np.array([[0, 0, 1, 1], [1, 1, 0, 0]], bool)}  # frequencies moved with the swap
    out = controls.part_following(ref, sw)["l"]
    assert out["follow_part"] == 1.0 and out["follow_frequency"] == 0.0
    assert out["exclusive_units"] == [2, 2]


def test_run_condition_frame_mismatch(tiny):
    model, variables, images = tiny
    cond = controls.control_conditions(model, variables, (8, 8, 1), sj.TagConfig(n_frames=480),
                                       conditions=["trained"], include=["stem/post"])["trained"]
    with pytest.raises(ValueError, match="must match"):
        controls.run_condition(cond, images, DESIGN)


# --- statistics across images -------------------------------------------------------------------


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


def test_probe_coefficients_match_amplitude(tiny):
    model, variables, images = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=["stem/post"], train=False)
    bins = [12, 15, 27]
    amp, coefs = trials.probe_coefficients(fn, images, sj.halves(8, 8), DESIGN.tags, bins)
    assert coefs["stem/post"].shape == (3, 3, 8, 8, 4)
    single = sj.spectra(fn, images[:1], sj.halves(8, 8), DESIGN.tags, progress=False)["stem/post"]
    np.testing.assert_allclose(np.abs(coefs["stem/post"][0]), np.asarray(single)[bins], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(amp["stem/post"], np.asarray(sj.spectra(fn, images, sj.halves(8, 8), DESIGN.tags,
                                                                       progress=False)["stem/post"]), rtol=1e-5)
    table = trials.compare_detections(amp["stem/post"], coefs["stem/post"], bins, ["f1", "f2", "f1+f2"], DESIGN)
    assert set(table) == {"f1", "f2", "f1+f2"}
    assert all(0 <= v["z_rule"] <= 1 for v in table.values())
    with pytest.raises(ValueError, match="must match"):
        trials.compare_detections(amp["stem/post"], coefs["stem/post"], bins[:2], ["f1", "f2"], DESIGN)


# --- experiment config --------------------------------------------------------------------------


def test_experiment_config_quick_and_full():
    p = experiment.experiment_parser("x", "runs/x")
    q = experiment.config_from_args(p.parse_args(["--quick", "--out", "o"]))
    assert (q.model.depth, q.train.epochs, q.n_images, q.max_train) == (8, 1, 4, 1000)
    f = experiment.config_from_args(p.parse_args([]))
    assert (f.model.depth, f.train.epochs, f.n_images, f.max_train) == (32, 3, 32, None)
    assert f.design.tags.n_frames == 240 and f.design.tags.freqs_hz == (6.0, 7.5)
    with pytest.raises(ValueError, match="depth"):
        experiment.config_from_args(argparse.Namespace(**{**vars(p.parse_args([])), "depth": 9}))


# --- the experiment scripts, end to end at CI size ----------------------------------------------


def _script(name):
    spec = importlib.util.spec_from_file_location(f"exp_{name}", ROOT / "experiments" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.mark.slow
@pytest.mark.parametrize("name,json_name,pngs", [
    ("reproduce", "reproduce.json", ["layer_fractions.png", "harmonic_orders.png", "spectrum_f1f2.png"]),
    ("controls", "controls.json", ["controls.png"]),
    ("where", "where.json", ["snr_maps.png", "significance_maps.png", "rf_classes.png", "column_profiles.png"]),
    ("statistics", "statistics.json", ["detections.png"]),
])
def test_experiment_scripts_quick(name, json_name, pngs, tmp_path, cache_dir):
    out = tmp_path / name
    report = _script(name).main(["--quick", "--out", str(out), "--cache-dir", cache_dir, "--no-progress"])
    data = json.loads((out / json_name).read_text())
    assert data["experiment"] == name and data["settings"]["quick"] is True
    for png in pngs:
        assert (out / png).stat().st_size > 1000
    if name == "reproduce":
        assert any("5f1" in c["labels"] for c in data["design"]["collisions"])
        assert "stem" in data["layers_post"]
    if name == "controls":
        assert report["means_over_layers"]["one_part"]["mean_intermodulation"] == 0
    if name == "where":
        by = data["layers"]["stem/post"]["by_class"]
        assert by["left-only"]["f1+f2"] == 0 and by["right-only"]["f1+f2"] == 0


@pytest.mark.slow
def test_statistics_script_rejects_too_few_images(tmp_path, cache_dir):
    with pytest.raises(ValueError, match="at least 3 images"):
        _script("statistics").main(["--quick", "--n-images", "2", "--out", str(tmp_path), "--cache-dir", cache_dir])
    with pytest.raises(ValueError, match="unknown layer name"):
        _script("statistics").main(["--quick", "--layers", "stage9/conv1", "--out", str(tmp_path),
                                    "--cache-dir", cache_dir])


def test_coefficients_of_one_period_equal_every_frame(tiny):
    # Complex coefficients (phase included) at components and at off-lattice bins (exactly 0).
    model, variables, images = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=["stage1_block0/conv2/post"],
                     train=False)
    bins = [3, 12, 15, 24, 27, 13, 50]  # 13 and 50 are off the lattice of step 3
    masks = sj.halves(8, 8)
    amp1, c1 = trials.coefficient_fn(fn, masks, DESIGN.tags, bins)(images[0])
    amp2, c2 = trials.coefficient_fn(fn, masks, DESIGN.tags, bins, one_period=False)(images[0])
    k = "stage1_block0/conv2/post"
    scale = float(np.abs(c2[k]).max())
    np.testing.assert_allclose(np.asarray(c1[k]), np.asarray(c2[k]), rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(amp1[k]), np.asarray(amp2[k]), rtol=1e-4, atol=1e-5 * scale)
    assert np.all(np.asarray(c1[k])[5:] == 0) and np.all(np.asarray(c2[k])[5:] == 0)


def test_stream_tests_equal_tests_on_stored_coefficients(tiny):
    # Moments merged over chunks of 2 (the last padded) give the tests of the stored coefficients.
    model, variables, _ = tiny
    fn = sj.linen_fn(model, variables, capture_intermediates=False, include=["stage1_block0/conv2/post"],
                     train=False)
    images = np.random.default_rng(5).random((7, 8, 8, 1)).astype(np.float32)
    bins, masks, k = [3, 12, 15, 27], sj.halves(8, 8), "stage1_block0/conv2/post"
    amp, coefs = trials.probe_coefficients(fn, images, masks, DESIGN.tags, bins)
    amp_s, moments = trials.stream_tests(fn, iter([images[:3], images[3:]]), masks, DESIGN.tags, bins, chunk_size=2)
    np.testing.assert_allclose(amp_s[k], amp[k], rtol=1e-5, atol=1e-7)
    assert float(moments[k]["n"]) == 7
    for test in ("hotelling", "circular"):
        want = trials.across_image_tests(coefs[k], test=test)
        got = trials.tests_from_moments(moments[k], test=test)
        assert got["p"].shape == want["p"].shape == (4, 8 * 8 * 4)
        # Degenerate spread (NaN) is decided against a few ulps: a unit at that edge may fall
        # either way under another summation order. Everywhere else the tests agree.
        defined = ~np.isnan(want["p"]) & ~np.isnan(got["p"])
        assert defined.sum() > 50
        assert np.mean(np.isnan(want["p"]) != np.isnan(got["p"])) < 0.01
        # T2 divides by det(S) or the spread: nearly singular units amplify rounding, so most
        # units must agree to 1e-4 and every unit to 2%.
        rel = np.abs(got["t2"][defined] - want["t2"][defined]) / np.abs(want["t2"][defined])
        assert np.quantile(rel, 0.99) < 1e-4 and rel.max() < 0.02, (test, np.quantile(rel, 0.99), rel.max())
        assert np.mean(got["reject"] != want["reject"]) < 0.01
    with pytest.raises(ValueError, match="chunk_size"):
        trials.stream_tests(fn, images, masks, DESIGN.tags, bins, chunk_size=0)
    with pytest.raises(ValueError, match="bins"):
        trials.stream_tests(fn, images, masks, DESIGN.tags, [500])
