"""Tests for ssvepjax.stats.verdicts: paired verdicts against SciPy, TOST, Holm, bad input."""

import numpy as np
import pytest
from scipy import stats as sps

from ssvepjax.stats import verdicts as V


def test_paired_t_matches_scipy_and_the_interval_holds_the_mean():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 7), rng.normal(0.0, 1.0, 7)
    r = V.paired_verdict(a, b)
    ref = sps.ttest_rel(a, b)
    assert r["p"] == pytest.approx(ref.pvalue, rel=1e-10) and r["t"] == pytest.approx(ref.statistic, rel=1e-10)
    d = a - b
    half = sps.t.ppf(0.975, 6) * d.std(ddof=1) / np.sqrt(7)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
    assert r["n"] == 7 and r["mean_diff"] == pytest.approx(d.mean())


def test_verdict_words_follow_the_tests():
    base = np.array([0.5, 0.6, 0.7, 0.55, 0.65])
    up = base + np.array([0.10, 0.11, 0.09, 0.10, 0.12])
    assert V.paired_verdict(up, base)["verdict"] == "beats"
    assert V.paired_verdict(base, up)["verdict"] == "loses"
    assert V.paired_verdict(up, base, higher_is_better=False)["verdict"] == "loses"  # an error that went up
    # Three seeds sharing a sign is not enough: -0.101 +- 0.187 is inconclusive, not "matches" or "loses".
    d = np.array([-0.3, 0.05, -0.055])
    r = V.paired_verdict(base[:3] + d, base[:3])
    assert np.all(d[[0, 2]] < 0) and r["verdict"] == "inconclusive"
    # Equivalence needs a margin and a tight interval.
    close = base + np.array([0.001, -0.002, 0.0015, -0.001, 0.0005])
    assert V.paired_verdict(close, base)["verdict"] == "inconclusive"
    r = V.paired_verdict(close, base, margin=0.01)
    assert r["verdict"] == "matches" and r["p_equivalence"] < 0.05
    assert V.paired_verdict(close, base, margin=0.0001)["verdict"] == "inconclusive"


def test_tost_is_the_larger_one_sided_p():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.02, 0.05, 10), np.zeros(10)
    r = V.paired_verdict(a, b, margin=0.1)
    d, n = a - b, 10
    se = d.std(ddof=1) / np.sqrt(n)
    p_low = sps.ttest_1samp(d, -0.1, alternative="greater").pvalue
    p_high = sps.ttest_1samp(d, 0.1, alternative="less").pvalue
    assert r["p_equivalence"] == pytest.approx(max(p_low, p_high), rel=1e-9) and se > 0


def test_holm_matches_a_hand_computed_case():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, 1*0.04 -> 0.02, 0.03, 0.06, 0.06 (monotone)
    np.testing.assert_allclose(V.holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(V.holm([0.01, 0.9]), [0.02, 0.9])
    np.testing.assert_allclose(V.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1, and monotone


def test_a_family_is_corrected():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.05, 4)
    pairs = {"big": (base + 0.2 + rng.normal(0, 0.01, 4), base), "small": (base + 0.02 + rng.normal(0, 0.02, 4), base)}
    raw = {k: V.paired_verdict(*v) for k, v in pairs.items()}
    table = V.verdict_table(pairs)
    assert table["comparisons"]["big"]["verdict"] == "beats"
    adj = V.holm([raw["big"]["p"], raw["small"]["p"]])
    assert table["comparisons"]["small"]["p_adjusted"] == pytest.approx(adj[1])
    assert "Holm" in table["rule"] and sum(table["tally"].values()) == 2
    assert "uncorrected" in V.verdict_table(pairs, correction="none")["rule"]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="paired 1-D"):
        V.paired_verdict([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        V.paired_verdict([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="at least 2"):
        V.paired_verdict([1], [2])
    with pytest.raises(ValueError, match="margin"):
        V.paired_verdict([1, 2], [2, 3], margin=0)
    with pytest.raises(ValueError, match="correction"):
        V.verdict_table({}, correction="bonferroni")
    # No spread (every difference equal, as discrete accuracies often are): the exact sign test, 2 / 2**n.
    r = V.paired_verdict([2, 3], [1, 2])
    assert r["p"] == 0.5 and r["verdict"] == "inconclusive"  # two pairs of one sign: chance half the time
    six = V.paired_verdict(np.arange(6) + 0.01, np.arange(6.0))
    assert six["p"] == pytest.approx(2 / 64) and six["verdict"] == "beats"
    assert V.paired_verdict([2, 3], [2, 3])["verdict"] == "inconclusive" and V.paired_verdict([2, 3], [2, 3])["p"] == 1
    assert V.paired_verdict(np.arange(6.0), np.arange(6.0), margin=0.01)["verdict"] == "matches"  # 6 exact ties
