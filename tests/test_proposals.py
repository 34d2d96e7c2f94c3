"""Tests for ssvepjax.tagging.proposals: collisions and the shortest collision-free tag design."""

import numpy as np
import pytest

from ssvepjax.tagging import proposals as design
from ssvepjax.tagging.frequency_components import components


def _component_frequency(c, tags):
    return sum(k * f for k, f in zip(c.coefficients, tags, strict=True))


def _check_design(d, tags, max_order, max_harmonic, min_separation):
    """The properties that make a design valid, checked from components() itself."""
    comps = components(tags, fps=d.fps, n_frames=d.n_frames, max_order=max_order, max_harmonic=max_harmonic)
    assert d.n_components == len(comps)
    by_bin = {}
    for c in comps:
        by_bin.setdefault(c.bin, []).append(c)
    # Components that share a bin have exactly equal frequencies, and are reported as unavoidable.
    shared = {b for b, cs in by_bin.items() if len(cs) > 1}
    assert {u.bin for u in d.unavoidable} == shared
    for b in shared:
        freqs = {round(_component_frequency(c, tags), 9) for c in by_bin[b]}
        assert len(freqs) == 1
    bins = sorted(by_bin)
    assert min(np.diff(bins)) >= min_separation
    assert d.min_gap_bins == min(np.diff(bins))
    assert d.resolution_hz == pytest.approx(d.fps / d.n_frames)
    return comps


def _qualifies(tags, fps, t, max_order, max_harmonic, min_separation):
    try:
        comps = components(tags, fps=fps, n_frames=t, max_order=max_order, max_harmonic=max_harmonic)
    except ValueError:  # a tag off-bin
        return False
    return min(np.diff(sorted({c.bin for c in comps}))) >= min_separation


def test_collisions_of_the_paper_design():
    found = design.collisions((6.0, 7.5), fps=120.0, n_frames=240)
    at_30 = [c for c in found if c.frequency_hz == 30.0]
    assert len(at_30) == 1
    assert at_30[0].bin == 60
    assert set(at_30[0].labels) == {"5f1", "4f2"}
    assert found == [design.Collision(60, 30.0, ("4f2", "5f1"))]


def test_collisions_agree_with_components():
    tags = (7.0, 11.0, 13.0)
    found = design.collisions(tags, max_order=3)
    comps = components(tags, max_order=3)
    assert [c.bin for c in found] == sorted({c.bin for c in comps if c.shared})
    assert len(found) > 0
    for col in found:
        on_bin = [c for c in comps if c.bin == col.bin]
        assert set(col.labels) == {c.label for c in on_bin}
        assert col.frequency_hz == pytest.approx(on_bin[0].frequency_hz)


def test_no_collisions_without_high_harmonics():
    assert design.collisions((6.0, 7.5), max_harmonic=4) == []


def test_collisions_refuse_off_bin_tags():
    with pytest.raises(ValueError, match="off-bin"):
        design.collisions((6.1, 7.5))


@pytest.mark.parametrize("min_separation, n_frames", [(1, 80), (2, 160), (3, 240), (12, 960)])
def test_propose_design_paper_tags(min_separation, n_frames):
    tags = (6.0, 7.5)
    d = design.propose_design(tags, min_separation=min_separation)
    assert (d.fps, d.n_frames) == (120.0, n_frames)
    _check_design(d, tags, 4, 4, min_separation)
    assert d.unavoidable == () and d.above_nyquist == ()
    # It is the shortest: no fewer frames qualifies.
    assert not any(_qualifies(tags, 120.0, t, 4, 4, min_separation) for t in range(2, n_frames))


def test_propose_design_reports_exact_coincidences_as_unavoidable():
    tags = (6.0, 7.5)
    d = design.propose_design(tags, max_harmonic=8)
    _check_design(d, tags, 4, 8, 2)
    assert [(u.frequency_hz, set(u.labels)) for u in d.unavoidable] == [(30.0, {"5f1", "4f2"})]
    # The same design as without the coincident harmonics: frames cannot remove them, so none are spent.
    assert d.n_frames == design.propose_design(tags).n_frames


def test_propose_design_three_tags():
    tags = (7.0, 11.0, 13.0)
    d = design.propose_design(tags, max_order=3)
    _check_design(d, tags, 3, 3, 2)
    assert len(d.unavoidable) > 0  # e.g. 2f2 - f1 = 2f3 - f2 = 15 Hz
    assert not any(_qualifies(tags, d.fps, t, 3, 3, 2) for t in range(2, d.n_frames))


def test_propose_design_over_frame_rates():
    tags = (6.0, 7.5)
    d = design.propose_design(tags, fps_options=(120.0, 60.0))
    # Resolution in Hz sets the duration; fewer frames per second, fewer frames.
    assert (d.fps, d.n_frames) == (60.0, 80)
    assert d.duration_s == pytest.approx(80 / 60)
    assert d.above_nyquist == ("4f2",)  # 30 Hz is Nyquist at 60 fps
    _check_design(d, tags, 4, 4, 2)
    # A rate that cannot hold the tags is skipped.
    assert design.propose_design(tags, fps_options=(12.0, 120.0)).fps == 120.0


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((6.0, 6.01), {}, "cannot be made collision-free within limits"),
        ((6.0, 7.5), {"max_frames": 159}, "cannot be made collision-free within limits"),
        ((6.0, 70.0), {}, "Nyquist"),
        ((6.0, 7.5), {"fps_options": (10.0, 14.0)}, "Nyquist"),
        ((), {}, "freqs_hz must be a non-empty"),
        (6.0, {}, "freqs_hz must be a non-empty"),
        ((6.0, 6.0), {}, "distinct"),
        ((6.0, -7.5), {}, "freqs_hz"),
        ((6.0, float("nan")), {}, "freqs_hz"),
        ((6.0, 7.5), {"min_separation": 0}, "min_separation"),
        ((6.0, 7.5), {"max_order": 0}, "max_order"),
        ((6.0, 7.5), {"max_harmonic": 0}, "max_harmonic"),
        ((6.0, 7.5), {"max_frames": 1}, "max_frames"),
        ((6.0, 7.5), {"fps": 0.0}, "fps"),
        ((6.0, 7.5), {"fps_options": ()}, "fps_options"),
        ((6.0, 7.5), {"fps_options": (120.0, -60.0)}, "fps_options"),
    ],
)
def test_propose_design_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        design.propose_design(args, **kwargs)
