import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))


@pytest.mark.slow
def test_pruning_curves_quick_runs_and_resumes(tmp_path):
    import pruning_curves

    out = tmp_path / "curves"
    summary = pruning_curves.main(["--quick", "--out", str(out), "--no-progress"])
    for name in ("results.json", "results.csv", "verdicts.csv", "pruning_curves.png"):
        assert (out / name).exists()
    table = summary["table"]
    methods = {r["method"] for r in table}
    assert len(methods) == 9 and {r["condition"] for r in table} == {"oneshot", "recal", "finetuned"}
    for r in table:
        assert 0 <= r["accuracy_mean"] <= 1 and 0 < r["flops_removed"] < 1
    # Budgets are per layer: every method removes the same filters at a fraction.
    assert len({round(r["filters_removed"], 6) for r in table if r["fraction"] == 0.5}) == 1
    assert summary["verdicts"] and summary["ours_at_anchors"]
    stamps = {p.name: p.stat().st_mtime for p in (out / "records").glob("*.json")}
    again = pruning_curves.main(["--quick", "--out", str(out), "--no-progress"])
    assert {p.name: p.stat().st_mtime for p in (out / "records").glob("*.json")} == stamps  # resumed, nothing redone
    assert again["table"] == table
    rec = json.loads((out / "records" / "s0_tag_harmonic_f0.50.json").read_text())
    # The physically smaller network classifies exactly like the masked one: every test image gets the same class.
    assert rec["physical_agrees"] == 1.0 and rec["recal_physical"] == rec["recal"]


@pytest.mark.slow
def test_pruning_ground_truth_quick_runs(tmp_path):
    import pruning_ground_truth

    out = tmp_path / "gt"
    summary = pruning_ground_truth.main(["--quick", "--out", str(out), "--no-progress"])
    for name in ("results.json", "results.csv", "ground_truth.png", "interpretability.png"):
        assert (out / name).exists()
    head = {r["condition"]: r for r in summary["headline"]}
    assert set(head) == {"oneshot", "recal"}
    for g in ("informative", "uninformative", "integrating", "random"):
        assert 0 <= head["recal"][f"{g}_mean"] <= 1
