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


@pytest.mark.slow
def test_statistics_script_rejects_too_few_images(tmp_path, cache_dir):
    with pytest.raises(ValueError, match="at least 3 images"):
        _script("statistics").main(["--quick", "--n-images", "2", "--out", str(tmp_path), "--cache-dir", cache_dir])
    with pytest.raises(ValueError, match="unknown layer name"):
        _script("statistics").main(["--quick", "--layers", "stage9/conv1", "--out", str(tmp_path),
                                    "--cache-dir", cache_dir])


