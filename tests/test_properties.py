"""Property-based tests of the public API's boundary (issue 24).

For random designs, masks, images, chunk sizes and frame blocks the library either returns what the NumPy
reference of ``tests/conftest.py`` returns, or raises a ``ValueError`` whose message names the argument that
was wrong: never another exception, and never NaN in a result that claims to be defined. A tiny per-frame
function stands in for a network so that the examples stay cheap (each new design compiles once).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, numpy_spectra
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ssvepjax as sj

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


def fn(frame):
    """A tiny nonlinear per-frame function ``[H, W, C] -> {name: [H, W]}`` (products make intermodulation)."""
    m = frame.mean(-1)
    return {"tanh": jnp.tanh(2.0 * m - 0.5), "square": jnp.square(frame[..., 0]) - m}


# The floor of the reference (1e-4 of a series' AC amplitude) may zero a coefficient the transform keeps.
def assert_spectra(got, want):
    assert set(got) == set(want)
    for k in want:
        assert np.isfinite(np.asarray(got[k])).all(), k
        assert_close(got[k], want[k], rtol=1e-4, atol=2e-4)


NOISE = sj.NoiseConfig(n_neighbors=1, skip=0, exclude="none")  # spectra need no noise window: the smallest one


@st.composite
def designs(draw):
    """Valid tag settings: 1-4 tags on distinct bins below Nyquist of a T-frame recording."""
    n_frames = draw(st.integers(8, 48))
    fps = float(draw(st.sampled_from([n_frames, 2 * n_frames, 30, 40, 60])))
    top = (n_frames - 1) // 2  # bins 1 .. top are strictly below Nyquist
    n_tags = draw(st.integers(1, min(4, top)))
    bins = draw(st.lists(st.integers(1, top), min_size=n_tags, max_size=n_tags, unique=True))
    return sj.TagConfig(tuple(b * fps / n_frames for b in bins), fps=fps, n_frames=n_frames)


@st.composite
def partitions(draw, n_tags, h, w):
    """Disjoint, non-empty boolean masks ``[P, H, W]`` (some pixels may belong to no part)."""
    labels = np.asarray(draw(st.lists(st.integers(-1, n_tags - 1), min_size=h * w, max_size=h * w))).reshape(h, w)
    for p in range(n_tags):  # every part gets a pixel of its own
        labels.flat[p] = p
    return np.stack([labels == p for p in range(n_tags)])


ODD = st.sampled_from([float("nan"), float("inf"), -1.0, 0.0])


@given(st.lists(st.one_of(st.floats(-5, 80), st.integers(1, 20).map(float), ODD), min_size=1, max_size=4),
       st.one_of(st.floats(-10, 200), st.sampled_from([0.0, 40.0, float("nan"), float("inf")])),
       st.one_of(st.integers(-3, 200), st.sampled_from([2.5, 0])))
@SETTINGS
def test_tag_settings_are_valid_or_refused_by_name(freqs, fps, n_frames):
    try:
        tags = sj.TagConfig(tuple(freqs), fps=fps, n_frames=n_frames)
    except ValueError as e:
        assert any(name in str(e) for name in ("freqs_hz", "fps", "n_frames")), str(e)
        return
    bins = np.asarray(tags.freqs_hz) * tags.n_frames / tags.fps
    assert np.allclose(bins, np.round(bins)) and (bins > 0).all() and (bins < tags.n_frames / 2).all()
    assert len(set(np.round(bins))) == len(bins)


@given(st.data())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
def test_probe_equals_the_numpy_reference(data):
    tags = data.draw(designs())
    h, w = data.draw(st.integers(max(2, tags.n_tags), 5)), data.draw(st.integers(2, 5))
    masks = data.draw(partitions(tags.n_tags, h, w))
    n, c = data.draw(st.integers(1, 3)), data.draw(st.sampled_from([1, 3]))
    images = np.random.default_rng(data.draw(st.integers(0, 9))).random((n, h, w, c)).astype(np.float32)
    one_period = data.draw(st.booleans())
    frames = tags.period_frames if one_period else tags.n_frames
    frame_block = data.draw(st.one_of(st.none(), st.integers(1, frames)))
    chunk = data.draw(st.integers(0, 4))
    try:
        got = sj.probe_dataset(fn, images, masks, sj.Design(tags, NOISE), chunk_size=chunk, one_period=one_period,
                               frame_block=frame_block, progress=False)
    except ValueError as e:
        assert (chunk == 0 and "chunk_size" in str(e)) or (
            frame_block is not None and frames % frame_block and "frame_block" in str(e)), str(e)
        return
    assert chunk > 0 and (frame_block is None or frames % frame_block == 0)
    assert_spectra(got, numpy_spectra(fn, images, masks, tags))


TAGS = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
H = W = 4


@pytest.fixture(scope="module")
def reference():
    images = np.random.default_rng(1).random((2, H, W, 3))
    return images, numpy_spectra(fn, images.astype(np.float32), sj.halves(H, W), TAGS)


def _bad_images(images, kind):
    x = images.copy()
    if kind == "rank":
        return x[0]
    if kind == "rank5":
        return x[None]
    if kind == "above":
        x[0, 0, 0, 0] = 1.5
    elif kind == "below":
        x[1, 1, 1, 1] = -0.25
    elif kind == "nan":
        x[0, 1, 2, 0] = np.nan
    elif kind == "inf":
        x[1, 0, 0, 2] = np.inf
    elif kind == "float16":
        return x.astype(np.float16)
    elif kind == "float64":
        return x.astype(np.float64)
    elif kind == "int":
        return (x * 255).astype(np.uint8)
    elif kind == "one":
        return x[:1].astype(np.float32)
    return x.astype(np.float32)


def _bad_masks(kind):
    m = np.asarray(sj.halves(H, W))
    if kind == "overlap":
        m = m.copy()
        m[1, :, 0] = True
    elif kind == "empty":
        m = m.copy()
        m[1] = False
    elif kind == "shape":
        m = np.asarray(sj.halves(H, W + 2))
    elif kind == "rank":
        m = m[0]
    elif kind == "three":
        m = np.asarray(sj.stripes(3, H, W))
    elif kind == "nonbinary":
        m = m * 0.5
    return m


@given(st.sampled_from(["ok", "rank", "rank5", "above", "below", "nan", "inf", "float16", "float64", "int", "one"]),
       st.sampled_from(["ok", "overlap", "empty", "shape", "rank", "three", "nonbinary"]))
@SETTINGS
def test_bad_images_and_masks_are_refused_by_name(reference, image_kind, mask_kind):
    images, want = reference
    x, m = _bad_images(images, image_kind), _bad_masks(mask_kind)
    try:
        got = sj.probe_dataset(fn, x, m, TAGS, chunk_size=2, progress=False)
    except ValueError as e:
        named = [name for name, kind in (("images", image_kind), ("masks", mask_kind)) if kind != "ok"]
        assert any(name in str(e) for name in named), (image_kind, mask_kind, str(e))
        return
    assert mask_kind == "ok", f"masks {mask_kind!r} were accepted"
    assert image_kind in ("ok", "float16", "float64", "one"), f"images {image_kind!r} were accepted"
    expect = want if image_kind != "one" else numpy_spectra(fn, images[:1].astype(np.float32), sj.halves(H, W), TAGS)
    if image_kind == "float16":  # float16 pixels round the images themselves: compare with the rounded images
        expect = numpy_spectra(fn, x.astype(np.float32), sj.halves(H, W), TAGS)
    assert_spectra(got, expect)
