"""The verdicts of an experiment whose comparisons are paired over seeds: its settings and its families.

An experiment that says "beats", "loses" or "matches" builds its configuration on :class:`VerdictConfig` (the level,
the equivalence margin and the correction are fields, so the command line sets them and the stored result states
them) and gets its words from :func:`condition_verdicts`: ``stats.verdict_table`` (the project's one verdict rule)
once per condition, each condition one family of the correction (each with its direction: an error or an AUC of
deletion is better lower). :func:`verdict_settings` is what the result states about them. The verdict settings are
the configuration's ``RULE`` fields: stored pieces keyed by ``piece_key()`` serve every rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ssvepjax.experiments.framework import ExperimentConfig
from ssvepjax.stats.verdicts import verdict_table

__all__ = ["VerdictConfig", "check_rule", "condition_verdicts", "verdict_settings"]


@dataclasses.dataclass(frozen=True)
class VerdictConfig(ExperimentConfig):
    """Settings of the verdicts of an experiment paired over seeds (``stats.verdicts``).

    Attributes:
        seeds: the seeds the comparisons are paired over (at least two).
        alpha: level of the tests.
        margin: equivalence margin of "matches", in the compared values' units (0.005: half a point of accuracy).
        correction: ``"holm"`` (family-wise rate <= alpha within each condition) or ``"none"``.
    """

    RULE = ("alpha", "margin", "correction")

    seeds: tuple[int, ...] = (0, 1, 2)
    alpha: float = 0.05
    margin: float = 0.005
    correction: str = "holm"

    def __post_init__(self):
        if len(self.seeds) < 2:
            raise ValueError(f"seeds must name at least two seeds (the verdicts are paired over seeds), got "
                             f"{self.seeds}")
        check_rule(self.alpha, self.margin, self.correction)


def check_rule(alpha: float, margin: float, correction: str) -> None:
    """``ValueError`` naming the setting unless ``alpha`` is in (0, 1), ``margin`` > 0 and ``correction`` is
    ``"holm"`` or ``"none"`` (the verdict settings of any experiment, paired over seeds or over images)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0 (the equivalence margin of 'matches'), got {margin!r}")
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none', got {correction!r}")


def condition_verdicts(families: Mapping[str, Mapping], config: VerdictConfig, *,
                       higher_is_better: bool | Mapping[str, bool] = True) -> tuple[dict, dict]:
    """Verdicts of comparisons paired over seeds, one ``stats.verdict_table`` family per condition.

    Args:
        families: ``{condition: {comparison: ({seed: value}, {seed: reference value})}}``; a comparison is paired
            over the seeds both sides hold, and left out (no verdict) with fewer than two.
        config: the level, margin and correction.
        higher_is_better: for every condition, or ``{condition: bool}`` (a missing condition: True).

    Returns:
        ``({comparison: stats.paired_verdict's fields}, {condition: {"rule", "tally", "comparisons"}})``.
    """
    verdicts, rules = {}, {}
    for cond, comparisons in families.items():
        pairs = {}
        for name, (a, b) in comparisons.items():
            seeds = sorted(set(a) & set(b))
            if len(seeds) >= 2:
                pairs[name] = ([a[s] for s in seeds], [b[s] for s in seeds])
        if pairs:
            better = higher_is_better if isinstance(higher_is_better, bool) else higher_is_better.get(cond, True)
            table = verdict_table(pairs, alpha=config.alpha, margin=config.margin, correction=config.correction,
                                  higher_is_better=better)
            verdicts.update(table["comparisons"])
            rules[cond] = {"rule": table["rule"], "tally": table["tally"], "comparisons": len(pairs)}
    return verdicts, rules


def verdict_settings(config: VerdictConfig, families: dict, *, values: str, higher_is_better: bool | str = True,
                     family: str = "one per condition: every comparison made in that condition") -> dict:
    """What a result states about its verdicts: level, correction and families, margin, seeds, what is compared
    (``higher_is_better``: a bool, or in words where it depends on the condition)."""
    return {"alpha": config.alpha, "correction": config.correction, "margin": config.margin,
            "n_seeds": len(config.seeds), "values": values, "higher_is_better": higher_is_better,
            "family": family, "families": families}
