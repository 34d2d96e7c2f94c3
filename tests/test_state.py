"""Shared and damaged state (issue 24): concurrent runs, a model cache or probe checkpoint cut short."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax._locks import exclusive_lock
from ssvepjax.experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["run", "--dataset", "digits", "--depth", "8", "--width", "4", "--epochs", "1", "--n-images", "2",
        "--max-train", "64", "--no-progress"]


def _cut(path: Path) -> None:
    """Cut a file to half its length, as a kill during its write would leave it."""
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _cut_arrays(folder: Path) -> None:
    """Cut every array file of an orbax checkpoint (those in its ``d`` folders) short."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files
    for p in files:
        _cut(p)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


@pytest.mark.slow
def test_concurrent_runs_share_one_model(tmp_path):
    # Two runs at once with the same settings, neither cached: the model is trained once (the other waits for it
    # and restores it), and both write the same results.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    cache = tmp_path / "cache"
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [subprocess.Popen([sys.executable, "-m", "ssvepjax.experiments.cli", *TINY, "--out", str(o), "--cache-dir",
                               str(cache)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for o in outs]
    done = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [d[1] for d in done]
    assert sum("(trained now)" in d[0] for d in done) == 1  # one trainer; the other restored its model
    reports = [json.loads((o / "report.json").read_text()) for o in outs]
    assert reports[0]["model"]["checkpoint"] == reports[1]["model"]["checkpoint"]
    assert reports[0]["model"]["test_accuracy"] == reports[1]["model"]["test_accuracy"]
    assert sorted(r["model"]["restored_from_cache"] for r in reports) == [False, True]
    with np.load(outs[0] / "neuron_components.npz") as za, np.load(outs[1] / "neuron_components.npz") as zb:
        assert za.files == zb.files
        for k in za.files:
            assert np.array_equal(za[k], zb[k], equal_nan=za[k].dtype.kind == "f"), k
    assert len(list((cache / "models").glob("*.lock"))) == 1


def test_a_second_run_into_the_same_out_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    held = exclusive_lock(out / ".ssvepjax-run.lock", "held by this test")  # as a running `ssvepjax run` holds it
    try:
        assert main(TINY + ["--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 2
    finally:
        held.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--out {out} is in use by another ssvepjax run" in err[0] and "pid" in err[0]
    assert not (out / "report.json").exists()


@pytest.mark.slow  # trains a tiny model twice
def test_damaged_model_cache_is_trained_again(tmp_path, capsys):
    data = sj.load_dataset("digits", max_train=64, n_test=50)
    args = (data, sj.ModelConfig(depth=8, width=4), sj.TrainConfig(epochs=1, batch_size=32))
    kw = dict(cache_dir=str(tmp_path), progress=False)
    first = sj.train_or_load(*args, **kw)
    ckpt = Path(first.checkpoint_dir)
    _cut_arrays(ckpt)
    capsys.readouterr()
    again = sj.train_or_load(*args, **kw)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is damaged" in err[0] and "training the model again" in err[0]
    assert not again.restored and again.test_accuracy == first.test_accuracy
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(first.variables), _leaves(again.variables)))
    # The accuracy file cut short: measured again, one line, the same number.
    _cut(ckpt / "meta.json")
    restored = sj.train_or_load(*args, **kw)
    err = capsys.readouterr().err.strip().splitlines()
    assert restored.restored and restored.test_accuracy == first.test_accuracy
    assert len(err) == 1 and "meta.json is damaged" in err[0]
    assert json.loads((ckpt / "meta.json").read_text())["test_accuracy"] == first.test_accuracy


def test_damaged_probe_checkpoint_starts_again(tmp_path, capsys):
    tags = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
    fn = lambda frame: {"a": jnp.tanh(frame.mean(-1) * 2.0 - 0.5)}  # noqa: E731 (a tiny per-frame function)
    images = np.random.default_rng(0).random((4, 6, 6, 3)).astype(np.float32)
    masks = sj.halves(6, 6)
    kw = dict(chunk_size=2, progress=False, relative=True, checkpoint_dir=tmp_path / "probe")
    want = sj.probe_dataset(fn, images, masks, tags, **kw)  # leaves its last checkpoint behind
    for damage in (lambda: _cut_arrays(tmp_path / "probe"), lambda: _cut(tmp_path / "probe" / "settings.json")):
        damage()
        capsys.readouterr()
        got = sj.probe_dataset(fn, images, masks, tags, **kw)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "probe checkpoint" in err[0] and "starting it again" in err[0]
        assert all(np.array_equal(a, b) for a, b in zip(_leaves(want), _leaves(got)))


def test_resumable_step_reads_a_finished_step_back(tmp_path, capsys):
    calls = []

    def compute():
        calls.append(1)
        return {"f1": float("nan"), "any": np.float32(0.5), "n": np.int64(3), "rows": np.arange(2), 160: float("inf")}

    first = sj.resumable_step(tmp_path, "step", compute)
    again = sj.resumable_step(tmp_path, "step", compute)
    assert len(calls) == 1 and np.isnan(first["f1"]) and np.isnan(again["f1"])
    assert {k: v for k, v in first.items() if k != "f1"} == {k: v for k, v in again.items() if k != "f1"}
    assert again["160"] == float("inf") and again["any"] == 0.5 and again["rows"] == [0, 1]
    _cut(tmp_path / "step.json")
    capsys.readouterr()
    assert sj.resumable_step(tmp_path, "step", compute)["n"] == 3 and len(calls) == 2
    assert "is damaged: computing it again" in capsys.readouterr().out
