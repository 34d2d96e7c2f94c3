"""Tests for ssvepjax.analysis.maps (per-position maps of a layer whose units are [h, w, c])."""

import types

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.analysis import maps as M

DESIGN = sj.Design(significance="z")  # one synthetic "image": the z rule needs no per-image moments


def _layer() -> sj.LayerResult:
    """A 1 x 2 x 2 layer: position 0 holds a unit at f1 only and the product f1 * f2; position 1 a silent unit
    and a unit at f1 only."""
    g = np.asarray(sj.gains(DESIGN.tags.freqs_hz, fps=DESIGN.tags.fps, n_frames=DESIGN.tags.n_frames), np.float64)
    lin, prod, silent = 2.0 * g[:, 0], g[:, 0] * g[:, 1], 0.0 * g[:, 0]
    _, amp = sj.amplitude_spectrum(np.stack([lin, prod, silent, lin], 1).astype(np.float32), DESIGN.tags.fps)
    return sj.measure({"layer": np.asarray(amp).reshape(-1, 1, 2, 2)}, DESIGN)["layer"]


def test_significance_map_and_column_profile_analytic():
    res = _layer()
    np.testing.assert_allclose(M.significance_map(res, DESIGN, "f1"), [[1.0, 0.5]])
    np.testing.assert_allclose(M.significance_map(res, DESIGN, "f1+f2"), [[0.5, 0.0]])
    np.testing.assert_allclose(M.column_profile(res, DESIGN, "f1"), [1.0, 0.5])
    # Any intermodulation: the product responds at f1 +- f2 (and higher orders), the linear and silent units do not.
    np.testing.assert_allclose(M.significance_map(res, DESIGN, "any_intermodulation"), [[0.5, 0.0]])
    flat = types.SimpleNamespace(name="flat", unit_shape=(4,))
    with pytest.raises(ValueError, match="positions, c"):  # one unit axis: no position to map
        M.significance_map(flat, DESIGN, "f1")


def test_token_maps_take_any_position_axes():
    # The same four units as [tokens, channels] = [2, 2]: one value per token.
    res = _layer()
    g = np.asarray(sj.gains(DESIGN.tags.freqs_hz, fps=DESIGN.tags.fps, n_frames=DESIGN.tags.n_frames), np.float64)
    lin, prod, silent = 2.0 * g[:, 0], g[:, 0] * g[:, 1], 0.0 * g[:, 0]
    _, amp = sj.amplitude_spectrum(np.stack([lin, prod, silent, lin], 1).astype(np.float32), DESIGN.tags.fps)
    tokens = sj.measure({"tokens": np.asarray(amp).reshape(-1, 2, 2)}, DESIGN)["tokens"]
    np.testing.assert_allclose(M.significance_map(tokens, DESIGN, "f1"), M.significance_map(res, DESIGN, "f1")[0])
    classes = np.array([0, 1])
    by = sj.rf_class_summary(tokens, DESIGN, classes, ["first", "second"])
    assert by["first"]["positions"] == 1 and by["first"]["f1+f2"] == 0.5 and by["second"]["f1+f2"] == 0.0


def test_snr_map_median_over_defined_channels():
    snr = np.array([[[[10.0, np.nan, 1000.0],  # median of the defined two: 505 -> log10
                      [np.nan, np.nan, np.nan],  # no channel defined: NaN
                      [np.inf, np.inf, 1.0],  # infinite SNR clips to 3
                      [0.01, 0.001, 0.1]]]])  # [m=1, h=1, w=4, c=3]; below 0.1 clips to -1
    out = M.snr_map(types.SimpleNamespace(neuron={"snr": snr}), 0)
    np.testing.assert_allclose(out[0, [0, 2, 3]], [np.log10(505.0), 3.0, -1.0])
    assert np.isnan(out[0, 1])
    assert sj.snr_map is M.snr_map and sj.significance_map is M.significance_map
