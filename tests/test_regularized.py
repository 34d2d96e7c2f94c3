"""Tests for ssvepjax.training.regularized and the regularised path of train_or_load: the loss term, weight 0 equals
plain training, resume from a step checkpoint (after an exception, and after a real SIGKILL of the script), the
held-out measures, the part-corruption accuracy, and bad input (library and script)."""

import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_init

import ssvepjax as sj

ROOT = Path(__file__).resolve().parents[1]
TAGS = sj.TagConfig((3.0, 4.0), fps=24.0, n_frames=24)
LAYERS = ("stage3_block0/conv1/post", "stage3_block0/conv2/post")
TINY = sj.ModelConfig(depth=8, width=2)


@pytest.fixture(scope="module")
def digits():
    return sj.load_dataset("digits", max_train=256, n_test=200)


def test_regularizer_settings_and_bad_input():
    reg = sj.Regularizer({"purity": 1, "intermodulation": 0.5}, layers="stage3_block0/conv2/post", n_tagged=2)
    assert reg.terms == (("purity", 1.0), ("intermodulation", 0.5)) and reg.layers == ("stage3_block0/conv2/post",)
    assert reg.design.tags == TAGS and json.loads(reg.key())["n_tagged"] == 2
    assert sj.Regularizer().terms == ()
    with pytest.raises(ValueError, match="not a term"):
        sj.Regularizer({"beauty": 1.0}, layers=LAYERS)
    with pytest.raises(ValueError, match=">= 0"):
        sj.Regularizer({"purity": -1.0}, layers=LAYERS)
    with pytest.raises(ValueError, match=">= 0"):
        sj.Regularizer({"purity": float("nan")}, layers=LAYERS)
    with pytest.raises(ValueError, match="layers"):
        sj.Regularizer({"purity": 1.0})
    with pytest.raises(ValueError, match="n_tagged"):
        sj.Regularizer({"purity": 1.0}, layers=LAYERS, n_tagged=0)
    with pytest.raises(ValueError, match="intermodulation"):
        sj.Regularizer({"intermodulation": 1.0}, layers=LAYERS, tags=sj.TagConfig((3.0,), 24.0, 24))
    with pytest.raises(ValueError, match="off-bin"):
        sj.Regularizer({"purity": 1.0}, layers=LAYERS, tags=sj.TagConfig((3.3, 4.0), 24.0, 24))


def test_regularizer_is_the_weighted_sum_of_the_library_terms():
    module = TINY.build(10)
    v = jit_init(module, 0, jnp.zeros((1, 8, 8, 1)), train=False)
    x = jnp.asarray(np.random.default_rng(0).uniform(0, 1, (5, 8, 8, 1)), jnp.float32)
    reg = sj.Regularizer({"tag_locking": 0.5, "intermodulation": 2.0}, layers=LAYERS, n_tagged=3)
    total, parts = jax.jit(sj.regularizer(reg, module, (8, 8, 1)))(v, x)
    apply = sj.linen_apply(module, train=True)
    want = {t: float(jax.jit(sj.spectral_loss(t, apply, sj.halves(8, 8), reg.design, layers=list(LAYERS)))(v, x[:3]))
            for t in ("tag_locking", "intermodulation")}
    assert {k: float(p) for k, p in parts.items()} == pytest.approx(want, rel=1e-5)
    assert float(total) == pytest.approx(0.5 * want["tag_locking"] + 2.0 * want["intermodulation"], rel=1e-5)
    # The term enters the training step: its gradient moves the parameters, and the logs carry it.
    tx = sj.optimizer(sj.TrainConfig(), 10)
    state = {"params": v["params"], "batch_stats": v["batch_stats"], "opt_state": tx.init(v["params"]),
             "epoch": jnp.zeros((), jnp.int32)}
    y = jnp.zeros(5, jnp.int32)
    plain, logs0 = sj.make_steps(module, tx)[0](state, x, y)
    regd, logs1 = sj.make_steps(module, tx, sj.regularizer(reg, module, (8, 8, 1)))[0](state, x, y)
    assert float(logs0["loss"]) == float(logs0["task_loss"]) == pytest.approx(float(logs1["task_loss"]))
    assert float(logs1["loss"]) == pytest.approx(float(logs1["task_loss"]) + float(total), rel=1e-5)
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(plain["params"]),
                                                             jax.tree.leaves(regd["params"])))
    assert diff > 1e-6
    with pytest.raises(ValueError, match="unknown layer"):
        sj.regularizer(sj.Regularizer({"purity": 1.0}, layers=["nope"]), module, (8, 8, 1))
    with pytest.raises(ValueError, match="n_tagged"):
        sj.regularizer(reg, module, (8, 8, 1))(v, x[:2])


def _leaves(trained):
    return [np.asarray(a) for a in jax.tree.leaves(trained.variables)]


@pytest.mark.slow  # trains a model
def test_weight_zero_and_step_checkpoints_equal_plain_training(digits, tmp_path):
    train = sj.TrainConfig(epochs=1, batch_size=32)
    plain = sj.train_or_load(digits, TINY, train, cache_dir=str(tmp_path / "a"), progress=False)
    zero = sj.train_regularized(digits, TINY, train, sj.Regularizer({"purity": 0.0}, layers=LAYERS, n_tagged=2),
                             cache_dir=str(tmp_path / "b"), progress=False, checkpoint_every=3,
                             metrics_path=tmp_path / "m.jsonl")
    assert plain.checkpoint_dir.split("/")[-1] != zero.checkpoint_dir.split("/")[-1]
    for a, b in zip(_leaves(plain), _leaves(zero)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert zero.test_accuracy == plain.test_accuracy
    lines = [json.loads(s) for s in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [8, 8] and lines[-1]["test_accuracy"] == zero.test_accuracy
    assert lines[0]["purity"] > 0 and lines[0]["loss"] == pytest.approx(lines[0]["task_loss"])
    again = sj.train_regularized(digits, TINY, train, sj.Regularizer({"purity": 0.0}, layers=LAYERS, n_tagged=2),
                              cache_dir=str(tmp_path / "b"), progress=False, checkpoint_every=3,
                              metrics_path=tmp_path / "m.jsonl")
    assert again.restored and len((tmp_path / "m.jsonl").read_text().splitlines()) == 2


class _Crashing(np.ndarray):
    """Training images that raise on the n-th batch: a run that dies mid-epoch, in process."""

    limit = 0

    def __getitem__(self, idx):
        if isinstance(idx, np.ndarray):
            type(self).limit -= 1
            if type(self).limit < 0:
                raise RuntimeError("killed")
        return np.asarray(self).__getitem__(idx)


@pytest.mark.slow  # trains a model
def test_resume_from_a_step_checkpoint_matches_an_uninterrupted_run(digits, tmp_path):
    train = sj.TrainConfig(epochs=2, batch_size=32)
    reg = sj.Regularizer({"intermodulation": 1.0}, layers=LAYERS, n_tagged=2)
    kw = dict(progress=False, checkpoint_every=3, log_every=2)
    whole = sj.train_regularized(digits, TINY, train, reg, cache_dir=str(tmp_path / "a"),
                              metrics_path=tmp_path / "a.jsonl", **kw)
    _Crashing.limit = 11  # dies at step 12 (epoch 2, batch 4); the last checkpoint is step 9
    crashing = sj.Dataset(**{**digits.__dict__, "train_images": digits.train_images.view(_Crashing)})
    with pytest.raises(RuntimeError, match="killed"):
        sj.train_regularized(crashing, TINY, train, reg, cache_dir=str(tmp_path / "b"),
                             metrics_path=tmp_path / "b.jsonl", **kw)
    resumed = sj.train_regularized(digits, TINY, train, reg, cache_dir=str(tmp_path / "b"),
                                metrics_path=tmp_path / "b.jsonl", **kw)
    assert not resumed.restored  # it trained the remaining steps
    for a, b in zip(_leaves(whole), _leaves(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert resumed.test_accuracy == whole.test_accuracy

    def log(name):
        return [json.loads(s) for s in (tmp_path / name).read_text().splitlines()]

    b = log("b.jsonl")
    assert {"step": 9, "resumed_from": 9} in b
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows if "resumed_from" not in r]  # noqa: E731
    assert [r["step"] for r in strip(b)] == [r["step"] for r in strip(log("a.jsonl"))]  # no step logged twice
    for ra, rb in zip(strip(log("a.jsonl")), strip(b)):
        assert rb == pytest.approx(ra, rel=1e-5)


class _LeftRight(nn.Module):
    """Class 0 if the left half is brighter than the right half, else class 1."""

    @nn.compact
    def __call__(self, x, train=False):
        w = x.shape[2] // 2
        return jnp.stack([x[:, :, :w].mean((1, 2, 3)), x[:, :, w:].mean((1, 2, 3))], -1)


def test_part_corruption_accuracy_analytic(rng):
    labels = rng.integers(0, 2, 40)
    images = rng.uniform(0.0, 0.1, (40, 10, 10, 1)).astype(np.float32)
    images[labels == 0, :, :5] += 0.2
    images[labels == 1, :, 5:] += 0.2
    out = sj.part_corruption_accuracy(_LeftRight(), {}, images, labels, sj.halves(10, 10), noise_sd=0.0)
    assert out["clean"] == 1.0 and out["noised"] == [1.0, 1.0] and out["parts"] == ["left half", "right half"]
    # Zeroing the left half makes every image "right brighter": correct exactly for the label-1 images.
    assert out["zeroed"] == pytest.approx([np.mean(labels == 1), np.mean(labels == 0)])
    # Strong noise, clipped to [0, 1], brightens the noised half to about 0.5: it then always looks brighter.
    noisy = sj.part_corruption_accuracy(_LeftRight(), {}, images, labels, sj.halves(10, 10), noise_sd=5.0)
    assert noisy["noised"] == pytest.approx([np.mean(labels == 0), np.mean(labels == 1)], abs=0.051)
    with pytest.raises(ValueError, match="noise_sd"):
        sj.part_corruption_accuracy(_LeftRight(), {}, images, labels, sj.halves(10, 10), noise_sd=-1.0)
    with pytest.raises(ValueError, match="masks"):
        sj.part_corruption_accuracy(_LeftRight(), {}, images, labels, sj.halves(4, 4))


def test_held_out_measures_are_the_library_measures():
    module = TINY.build(10)
    v = jit_init(module, 1, jnp.zeros((1, 8, 8, 1)), train=False)
    images = np.random.default_rng(1).uniform(0.2, 1.0, (3, 8, 8, 1)).astype(np.float32)
    reg = sj.Regularizer({"purity": 1.0}, layers=LAYERS)
    m = sj.held_out_measures(module, v, images, reg, [LAYERS[1]])
    direct = sj.tag_measures(sj.linen_apply(module), v, images, sj.halves(8, 8), reg.design, layers=[LAYERS[1]])
    assert m[LAYERS[1]]["share"] == pytest.approx(direct[LAYERS[1]])
    fn = sj.linen_fn(module, v, capture_intermediates=False, include=[LAYERS[1]], train=False)
    s = sj.layer_summary(sj.analyse(fn, images, sj.halves(8, 8), sj.Design())[LAYERS[1]], sj.Design())
    a = m[LAYERS[1]]["analysis"]
    assert a["any_intermodulation"] == s["any_intermodulation"] and 0 <= a["any_intermodulation"] <= 1
    assert sum(a["power_share"].values()) == pytest.approx(1.0, abs=1e-3)


# --- the script: bad input as one line, and resume after a real SIGKILL --------------------------------------

SCRIPT = ROOT / "experiments" / "train_regularized.py"


@pytest.mark.parametrize("args,match", [
    (["--weights=-1"], ">= 0"),
    (["--tags", "3.3", "4"], "off-bin"),
    (["--layers", "nope"], "unknown layer"),
    (["--terms", "beauty"], "not a term"),
])
def test_script_bad_input_is_one_line(args, match, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_regularized_script", SCRIPT)
    mod = sys.modules["train_regularized_script"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(SystemExit) as e:
        sj.experiments.run_script(lambda: mod.main(["--quick", "--out", str(tmp_path), "--no-progress", *args]))
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error:") and match in err[0], err
    assert not (tmp_path / "steps").exists()  # refused before any training


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except json.JSONDecodeError:  # a line cut by the kill
        return None


def _steps(model_dir: Path) -> list[int]:
    """Steps of the committed orbax checkpoints in a model folder (temporary folders are not digits)."""
    return [int(d.name) for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit()]


@pytest.mark.slow
def test_script_resumes_after_sigkill(tmp_path):
    # Plain training, then the intermodulation term; killed with SIGKILL once the second model has a checkpoint,
    # then restarted. (That a resumed run equals an uninterrupted one is shown in process, above.)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(SCRIPT), "--quick", "--terms", "intermodulation", "--max-train", "1024", "--epochs",
           "1", "--checkpoint-every", "4", "--no-progress", "--out", str(tmp_path / "out"), "--cache-dir",
           str(tmp_path / "cache")]
    # The moment of the kill is set by what the script has written, not by time: the plain run's result file
    # exists (so the first run is finished and stored) and the second model has a committed checkpoint.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    models = tmp_path / "cache" / "models"
    runs = tmp_path / "out" / "steps"  # each finished run, stored as a step of the experiment
    deadline, seen = time.time() + 600, 0
    try:
        while time.time() < deadline and proc.poll() is None:
            stored = list(runs.glob("plain_seed*.json")) if runs.exists() else []
            dirs = [d for d in models.iterdir() if d.is_dir()] if models.exists() else []  # not the .lock files
            running = [d for d in dirs if not (d / "meta.json").exists() and _steps(d)]
            if stored and running:
                proc.send_signal(signal.SIGKILL)
                seen = max(_steps(running[0]))
                break
            time.sleep(0.02)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-training"
    assert [p.name.split("_seed")[0] for p in runs.glob("*.json")] == ["plain"]
    log = tmp_path / "out" / "metrics" / "intermodulation@1_seed0.jsonl"
    before = log.read_text().splitlines() if log.exists() else []
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)

    rows = [json.loads(s) for s in log.read_text().splitlines()]
    resumed = [r["resumed_from"] for r in rows if "resumed_from" in r]
    assert len(resumed) == 1 and resumed[0] >= seen > 0 and resumed[0] % 4 == 0  # continued from its checkpoint
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 16  # no step logged twice, trained to the end (1024 / 64)
    kept = [r for r in map(_json_or_none, before) if r is not None and r["step"] <= resumed[0]]
    assert rows[:len(kept)] == kept  # lines up to the checkpoint survive the kill unchanged
    assert sorted(p.name.split("_seed")[0] for p in runs.glob("*.json")) == ["intermodulation@1", "plain"]
    report = json.loads((tmp_path / "out" / "train_regularized.json").read_text())
    assert [r["condition"] for r in report["table"]] == ["plain", "intermodulation@1"] * 2
    assert (tmp_path / "out" / "train_regularized.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "train_regularized_table.csv").read_text().count("\n") == 5  # header, 2 runs x 2 layers


def test_script_options_are_the_config_fields():
    cfg = sj.experiments.parse("train_regularized", ["--quick", "--tags", "3", "4", "--frames", "24", "--fps", "24",
                                                     "--seeds", "0", "1", "--weights", "1", "5", "--n-tagged", "2"])
    assert cfg.stimulus == TAGS and cfg.seeds == (0, 1) and cfg.weights == (1.0, 5.0) and cfg.width == 4
    assert cfg.reg_layers == LAYERS and [c[0] for c in cfg.conditions()][:3] == ["plain", "tag_locking@1",
                                                                                  "tag_locking@5"]
    # Where results go and how they are keyed: the cache folder and the benchmark switch do not change a run.
    assert cfg.key() == dataclasses.replace(cfg, cache_dir="/elsewhere", benchmark=True).key() != \
        dataclasses.replace(cfg, seeds=(0,)).key()


@pytest.mark.slow  # compiles four training steps
def test_script_benchmark_writes_its_own_file(tmp_path, capsys):
    from ssvepjax.experiments import train_regularized as E

    out = tmp_path / "bench"
    result = sj.experiments.main("train_regularized", ["--quick", "--benchmark", "--terms", "purity", "--width", "2",
                                                       "--bench-repeats", "2", "--no-progress", "--out", str(out)])
    stored = json.loads((out / "benchmark.json").read_text())
    assert not (out / "train_regularized.json").exists()  # the benchmark never replaces the experiment's result
    assert set(stored["median_step_s"]) == {"plain", "purity (n_tagged=2)", "intermodulation (n_tagged=1)",
                                            "intermodulation (n_tagged=8)"}
    assert stored["ratio_to_plain"]["plain"] == 1.0 and all(len(t) == 2 for t in stored["all_s"].values())
    assert stored["provenance"]["config"]["benchmark"] is True and result["repeats"] == 2
    assert "purity (n_tagged=2)" in capsys.readouterr().out and "x1.00" in E.report(result)
