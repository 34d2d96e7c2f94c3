"""Filter selection: top-k / top-fraction masks of scores, bad input."""

import numpy as np
import pytest

from ssvepjax.explain import selection as S


def test_top_k_and_fraction():
    s = np.array([0.5, 2.0, np.nan, 2.0, 1.0])
    assert list(S.top_k(s, 2)) == [False, True, False, True, False]
    assert list(S.top_k(s, 3)) == [False, True, False, True, True]
    assert list(S.top_k(s, 5)) == [True] * 5  # NaN ranks last but is kept when k = c
    per = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    assert S.top_k(per, 1).tolist() == [[True, False, False], [False, True, False]]
    d = S.top_k({"a": s, "b": per}, 2)
    assert d["a"].sum() == 2 and d["b"].shape == (2, 3) and (d["b"].sum(1) == 2).all()
    assert S.top_fraction(s, 0.4).sum() == 2
    assert S.top_fraction(s, 0.01).sum() == 1  # never empty
    assert S.top_fraction({"a": s}, 1.0)["a"].all()


def test_bad_input():
    s = np.arange(4.0)
    for k in (0, 5, 2.0, True):
        with pytest.raises(ValueError, match=r"k must be an integer in \[1, 4\]"):
            S.top_k(s, k)
    with pytest.raises(ValueError, match="layer 'a'"):
        S.top_k({"a": s}, 9)
    for f in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="fraction must lie"):
            S.top_fraction(s, f)
