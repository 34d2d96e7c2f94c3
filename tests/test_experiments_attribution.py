"""The attribution experiment (``ssvepjax.experiments.attribution``): its helpers, and the --quick script end to
end."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from ssvepjax.experiments import attribution as E

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "attribution.py"


def test_informative_quadrant():
    boxes = np.array([[0, 0, 4, 4], [2, 5, 7, 8], [4, 4, 8, 8], [1, 1, 7, 3]])
    q, share = E.informative_quadrant(boxes, 8)
    np.testing.assert_array_equal(q, [0, 3, 3, 0])  # the last box splits evenly: the first quadrant wins
    np.testing.assert_allclose(share, [1.0, 9 / 15, 1.0, 0.5])


def test_paired_verdict_needs_a_significant_test():
    rows = E.seed_comparisons({"clear": ([0.9, 0.8, 0.85], [0.5, 0.45, 0.52]),
                               "mixed": ([0.9, 0.4, 0.7], [0.5, 0.6, 0.65])})
    assert rows["clear"]["verdict"] == "beats"
    row = rows["mixed"]
    assert row["verdict"] == "inconclusive" and row["n_seeds"] == 3
    np.testing.assert_allclose(row["diff_per_seed"], [0.4, -0.2, 0.05])
    # one family: Holm doubles the smaller p of two comparisons
    alone = E.seed_comparisons({"clear": ([0.9, 0.8, 0.85], [0.5, 0.45, 0.52])})["clear"]
    assert rows["clear"]["p_adjusted"] == pytest.approx(min(1.0, 2 * alone["p"]))
    assert rows["clear"]["p"] == pytest.approx(alone["p"]) and rows["clear"]["family_size"] == 2
    # equal accuracies on every seed match within a margin, and nothing matches without one
    same = ([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert E.seed_comparisons({"same": same}, margin=0.02)["same"]["verdict"] == "matches"
    assert E.seed_comparisons({"same": same})["same"]["verdict"] == "inconclusive"


def test_config_checks_its_settings():
    assert E.Config.ci().seeds == (0, 1) and E.Config.ci().model.width == 4
    key = E.Config().piece_key()
    assert key == E.Config(alpha=0.01, margin=None).piece_key() != E.Config(seeds=(0,)).piece_key()
    with pytest.raises(ValueError, match="tasks"):
        E.Config(tasks=("three_part",))
    with pytest.raises(ValueError, match="alpha"):
        E.Config(alpha=1.5)


def script():
    spec = importlib.util.spec_from_file_location("attribution_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_attribution_quick_runs_and_resumes(tmp_path):
    attribution = script()
    summary = attribution.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    assert (tmp_path / "attribution.json").exists()
    for name in ("attribution.png", "attribution_two_part.png", "attribution_canvas.png"):
        assert (tmp_path / name).exists()
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
        for row in t["tag_minus_method_top_part_accuracy"].values():
            assert row["verdict"] in ("beats", "loses", "matches", "inconclusive") and row["family_size"] == 8
    assert set(summary["pruning"]["accuracy"]) == {"tag_decision", "taylor", "random"}
    assert summary["verdicts"]["alpha"] == 0.05 and summary["verdicts"]["correction"] == "holm"
    assert "commit" in summary["provenance"]
    runs = tmp_path / "steps"
    stamps = {p.name: p.stat().st_mtime for p in runs.glob("*.json")}
    assert len(stamps) == 4  # two tasks, two seeds
    again = attribution.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    assert {p.name: p.stat().st_mtime for p in runs.glob("*.json")} == stamps
    assert json.dumps(again["tasks"], sort_keys=True) == json.dumps(summary["tasks"], sort_keys=True)
