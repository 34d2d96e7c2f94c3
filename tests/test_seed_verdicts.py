"""Tests for ssvepjax.experiments.seed_verdicts: the verdict settings of an experiment and its families."""

import pytest

from ssvepjax.experiments import seed_verdicts as SV
from ssvepjax.stats import verdict_table


def test_each_condition_is_a_family_with_its_direction():
    cfg = SV.VerdictConfig(seeds=(0, 1, 2, 3), margin=0.01)
    up = ({0: 0.6, 1: 0.71, 2: 0.8, 3: 0.92}, {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.8})
    flat = ({0: 0.5, 1: 0.62, 2: 0.7, 3: 0.79}, {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.8})
    families = {"accuracy": {"a": up, "b": flat}, "error": {"c": up}}
    verdicts, rules = SV.condition_verdicts(families, cfg, higher_is_better={"error": False})
    assert verdicts["a"]["verdict"] == "beats" and verdicts["c"]["verdict"] == "loses"  # an error that went up
    want = verdict_table({k: ([a[s] for s in cfg.seeds], [b[s] for s in cfg.seeds]) for k, (a, b) in
                          families["accuracy"].items()}, margin=0.01)["comparisons"]
    assert verdicts["a"] == want["a"] and verdicts["b"] == want["b"]  # Holm within "accuracy" alone
    assert verdicts["c"]["p_adjusted"] == verdicts["c"]["p"] and rules["error"]["comparisons"] == 1
    same, _ = SV.condition_verdicts(families, cfg, higher_is_better=False)
    assert same["a"]["verdict"] == "loses"
    settings = SV.verdict_settings(cfg, rules, values="accuracy", higher_is_better="all but the error",
                                   family="one per quantity")
    assert settings["higher_is_better"] == "all but the error" and settings["family"] == "one per quantity"
    assert SV.verdict_settings(cfg, rules, values="x")["higher_is_better"] is True


def test_settings_are_checked_and_left_out_of_the_pieces_key():
    assert SV.VerdictConfig().piece_key() == SV.VerdictConfig(alpha=0.01, margin=0.1, correction="none").piece_key()
    assert SV.VerdictConfig().key() != SV.VerdictConfig(alpha=0.01).key()
    for bad, match in [((0.0, 0.01, "holm"), "alpha"), ((0.05, 0.0, "holm"), "margin"),
                       ((0.05, 0.01, "bonferroni"), "correction")]:
        with pytest.raises(ValueError, match=match):
            SV.check_rule(*bad)
    with pytest.raises(ValueError, match="two seeds"):
        SV.VerdictConfig(seeds=(0,))
