"""The attribution experiment: its helpers, and the --quick script end to end."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ssvepjax.explain import attribution_experiment as E

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))


def test_informative_quadrant():
    boxes = np.array([[0, 0, 4, 4], [2, 5, 7, 8], [4, 4, 8, 8], [1, 1, 7, 3]])
    q, share = E.informative_quadrant(boxes, 8)
    np.testing.assert_array_equal(q, [0, 3, 3, 0])  # the last box splits evenly: the first quadrant wins
    np.testing.assert_allclose(share, [1.0, 9 / 15, 1.0, 0.5])


def test_paired_verdict_needs_a_significant_test():
    assert E._paired([0.9, 0.8, 0.85], [0.5, 0.45, 0.52])["verdict"] == "better"
    row = E._paired([0.9, 0.4, 0.7], [0.5, 0.6, 0.65])
    assert row["verdict"] == "inconclusive" and row["n_seeds"] == 3
    np.testing.assert_allclose(row["diff_per_seed"], [0.4, -0.2, 0.05])


@pytest.mark.slow
def test_attribution_quick_runs_and_resumes(tmp_path):
    import attribution

    summary = attribution.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "results" / "attribution.json").exists()
    for name in ("attribution.png", "attribution_two_part.png", "attribution_canvas.png"):
        assert (tmp_path / "figures" / name).exists()
    assert set(summary["tasks"]) == set(E.TASKS)
    for task, t in summary["tasks"].items():
        assert t["n_seeds"] == 2 and t["n_parts"] == (2 if task == "two_part" else 4)
        for row in t["methods"].values():
            assert 0 <= row["top_part_accuracy"]["mean"] <= 1
        assert t["methods"]["tag"]["forward_passes"]["mean"] == (80 if task == "two_part" else 120)
        assert t["methods"]["shapley"]["forward_passes"]["mean"] == 2 ** t["n_parts"]
        assert set(t["tag_minus_method_top_part_accuracy"]) == {
            f"{v}-{m}" for v in ("tag", "tag_full_contrast")
            for m in ("occlusion", "shapley", "integrated_gradients", "gradient_x_input")}
    assert set(summary["pruning"]["accuracy"]) == {"tag_decision", "taylor", "random"}
    runs = tmp_path / "results" / "attribution_runs_quick"
    stamps = {p.name: p.stat().st_mtime for p in runs.glob("*.json")}
    again = attribution.main(["--quick", "--out", str(tmp_path)])
    assert {p.name: p.stat().st_mtime for p in runs.glob("*.json")} == stamps
    assert json.dumps(again["tasks"], sort_keys=True) == json.dumps(summary["tasks"], sort_keys=True)
