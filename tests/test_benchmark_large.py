"""Tests for the large-model benchmark (``ssvepjax.experiments.benchmark_large``, ``experiments/benchmark_large.py``):
the memory guard, bad settings, and the --quick run end to end."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ssvepjax import experiments
from ssvepjax.experiments import benchmark_large as bench

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "benchmark_large.py"


def test_memory_guard_kills_a_child_past_the_limit():
    # 50 MB: the child passes it while importing JAX; it must be stopped and reported, not crash the run.
    cfg = bench.Config(cases=("resnet_tiny:32",), repeats=1, memory_limit_gb=0.05, timeout_s=60.0)
    r = bench.measure(["memory", "resnet_tiny", "32", "forward_period"], cfg)
    assert r["status"] == "killed", r
    assert "resident memory" in r["reason"] and r["peak_rss_seen_gb"] > 0.05


@pytest.mark.parametrize("args,match", [(["--cases", "resnet51:224"], "model:side"),
                                        (["--cases", "resnet50"], "model:side"),
                                        (["--kinds", "probe", "nope"], "subset"),
                                        (["--repeats", "0"], ">= 1")])
def test_bad_settings_are_refused_before_any_work(args, match):
    with pytest.raises(ValueError, match=match):
        experiments.parse("benchmark_large", args)


def test_the_result_goes_where_json_says():
    assert bench.Config().out == "runs/benchmark_large" and bench.Config.ci().out == "runs/benchmark_large_quick"
    assert bench.Config(json="/tmp/a/b.json").out == "/tmp/a"
    cfg = experiments.parse("benchmark_large", ["--quick", "--cases", "resnet_tiny:64", "--json", "x/b.json"])
    assert cfg.case_list == [("resnet_tiny", 64)] and cfg.repeats == 2 and cfg.json == "x/b.json"


@pytest.mark.slow
def test_quick_benchmark_runs_and_writes_results(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MPLBACKEND="Agg")
    # One tiny model through the contenders of two ratio pairs and the best-forward ratio (each kind's memory is
    # measured in a process of its own, so every kind costs a JAX start): the script runs, writes its files and
    # computes its ratios. Every contender's function is tested in test_large_probing / test_streaming, a ViT in
    # test_models_large.
    kinds = ("forward_period", "forward_period_vmap", "probe", "probe_filter")
    assert set(kinds) <= set(bench.KINDS)
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--cases", "resnet_tiny:64", "--kinds", *kinds,
                           "--json", str(out), "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert len(res["rows"]) == len(kinds)  # every kind
    assert {r["kind"] for r in res["rows"]} == set(kinds)
    for row in res["rows"]:
        assert row["status"] == "ok", row
        assert row["min_s"] <= row["median_s"] <= row["max_s"] and row["peak_rss_gb"] > 0
        assert row["frames"] == 80  # one stimulus period of 6 and 7.5 Hz at 120 frames/s
    assert [r["model"] for r in res["ratios"]] == ["resnet_tiny"]
    for r in res["ratios"]:  # time and memory against the forward pass of the same frames
        assert r["probe_filter/forward_period"]["min"] > 0 and r["peak_rss"]["probe_filter/forward_period"] > 0
    for r in res["ratios"]:
        # Recomputed from the stored per-round times: round i's probe time over round i's forward time.
        times = {row["kind"]: np.asarray(row["times_s"]) for row in res["rows"] if row["model"] == r["model"]}
        assert len({len(t) for t in times.values()}) == 1  # interleaved rounds: one time per kind and round
        plain = times["probe"] / times["forward_period"]
        best = times["probe"] / np.minimum(times["forward_period"], times["forward_period_vmap"])
        for name, want in (("probe/forward_period", plain), ("probe/forward_period_best", best)):
            got = r[name]
            assert got["median"] == pytest.approx(np.median(want)), name
            assert (got["min"], got["max"]) == pytest.approx((want.min(), want.max())), name
    with open(out.with_suffix(".csv")) as f:
        assert len(list(csv.DictReader(f))) == len(kinds)
    assert (tmp_path / "benchmark_large.png").stat().st_size > 10_000
