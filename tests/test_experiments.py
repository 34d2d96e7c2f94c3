"""Tests for ssvepjax.experiments.config (the job's configuration, which experiments share) and the scripts."""

import argparse
import importlib.util
import json
from pathlib import Path

import jax
import pytest

from ssvepjax.experiments import config

ROOT = Path(__file__).resolve().parents[1]


def test_experiment_config_quick_and_full():
    p = config.job_parser("x", "runs/x")
    q = config.config_from_args(p.parse_args(["--quick", "--out", "o"]))
    assert (q.model.depth, q.train.epochs, q.n_images, q.max_train) == (8, 1, 4, 1000)
    f = config.config_from_args(p.parse_args([]))
    assert (f.model.depth, f.train.epochs, f.n_images, f.max_train) == (32, 3, 32, None)
    assert f.design.tags.n_frames == 240 and f.design.tags.freqs_hz == (6.0, 7.5)
    with pytest.raises(ValueError, match="depth"):
        config.config_from_args(argparse.Namespace(**{**vars(p.parse_args([])), "depth": 9}))


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
    ("invariance", "invariance.json", ["invariance.png"]),
    ("detection_limit", "detection_limit.json", ["detection_limit.png"]),
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
        assert report["means_over_layers"]["linear"]["mean_harmonic"] == 0
    if name == "invariance":  # the default rule does not move with the recording length
        t = data["frames"]
        for layer in data["layers"]:
            assert data["clean"][str(t[0])][layer]["rule"] == data["clean"][str(t[1])][layer]["rule"]
    if name == "detection_limit":
        chosen = [r for r in data["conditions"]["trained"]["table"]
                  if r["limit"] == 1e-4 and r["resolution"] == 1e-7 and r["rule"] == "AC amplitude"][0]
        assert chosen["false_pass"] < 0.01
        assert not jax.config.jax_enable_x64  # the float64 reference is scoped: nothing leaks to the caller
    if name == "where":
        by = data["layers"]["stem/post"]["by_class"]
        assert by["left-only"]["f1+f2"] == 0 and by["right-only"]["f1+f2"] == 0


def test_statistics_script_rejects_too_few_images(tmp_path, cache_dir):
    # The settings are checked when the configuration is built, before any data is loaded or model trained.
    with pytest.raises(ValueError, match="at least 3 images"):
        _script("statistics").main(["--quick", "--n-images", "2", "--out", str(tmp_path), "--cache-dir", cache_dir])
    with pytest.raises(ValueError, match="unknown layer name"):
        _script("statistics").main(["--quick", "--layers", "stage9/conv1", "--out", str(tmp_path),
                                    "--cache-dir", cache_dir])


def test_probe_experiments_options_and_quick_sizes():
    from ssvepjax.experiments import framework

    inv = framework.parse("invariance", ["--quick"])
    assert (inv.frames, inv.noise_levels, inv.n_images, inv.model.depth) == ((160, 240), (0.03,), 4, 8)
    assert framework.parse("invariance", []).frames == (160, 240, 480)
    assert framework.parse("invariance", ["--frames", "240", "--noise-levels", "0.1"]).noise_levels == (0.1,)
    assert framework.parse("controls", ["--conditions", "trained", "linear"]).conditions == ("trained", "linear")
    st = framework.parse("statistics", ["--alpha", "0.01", "--layers", "stem/post"])
    assert (st.alpha, st.tested_layers) == (0.01, ["stem/post"])
    assert framework.parse("statistics", ["--quick"]).tested_layers == [
        "stem/post", "stage1_block0/conv2/post", "stage2_block0/conv2/post", "stage3_block0/conv2/post"]
    assert [framework.parse(n, []).n_images for n in ("controls", "where", "detection_limit")] == [32, 32, 8]
    for name, argv, match in [("controls", ["--conditions", "trained", "nonsense"], "conditions"),
                              ("statistics", ["--alpha", "1.5"], "alpha"),
                              ("statistics", ["--set", "alpha=0"], "alpha"),
                              ("invariance", ["--noise-levels", "0"], "noise_levels"),
                              ("invariance", ["--set", "frames=()"], "frames")]:
        with pytest.raises(ValueError, match=match):
            framework.parse(name, argv)

