"""The explanations experiment end to end at its CI size (``--quick``), through its script."""

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ssvepjax.experiments.explanations import Config

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "explanations.py"


def load_script():
    spec = importlib.util.spec_from_file_location("explanations_experiment", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_run_writes_tables_and_figures(tmp_path):
    mod = load_script()
    out = tmp_path / "run"
    args = ["--quick", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    report = mod.main(args)
    saved = json.loads((out / "explanations.json").read_text())
    assert saved["layer"] == report["layer"] == "stage3_block0/conv2"
    cfg = Config.ci()
    assert len(saved["per_seed"]) == len(cfg.seeds) >= 2
    rows = {(r["method"], r["selector"], r["k"]): r for r in saved["table"]}
    for method in ("gradcam", "gradcam++", "layercam", "eigencam"):
        assert (method, "all", 16) in rows
        for sel in ("tag:fundamental", "tag:harmonic", "tag:intermodulation", "tag:combined",
                    "tag-image:combined", "random", "l1", "activation", "activation-image"):
            for k in cfg.ks:
                r = rows[(method, sel, k)]
                assert 0 <= r["energy_in_box"] <= 1 and 0 <= r["localisation"] <= 1
                assert 0.2 - 1e-6 <= r["concentration"] <= 1  # the top 20% of pixels hold at least 20% of the energy
        c = 16  # the layer's filters: k = c selects every filter, whatever the selector, so it is the "all" map
        assert c in cfg.ks
        for sel in ("tag:combined", "tag-image:combined", "random", "l1", "activation-image"):
            for metric in ("energy_in_box", "concentration", "localisation"):
                assert rows[(method, sel, c)][metric] == pytest.approx(rows[(method, "all", c)][metric],
                                                                      abs=1e-6), (method, sel, metric)
        assert 0 <= rows[(method, "tag:combined", cfg.di_ks[0])]["deletion"] <= 1
    vs = [v for v in saved["versus_random"] if v["selector"] == "tag:combined" and v["metric"] == "energy_in_box"]
    assert vs and all(len(v["per_seed"]) == len(cfg.seeds) for v in vs)
    # every comparison with random carries the verdict rule's fields, Holm-corrected within its family
    assert {v["verdict"] for v in saved["versus_random"]} <= {"beats", "loses", "matches", "inconclusive"}
    assert all(v["n"] == len(cfg.seeds) and v["p_adjusted"] >= v["p"] and v["alpha"] == cfg.alpha
               and v["margin"] == cfg.margin for v in saved["versus_random"])
    rule = saved["verdict_rule"]
    assert rule["correction"] == "holm" and rule["n_seeds"] == 2 and len(rule["families"]) == 4 * 6
    assert sum(saved["verdict_tally"].values()) == len(saved["versus_random"])
    with open(out / "explanations_table.csv") as f:
        assert len(list(csv.DictReader(f))) == len(saved["table"])
    for name in ("explanations_metrics.png", "explanations_examples.png"):
        assert (out / name).stat().st_size > 20_000
    # a second call resumes from the per-seed files instead of recomputing
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "steps").glob("seed*.json")}
    assert len(stamps) == len(cfg.seeds)
    again = mod.main(args)
    assert again["table"] == saved["table"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "steps").glob("seed*.json")} == stamps
    # another verdict rule re-summarises the stored seeds
    stricter = mod.main([*args, "--alpha", "0.01"])
    assert stricter["table"] == saved["table"] and stricter["verdict_rule"]["alpha"] == 0.01
    assert {p.name: p.stat().st_mtime_ns for p in (out / "steps").glob("seed*.json")} == stamps
