import jax
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj


def test_halves_shape_and_split():
    m = sj.halves(4, 6)
    assert m.shape == (2, 4, 6) and m.dtype == bool
    assert m[0, :, :3].all() and not m[0, :, 3:].any()
    assert (m[0] ^ m[1]).all()


def test_tag_frames_matches_numpy_formula(rng):
    img = rng.uniform(size=(5, 6, 3)).astype(np.float32)
    masks = sj.halves(5, 6)
    frames = sj.tag_frames(img, masks, (6.0, 7.5), min_gain=0.4, phase=0.3)
    i = np.arange(240)[:, None, None, None]
    g = [1 - 0.6 * (1 - np.sin(2 * np.pi * f * i / 120 + 0.3)) / 2 for f in (6.0, 7.5)]
    expected = img[None] * np.where(masks[0][None, :, :, None], g[0], g[1])
    assert frames.shape == (240, 5, 6, 3)
    assert_close(frames, expected)


def test_default_gain_is_075_plus_025_sin():
    g = np.asarray(sj.gains((6.0,)))
    assert_close(g[:, 0], 0.75 + 0.25 * np.sin(2 * np.pi * 6 * np.arange(240) / 120))
    assert g.min() >= 0.5 - 1e-6 and g.max() <= 1 + 1e-6


def test_pixels_outside_masks_unchanged(rng):
    img = rng.uniform(size=(4, 4, 1)).astype(np.float32)
    masks = np.zeros((1, 4, 4), bool)
    masks[0, :2, :2] = True
    frames = np.asarray(sj.tag_frames(img, masks, (6.0,)))
    assert_close(frames[:, 2:, :, :], np.broadcast_to(img[2:], (240, 2, 4, 1)))
    assert not np.allclose(frames[:, :2, :2], img[None, :2, :2])


def test_tag_batch_equals_loop(rng):
    imgs = rng.uniform(size=(3, 4, 4, 2)).astype(np.float32)
    out = sj.tag_batch(imgs, sj.halves(4, 4))
    for n in range(3):
        assert_close(out[n], sj.tag_frames(imgs[n], sj.halves(4, 4), (6.0, 7.5)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tags=(6.1, 7.5)), "off-bin"),
        (dict(tags=(60.0, 7.5)), "Nyquist"),
        (dict(tags=(6.0, 75.0)), "Nyquist"),
        (dict(tags=(6.0,)), "2 parts but freqs_hz has 1"),
        (dict(tags=(6.0, 6.0)), "distinct"),
        (dict(tags=(6.0, 7.5), min_gain=1.2), "min_gain"),
        (dict(tags=(6.0, 7.5), n_frames=0), "n_frames"),
        (dict(tags=(6.0, 7.5), fps=-1.0), "fps"),
    ],
)
def test_bad_tags(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sj.tag_frames(np.ones((4, 4, 1), np.float32), sj.halves(4, 4), **kwargs)


def test_off_bin_message_suggests_frame_count():
    with pytest.raises(ValueError, match="frame count like 200 that puts every tag"):
        sj.tag_frames(np.ones((4, 4, 1)), sj.halves(4, 4), (6.0, 7.2), n_frames=240)


@pytest.mark.parametrize(
    "image, masks, match",
    [
        (np.ones((4, 4)), sj.halves(4, 4), "rank 3"),
        (np.full((4, 4, 1), 1.5), sj.halves(4, 4), r"\[0, 1\]"),
        (np.full((4, 4, 1), np.nan), sj.halves(4, 4), "NaN"),
        (np.ones((4, 4, 1)), sj.halves(4, 5), "spatial shape"),
        (np.ones((4, 4, 1)), np.ones((2, 4, 4), bool), "overlap"),
        (np.ones((4, 4, 1)), np.stack([np.ones((4, 4), bool), np.zeros((4, 4), bool)]), "empty"),
        (np.ones((4, 4, 1)), np.ones((4, 4), bool), r"\[P, H, W\]"),
        (np.ones((4, 4, 1)), np.full((2, 4, 4), 0.5), "boolean"),
    ],
)
def test_bad_images_and_masks(image, masks, match):
    with pytest.raises(ValueError, match=match):
        sj.tag_frames(image, masks, (6.0, 7.5))


def test_tag_frames_is_jittable_in_image(rng):
    img = rng.uniform(size=(4, 4, 1)).astype(np.float32)
    f = jax.jit(lambda x: sj.tag_frames(x, sj.halves(4, 4), (6.0, 7.5)))
    assert_close(f(img), sj.tag_frames(img, sj.halves(4, 4), (6.0, 7.5)))


@pytest.mark.parametrize(("freqs", "fps", "n_frames", "repeats"), [
    ((6.0, 7.5), 120.0, 240, 3),  # bins 12 and 15: one period is 80 frames
    ((4.0, 5.0), 40.0, 40, 1),  # bins 4 and 5: no shorter period
    ((4.0, 6.0), 40.0, 40, 2),
    ((6.0,), 120.0, 240, 12),  # one tag: its own period, 20 frames
    ((3.0, 4.5), 90.0, 60, 1),  # bins 2 and 3
    ((4.0, 6.0), 45.0, 45, 1),  # bins 4 and 6 share 2, which does not divide 45 frames
])
def test_stimulus_period_and_repeats(freqs, fps, n_frames, repeats):
    tags = sj.TagConfig(freqs, fps=fps, n_frames=n_frames)
    assert tags.repeats == repeats and tags.period_frames * repeats == n_frames
    one, every = np.asarray(tags.gains(one_period=True)), np.asarray(tags.gains())
    assert one.shape == (tags.period_frames, len(freqs))
    # The whole sequence is the first period repeated, and no shorter prefix repeats.
    np.testing.assert_allclose(np.tile(one, (repeats, 1)), every, atol=1e-6)
    for p in range(1, tags.period_frames):
        if n_frames % p == 0:
            assert not np.allclose(np.tile(every[:p], (n_frames // p, 1)), every, atol=1e-4)
