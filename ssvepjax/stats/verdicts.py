"""The verdict rule of every comparison the project publishes: paired differences, a test with a stated error rate.

A comparison is a method's value against a reference's, paired by seed (or by image): ``d_i = a_i - b_i``. Its
verdict (:func:`paired_verdict`):

- ``"beats"`` / ``"loses"``: the two-sided paired t-test rejects ``mean(d) = 0`` at level ``alpha`` (after the Holm
  correction over a family of comparisons, :func:`verdict_table`), in the direction of the mean difference. The
  false-positive rate of the word is ``alpha`` per comparison without correction, and at most ``alpha`` for the
  whole family with it.
- ``"matches"``: two one-sided tests (TOST) reject ``|mean(d)| >= margin`` at level ``alpha``: the difference is
  shown to lie within the stated equivalence ``margin``. Without a margin, nothing "matches".
- ``"inconclusive"``: neither. With 3 seeds a t-test has 2 degrees of freedom and detects only large, consistent
  differences; a sign agreement over 3 seeds alone happens by chance 1 time in 4, so it is not a verdict.

When every paired difference is the same (no spread: common with accuracies on a few hundred images, which move in
steps), the t statistic is undefined; the exact sign test stands in: all ``n`` differences of one sign has
probability ``2 / 2**n`` under a null symmetric about 0 (0.5 at 2 pairs, 0.25 at 3, under 0.05 from 6 on), and
all differences 0 is no difference (p = 1); equivalence then rests on the two one-sided sign tests, ``1 / 2**n``
each (under 0.05 from 5 pairs on).

``higher_is_better=False`` (errors, losses) turns "beats" around. Every verdict carries the numbers it rests on:
``n``, the mean difference, its standard deviation, the ``1 - alpha`` confidence interval, ``t``, ``p``,
``p_equivalence``, and the rule in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as sps

__all__ = ["RULE", "holm", "paired_verdict", "verdict_table"]

#: The verdict rule in words, formatted with the unit, alpha, correction and margin of a table.
RULE = ("paired over {unit}: 'beats'/'loses' when the two-sided paired t-test gives p < {alpha} ({correction}); "
        "'matches' when two one-sided tests show |mean difference| < {margin} at level {alpha}; else 'inconclusive'")


def _check_pairs(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be paired 1-D samples of one length, got shapes {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("a and b must be finite (a NaN or infinite value cannot be paired)")
    return a, b


def paired_verdict(a: Sequence[float], b: Sequence[float], *, alpha: float = 0.05, margin: float | None = None,
                   higher_is_better: bool = True, p_adjusted: float | None = None) -> dict:
    """The verdict of method ``a`` against reference ``b``, paired element by element (module docstring).

    Args:
        a, b: ``[n]`` paired values (one per seed or image), ``n >= 2``.
        alpha: the level of the tests.
        margin: the equivalence margin of "matches" (in the values' units); None: "matches" is never said.
        higher_is_better: whether a larger value is better (accuracy) or worse (error).
        p_adjusted: the t-test's p after a correction over a family (:func:`verdict_table`); None: ``p``.

    Returns:
        ``{"n", "mean_diff", "sd_diff", "ci_low", "ci_high", "t", "p", "p_adjusted", "p_equivalence", "margin",
        "alpha", "verdict"}``; equal differences (zero spread) give ``t`` = +-inf (NaN if 0) and the sign test's p.
    """
    a, b = _check_pairs(a, b)
    d = a - b
    n = len(d)
    if n < 2:
        raise ValueError(f"a paired test needs at least 2 pairs, got {n}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if margin is not None and not margin > 0:
        raise ValueError(f"margin must be > 0 or None, got {margin!r}")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    # Equal differences up to float rounding (0.935 - 0.920 and 0.945 - 0.930 differ in the last bits) are no spread.
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), float(np.abs(d).max()), 1e-300)
    if sd <= 1e-9 * scale:
        sd = 0.0
    se = sd / np.sqrt(n)
    df = n - 1
    q = float(sps.t.ppf(1 - alpha / 2, df))
    if se > 0:
        t = mean / se
        p = float(2 * sps.t.sf(abs(t), df))
    else:  # no spread: the exact sign test (module docstring)
        t = float(np.sign(mean) * np.inf) if mean != 0 else float("nan")
        p = min(1.0, 2.0 * 0.5**n) if mean != 0 else 1.0
    p_eq = None
    if margin is not None:
        if se > 0:
            p_eq = float(max(sps.t.sf((mean + margin) / se, df), sps.t.cdf((mean - margin) / se, df)))
        else:  # every difference equal: each one-sided sign test has p = 1 / 2**n inside the margin
            p_eq = 0.5**n if abs(mean) < margin else 1.0
    p_used = p if p_adjusted is None else p_adjusted
    sign = mean if higher_is_better else -mean
    if p_used < alpha and sign > 0:
        verdict = "beats"
    elif p_used < alpha and sign < 0:
        verdict = "loses"
    elif p_eq is not None and p_eq < alpha:
        verdict = "matches"
    else:
        verdict = "inconclusive"
    return {"n": n, "mean_diff": mean, "sd_diff": sd, "ci_low": mean - q * se, "ci_high": mean + q * se, "t": t,
            "p": p, "p_adjusted": p_used, "p_equivalence": p_eq, "margin": margin, "alpha": alpha,
            "verdict": verdict}


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate control), in the input order."""
    p = np.asarray(p, np.float64)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)) or np.any(~np.isfinite(p)):
        raise ValueError("p must be a 1-D sequence of probabilities in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adj[i] = min(1.0, running)
    return adj


def verdict_table(pairs: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, alpha: float = 0.05,
                  margin: float | None = None, higher_is_better: bool = True, correction: str = "holm",
                  unit: str = "seeds") -> dict:
    """Verdicts of a family of comparisons ``{name: (a, b)}``, with the t-tests' p corrected over the family.

    Args:
        pairs: ``{comparison: (method values, reference values)}``.
        alpha, margin, higher_is_better: as :func:`paired_verdict`.
        correction: ``"holm"`` (family-wise rate <= alpha) or ``"none"`` (rate alpha per comparison).
        unit: what the pairs are (for the rule's text).

    Returns:
        ``{"rule": text, "comparisons": {name: paired_verdict(...)}, "tally": {verdict: count}}``.
    """
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none', got {correction!r}")
    raw = {k: paired_verdict(a, b, alpha=alpha, margin=margin, higher_is_better=higher_is_better)
           for k, (a, b) in pairs.items()}
    adjusted = holm([r["p"] for r in raw.values()]) if correction == "holm" and raw else [r["p"] for r in raw.values()]
    out = {k: paired_verdict(*pairs[k], alpha=alpha, margin=margin, higher_is_better=higher_is_better,
                             p_adjusted=float(pa)) for k, pa in zip(raw, adjusted)}
    tally: dict[str, int] = {}
    for r in out.values():
        tally[r["verdict"]] = tally.get(r["verdict"], 0) + 1
    text = RULE.format(unit=unit, alpha=alpha, margin="(no margin: never)" if margin is None else margin,
                       correction=(f"Holm-corrected over the {len(out)} comparisons: family-wise false-positive "
                                   f"rate <= {alpha}") if correction == "holm" else
                       f"uncorrected: false-positive rate {alpha} per comparison")
    return {"rule": text, "comparisons": out, "tally": tally}
