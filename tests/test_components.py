import pytest

import ssvepjax as sj


def _by_label(comps):
    return {c.label: c for c in comps}


def test_default_design_components():
    comps = sj.components((6.0, 7.5))
    lab = _by_label(comps)
    assert lab["f1"].bin == 12 and lab["f1"].kind == "fundamental" and lab["f1"].order == 1
    assert lab["f2"].bin == 15
    assert lab["f1+f2"].frequency_hz == 13.5 and lab["f1+f2"].kind == "intermodulation" and lab["f1+f2"].order == 2
    assert lab["f2-f1"].frequency_hz == 1.5
    assert lab["2f1-f2"].frequency_hz == 4.5 and lab["2f1-f2"].order == 3
    assert lab["3f2"].kind == "harmonic" and lab["3f2"].order == 3
    # harmonics go up to Nyquist, whatever max_order
    assert lab["9f1"].frequency_hz == 54.0 and "10f1" not in lab
    assert lab["7f2"].frequency_hz == 52.5
    assert all(0 < c.frequency_hz < 60 for c in comps)
    assert max(c.order for c in comps if c.kind == "intermodulation") == 4
    # 16 harmonics/fundamentals + 2 + 4 + 6 intermodulation components of order 2, 3, 4
    assert len(comps) == 28


def test_shared_bin_is_labelled_with_both():
    lab = _by_label(sj.components((6.0, 7.5)))
    assert lab["5f1"].shared and lab["4f2"].shared
    assert set(lab["5f1"].labels) == {"5f1", "4f2"}
    assert not lab["f1"].shared
    pure = sj.unique_bins(sj.components((6.0, 7.5)), "harmonic", include_shared=False)
    assert 60 not in pure and 24 in pure


def test_max_order_limits_intermodulation():
    comps = sj.components((6.0, 7.5), max_order=2)
    im = [c.label for c in comps if c.kind == "intermodulation"]
    assert sorted(im) == ["f1+f2", "f2-f1"]


def test_three_tags():
    comps = sj.components((6.0, 7.5, 10.0), max_order=3)
    assert any(c.coefficients == (1, 1, 1) for c in comps)


def test_noise_bins_are_off_lattice():
    comps = sj.components((6.0, 7.5))
    nb = sj.noise_bins(comps, 240)
    assert len(nb) > 0 and all(b % 3 for b in nb)
    assert sj.lattice_step(comps) == 3
    on = sj.noise_bins(comps, 240, lattice="on")
    assert all(b % 3 == 0 for b in on) and not set(on) & {c.bin for c in comps}


@pytest.mark.parametrize("kwargs, match", [
    (dict(freqs_hz=(6.2,)), "off-bin"), (dict(freqs_hz=(61.0,)), "Nyquist"),
    (dict(freqs_hz=(6.0,), max_order=0), "max_order"), (dict(freqs_hz=()), "non-empty"),
])
def test_bad_component_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sj.components(**kwargs)
