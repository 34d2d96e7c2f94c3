"""Tests for ssvepjax.analysis.summaries (per-layer summaries) and report.tables."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.analysis import summaries as S
from ssvepjax.report.tables import markdown_table

DESIGN = sj.Design()
T, FPS = DESIGN.tags.n_frames, DESIGN.tags.fps


def _gains():
    return np.asarray(sj.gains(DESIGN.tags.freqs_hz, fps=FPS, n_frames=T), np.float64)


def _layer(series: np.ndarray, name="layer") -> sj.LayerResult:
    """Measures of a synthetic layer: ``series`` is ``[T, units]``."""
    _, amp = sj.amplitude_spectrum(series.astype(np.float32), FPS)
    return sj.measure({name: amp}, DESIGN)[name]


def test_harmonic_bins_skip_shared():
    hb = S.harmonic_bins(DESIGN)
    assert [n for n, _ in hb[0]][:4] == [1, 2, 3, 4]
    assert 5 not in [n for n, _ in hb[0]]  # 5 f1 = 30 Hz = 4 f2
    assert 4 not in [n for n, _ in hb[1]]
    assert dict(hb[0])[1] == 12 and dict(hb[1])[1] == 15


def test_layer_summary_analytic():
    g = _gains()
    lin = 2.0 * g[:, 0]  # f1 only: amplitude 2 * 0.25 = 0.5
    rect = np.maximum(g[:, 0] - 0.75, 0)  # half-wave rectified: harmonics of f1
    prod = g[:, 0] * g[:, 1]  # f1, f2, f1 - f2, f1 + f2
    s = S.layer_summary(_layer(np.stack([lin, rect, prod], 1)), DESIGN)
    assert s["f1"] == pytest.approx(1.0)
    assert s["f2"] == pytest.approx(1 / 3)
    assert s["harmonic_order"][1] == pytest.approx((1.0 + 1 / 3) / 2)
    assert s["harmonic_order_by_tag"]["f1"][2] == pytest.approx(1 / 3)  # only the rectified unit
    assert s["per_component"]["f1+f2"] == pytest.approx(1 / 3)
    # A pure sinusoid on an empty spectrum: BCA = its amplitude, the only significant harmonic.
    res = _layer(lin[:, None])
    assert S.layer_summary(res, DESIGN)["summed_bca"]["f1"] == pytest.approx(0.5, rel=1e-5)
    assert S.layer_summary(res, DESIGN)["snr"]["f1"]["infinite_fraction"] == 1.0


def test_summed_bca_matches_numpy_reference():
    g = _gains()
    x = np.maximum(g[:, 0] - 0.7, 0) + 0.3 * np.maximum(g[:, 1] - 0.8, 0) ** 2
    res = _layer(np.stack([x, 0.5 * x + g[:, 1]], 1))
    s = S.layer_summary(res, DESIGN)
    cb = list(DESIGN.bins()[0])
    thr = DESIGN.noise.z_threshold
    for p, tag in enumerate(("f1", "f2")):
        rows = [cb.index(b) for _, b in S.harmonic_bins(DESIGN)[p]]
        ref = []
        for u in range(2):
            total, misses = 0.0, 0
            for r in rows:
                z, b = res.neuron["z"][r, u], res.neuron["bca"][r, u]
                if np.nan_to_num(z, nan=-np.inf) > thr:
                    total, misses = total + b, 0
                else:
                    misses += 1
                    if misses == 2:
                        break
            ref.append(total)
        assert s["summed_bca"][tag] == pytest.approx(np.mean(ref), rel=1e-5)


def test_amplitude_ratios():
    g = _gains()
    two_f1 = 0.1 * np.cos(2 * np.pi * 12.0 * np.arange(T) / FPS)  # 12 Hz = 2 f1, amplitude 0.1
    res = _layer(np.stack([g[:, 0] + two_f1, g[:, 0] * g[:, 1]], 1))
    r = S.amplitude_ratios(res, DESIGN)
    assert r["2f1/f1"]["units"] == 2
    assert r["2f1/f1"]["median"] == pytest.approx((0.1 / 0.25 + 0.0) / 2, rel=1e-3)  # g1 g2 has no 2f1
    # g1 g2 = (0.75 + 0.25 s1)(0.75 + 0.25 s2): A(f1) = A(f2) = 0.1875, A(f1 + f2) = 0.25**2 / 2.
    assert r["f1+f2/sqrt(f1*f2)"]["units"] == 1  # the first unit has no f2
    assert r["f1+f2/sqrt(f1*f2)"]["median"] == pytest.approx(0.03125 / 0.1875, rel=1e-3)


def test_component_row_unknown_label():
    assert DESIGN.bins()[1][S.component_row(DESIGN, "f1+f2")] == "f1+f2"
    with pytest.raises(ValueError, match="unknown component label"):
        S.component_row(DESIGN, "3f1+7f2")


def test_markdown_table():
    md = markdown_table({"a": {"x": 0.5, "y": {"z": float("inf")}}, "b": {"x": None}},
                        [("X", "x"), ("Z", "y.z")])
    lines = md.splitlines()
    assert lines[0] == "| layer | X | Z |"
    assert lines[2] == "| a | 0.50 | inf |"
    assert lines[3] == "| b | - | - |"


