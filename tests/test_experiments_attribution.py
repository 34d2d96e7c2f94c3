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
    cfg = E.Config()

    def seeds(values):
        return dict(zip(cfg.seeds, values))

    pairs = {"clear": (seeds([0.9, 0.8, 0.85]), seeds([0.5, 0.45, 0.52])),
             "mixed": (seeds([0.9, 0.4, 0.7]), seeds([0.5, 0.6, 0.65]))}
    rows, rule = E.seed_comparisons(pairs, cfg, "task")
    assert rows["clear"]["verdict"] == "beats"
    row = rows["mixed"]
    assert row["verdict"] == "inconclusive" and row["n_seeds"] == 3
    np.testing.assert_allclose(row["diff_per_seed"], [0.4, -0.2, 0.05])
    # one family: Holm doubles the smaller p of two comparisons
    alone, _ = E.seed_comparisons({"clear": pairs["clear"]}, cfg, "task")
    assert rows["clear"]["p_adjusted"] == pytest.approx(min(1.0, 2 * alone["clear"]["p"]))
    assert rows["clear"]["p"] == pytest.approx(alone["clear"]["p"]) and rule["comparisons"] == 2
    assert rule["tally"] == {"beats": 1, "inconclusive": 1} and "Holm" in rule["rule"]
    # equal accuracies on five seeds match within the margin (the sign tests: 1 / 32 each); on three they do not
    five = E.Config(seeds=(0, 1, 2, 3, 4))
    same = {s: 0.5 + 0.1 * s for s in five.seeds}
    assert E.seed_comparisons({"same": (same, same)}, five, "t")[0]["same"]["verdict"] == "matches"
    assert E.seed_comparisons({"same": (seeds([0.5] * 3), seeds([0.5] * 3))}, cfg, "t")[0]["same"]["verdict"] == \
        "inconclusive"


def test_config_checks_its_settings():
    assert E.Config.ci().seeds == (0, 1) and E.Config.ci().model.width == 4
    key = E.Config().piece_key()  # the stored records serve every verdict rule
    assert key == E.Config(alpha=0.01, margin=0.1, correction="none").piece_key() != E.Config(seeds=(0, 1)).piece_key()
    with pytest.raises(ValueError, match="tasks"):
        E.Config(tasks=("three_part",))
    with pytest.raises(ValueError, match="alpha"):
        E.Config(alpha=1.5)
    with pytest.raises(ValueError, match="two seeds"):
        E.Config(seeds=(0,))


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
            assert row["verdict"] in ("beats", "loses", "matches", "inconclusive") and row["n"] == 2
    assert set(summary["pruning"]["accuracy"]) == {"tag_decision", "taylor", "random"}
    rule = summary["verdict_rule"]
    assert rule["alpha"] == 0.05 and rule["correction"] == "holm" and rule["margin"] == 0.02
    assert {k: v["comparisons"] for k, v in rule["families"].items()} == {"two_part": 8, "canvas": 8, "pruning": 2}
    assert "commit" in summary["provenance"]
    runs = tmp_path / "steps"
    stamps = {p.name: p.stat().st_mtime for p in runs.glob("*.json")}
    assert len(stamps) == 4  # two tasks, two seeds
    again = attribution.main(["--quick", "--out", str(tmp_path), "--no-progress"])
    assert {p.name: p.stat().st_mtime for p in runs.glob("*.json")} == stamps
    assert json.dumps(again["tasks"], sort_keys=True) == json.dumps(summary["tasks"], sort_keys=True)
