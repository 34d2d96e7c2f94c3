"""Tests for ssvepjax.analysis.summaries (per-layer summaries) and report.tables."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.analysis import summaries as S
from ssvepjax.report.tables import markdown_table

DESIGN = sj.Design(significance="z")  # synthetic spectra of one "image": the z rule needs no per-image moments
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
    # A pure sinusoid on an empty spectrum: BCA = its amplitude; the grand average responds at f1 only.
    res = _layer(lin[:, None])
    assert S.layer_summary(res, DESIGN)["summed_bca"]["f1"] == pytest.approx(0.5, rel=1e-5)
    assert S.layer_summary(res, DESIGN)["snr"]["f1"]["infinite_fraction"] == 1.0


def test_summed_bca_matches_numpy_reference():
    # The harmonic range is fixed on the grand average (the layer's mean spectrum) and applied to every unit.
    g = _gains()
    x = np.maximum(g[:, 0] - 0.7, 0) + 0.3 * np.maximum(g[:, 1] - 0.8, 0) ** 2
    res = _layer(np.stack([x, 0.5 * x + g[:, 1]], 1))
    s = S.layer_summary(res, DESIGN)
    cb = list(DESIGN.bins()[0])
    thr = DESIGN.noise.z_threshold
    for p, tag in enumerate(("f1", "f2")):
        rows = [cb.index(b) for _, b in S.harmonic_bins(DESIGN)[p]]
        grand = [np.nan_to_num(res.layer["z"][r], nan=-np.inf) > thr for r in rows]
        n = next((i for i in range(len(grand) - 1) if not grand[i] and not grand[i + 1]), None)
        n = n if n is not None else (len(grand) if grand[-1] else len(grand) - 1)
        assert s["harmonic_range"][tag] == n
        ref = np.mean([np.nan_to_num(res.neuron["bca"][rows[:n], u]).sum() for u in range(2)])
        assert s["summed_bca"][tag] == pytest.approx(ref, rel=1e-5)
        ref_amp = np.mean([res.neuron["amplitude"][rows[:n], u].sum() for u in range(2)])
        assert s["summed_amplitude"][tag] == pytest.approx(ref_amp, rel=1e-5)


def test_harmonic_range_and_per_unit_sums():
    assert sj.harmonic_range([True, True, False, True, False, False, True]) == 4
    assert sj.harmonic_range([False, False, True]) == 0
    assert sj.harmonic_range([True, False, True, False]) == 3  # a trailing miss ends the range
    assert sj.harmonic_range([True, True]) == 2
    v = np.array([[1.0, 2.0, 4.0, 8.0], [1.0, 1.0, 1.0, 1.0]])
    assert_sums = np.asarray(sj.harmonic_sum(v, [True, False, True, False]))
    np.testing.assert_allclose(assert_sums, [7.0, 3.0])  # the range (3) from the grand average, for every unit
    per_unit = np.asarray(sj.harmonic_sum(v, np.array([[True, False, False, True], [True, True, False, True]]),
                                          per_unit=True))
    np.testing.assert_allclose(per_unit, [1.0, 3.0])  # per unit, only its own significant harmonics count
    with pytest.raises(ValueError, match="grand-average"):
        sj.harmonic_sum(v, np.ones((2, 4), bool))


def test_amplitude_rule_summary_uses_the_test():
    g = _gains()
    lin, prod = 2.0 * g[:, 0], g[:, 0] * g[:, 1]
    _, amp = sj.amplitude_spectrum(np.stack([lin, prod], 1).astype(np.float32), FPS)
    design = sj.Design()
    cb, labels, _ = design.bins()
    rel = np.asarray(sj.unit_effects(amp, design)["relative"])  # [m, 2]
    # Four "images" with the same relative amplitudes: sd 0, so every component above the limit is rejected.
    moments = {"layer": sj.amplitude_moments(np.repeat(np.nan_to_num(rel)[None], 4, 0))}
    res = sj.measure({"layer": amp}, design, moments)["layer"]
    s = S.layer_summary(res, design)
    assert "amplitude test" in s["rule"]
    assert s["f1"] == 1.0 and s["f2"] == 0.5  # the linear unit has no f2
    assert s["per_component"]["f1+f2"] == 0.5 and s["mean_harmonic"] == 0.0
    assert s["false_positive_rate"] == 0.0
    e = s["effects"]
    assert e["relative"]["f1"] == pytest.approx(np.median([1.0, 0.1875 / 0.26882]), rel=1e-3)
    assert e["share"]["fundamental"] == pytest.approx((1.0 + 0.973) / 2, rel=1e-3)
    with pytest.raises(ValueError, match="per-image moments"):
        S.layer_summary(sj.measure({"layer": amp}, design)["layer"], design)


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




def test_undefined_z_is_not_counted_as_no():
    # Issue 24: at T = 160 the z rule has no noise estimate at f1 (fewer than 10 noise bins fit beside it once
    # the components are excluded): z is NaN, and the old summary reported "0.0 of units respond" there.
    design = sj.Design(sj.TagConfig(n_frames=160), significance="z")
    g = np.asarray(sj.gains(design.tags.freqs_hz, fps=design.tags.fps, n_frames=160), np.float64)
    series = np.stack([g[:, 0] * g[:, 1], 2.0 * g[:, 0], 0.0 * g[:, 0]], 1)  # f1*f2, f1 only, silent
    _, amp = sj.amplitude_spectrum(series.astype(np.float32), design.tags.fps)
    res = sj.measure({"layer": amp}, design)["layer"]
    row = S.component_row(design, "f1")
    z = np.asarray(res.neuron["z"])[row]
    assert np.isnan(z[:2]).all()  # the premise: f1's z is undefined for the two responding units
    s = S.layer_summary(res, design)
    assert np.isnan(s["f1"]) and np.isnan(s["z_rule"]["f1"]) and np.isnan(s["per_component"]["f1"])
    assert s["defined"]["f1"] == 0 and s["z_rule"]["defined"]["f1"] == 0
    assert np.isnan(s["f2"]) and np.isnan(s["per_component"]["f2-f1"])  # the f1, f2 and f2-f1
    assert np.isnan(s["harmonic_order"][1])  # no fundamental is defined: no mean over them
    # A component whose z is defined still counts every unit, the silent one (0 / 0) as "no".
    assert s["z_rule"]["any_intermodulation"] == pytest.approx(1 / 3)  # over the IM components z can test
    assert s["defined"]["f1+f2"] == 3 and s["per_component"]["f1+f2"] == pytest.approx(1 / 3)
    # At T = 240 every unit is defined at f1, the silent one too, and the fraction is that of the old code.
    ok = S.layer_summary(_layer(np.stack([2.0 * _gains()[:, 0], 0.0 * _gains()[:, 0]], 1)), DESIGN)
    assert ok["f1"] == 0.5 and ok["defined"]["f1"] == 2


def test_decisions_one_zero_undefined():
    # 1 where a unit responds, 0 where it does not, NaN where the rule cannot decide (T = 160: f1 has no noise
    # estimate); the maps and the receptive-field summaries count these.
    design = sj.Design(sj.TagConfig(n_frames=160), significance="z")
    g = np.asarray(sj.gains(design.tags.freqs_hz, fps=design.tags.fps, n_frames=160), np.float64)
    _, amp = sj.amplitude_spectrum(np.stack([g[:, 0] * g[:, 1], 2.0 * g[:, 0], 0.0 * g[:, 0]], 1)
                                   .astype(np.float32), design.tags.fps)
    res = sj.measure({"layer": amp}, design)["layer"]
    d = S.decisions(res, design)
    assert d.shape == (len(design.bins()[0]), 3)
    np.testing.assert_array_equal(d[S.component_row(design, "f1+f2")], [1.0, 0.0, 0.0])
    assert np.isnan(d[S.component_row(design, "f1"), :2]).all()
    expected = np.where(S.defined_units(res, design), S.responding(res, design), np.nan)
    np.testing.assert_array_equal(d, expected)

