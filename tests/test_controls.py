"""Tests for ssvepjax.analysis.controls (control conditions)."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.analysis import controls

DESIGN = sj.Design()


def test_control_conditions_build(tiny):
    model, variables, _ = tiny
    conds = controls.control_conditions(model, variables, (8, 8, 1), include=["stem/post"])
    assert list(conds) == list(controls.CONDITIONS)
    assert conds["one_part"].masks.shape[0] == 1 and conds["one_part"].tags.freqs_hz == (6.0,)
    assert conds["swapped"].tags.freqs_hz == (7.5, 6.0)
    with pytest.raises(ValueError, match="unknown conditions"):
        controls.control_conditions(model, variables, (8, 8, 1), conditions=["nope"])
    with pytest.raises(ValueError, match="at least 2 tags"):
        controls.control_conditions(model, variables, (8, 8, 1), sj.TagConfig((6.0,)), conditions=["swapped"])


def test_controls_behave(tiny):
    model, variables, images = tiny
    layers = ["stem/pre", "stage3_block0/conv2/post"]
    conds = controls.control_conditions(model, variables, (8, 8, 1), include=layers)
    res = {n: controls.run_condition(c, images, DESIGN) for n, c in conds.items()}
    one = sj.layer_summary(res["one_part"]["stage3_block0/conv2/post"], DESIGN)
    assert one["f2"] == 0 and one["mean_intermodulation"] == 0 and one["any_intermodulation"] == 0
    lin = sj.layer_summary(res["linear"]["stage3_block0/conv2/post"], DESIGN)
    # Float32 rounding can land on harmonic bins, but orders of magnitude below a real nonlinearity.
    assert lin["amplitude_ratio"]["2f1/f1"]["p99"] < 1e-3
    trained_pre = sj.layer_summary(res["trained"]["stem/pre"], DESIGN)
    assert trained_pre["any_intermodulation"] == 0  # conv + batch norm: affine
    follow = controls.part_following(controls.tag_significance(res["trained"], DESIGN),
                                     controls.tag_significance(res["swapped"], DESIGN))
    assert follow["stem/pre"]["follow_part_exclusive"] == 1.0
    assert follow["stem/pre"]["follow_frequency_exclusive"] == 0.0


def test_part_following_synthetic():
    ref = {"l": np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool)}
    sw = {"l": np.array([[0, 0, 1, 1], [1, 1, 0, 0]], bool)}  # frequencies moved with the swap
    out = controls.part_following(ref, sw)["l"]
    assert out["follow_part"] == 1.0 and out["follow_frequency"] == 0.0
    assert out["exclusive_units"] == [2, 2]


def test_run_condition_frame_mismatch(tiny):
    model, variables, images = tiny
    cond = controls.control_conditions(model, variables, (8, 8, 1), sj.TagConfig(n_frames=480),
                                       conditions=["trained"], include=["stem/post"])["trained"]
    with pytest.raises(ValueError, match="must match"):
        controls.run_condition(cond, images, DESIGN)


