"""Model normalisation after tagging: ``linen_fn(..., preprocess=...)`` and ``imagenet_normalize``."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax import models
from ssvepjax.tagging import halves


def test_normalize_numpy_reference():
    x = np.random.default_rng(0).uniform(size=(4, 5, 3)).astype(np.float32)
    want = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(np.asarray(sj.imagenet_normalize(x)), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(models.normalize([0.5], [2.0])(x[..., :1])), (x[..., :1] - 0.5) / 2,
                               rtol=1e-6)


@pytest.mark.parametrize("mean,std", [([0.5, 0.5], [1.0]), ([0.5], [0.0]), ([], []), ([np.nan], [1.0])])
def test_normalize_rejects_bad_statistics(mean, std):
    with pytest.raises(ValueError, match="mean|std"):
        models.normalize(mean, std)


def test_normalize_rejects_wrong_channels():
    with pytest.raises(ValueError, match="3 channels"):
        sj.imagenet_normalize(np.zeros((4, 4, 1), np.float32))


def test_preprocess_runs_after_tagging():
    """Probing tagged [0, 1] frames with preprocess= equals probing frames normalised by hand, and differs
    from probing them raw (so the normalisation is really applied)."""
    model = models.ImageNetResNet(stage_sizes=(1,), width=4, num_classes=3)
    variables = models.random_variables(model, np.zeros((1, 16, 16, 3), np.float32), train=False)
    image = np.random.default_rng(1).uniform(size=(16, 16, 3)).astype(np.float32)
    frames = sj.tag_frames(image, halves(16, 16), [7.5, 15.0], fps=60, n_frames=8)
    assert float(frames.min()) >= 0 and float(frames.max()) <= 1
    names = ["stem/pre", "stage1_block0/conv3/post"]
    fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False, include=names,
                     preprocess=sj.imagenet_normalize)
    got = sj.probe(fn, frames)
    plain = sj.linen_fn(model, variables, capture_intermediates=False, train=False, include=names)
    want = sj.probe(plain, sj.imagenet_normalize(frames))
    raw = sj.probe(plain, frames)
    for n in names:
        np.testing.assert_allclose(np.asarray(got[n]), np.asarray(want[n]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(np.asarray(got["stem/pre"]), np.asarray(raw["stem/pre"]), atol=1e-3)
    with pytest.raises(ValueError, match="preprocess"):
        sj.linen_fn(model, variables, preprocess="imagenet")
