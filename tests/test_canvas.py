"""The boxed-digit task: boxes hold exactly the object's ink, clutter stays outside, seeds reproduce."""

import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax.data.canvas import CanvasConfig, boxed_digits, canvas_dataset, ink_box


@pytest.fixture(scope="module")
def digits():
    d = sj.load_dataset("mnist5k")
    return d.train_images[:40], d.train_labels[:40]


def test_box_is_the_objects_ink(digits):
    x, y = digits
    cfg = CanvasConfig(size=40, n_fragments=0)
    out = boxed_digits(x, y, cfg, seed=3)
    assert out.images.shape == (40, 40, 40, 1) and out.images.dtype == np.float32
    assert out.labels.tolist() == y.tolist()
    for i in range(len(x)):
        assert tuple(out.boxes[i]) == ink_box(out.images[i, ..., 0], cfg.ink_threshold)
        y0, x0, y1, x1 = out.boxes[i]
        local = ink_box(x[i, ..., 0], cfg.ink_threshold)
        assert (y1 - y0, x1 - x0) == (local[2] - local[0], local[3] - local[1])
        assert np.isclose(out.images[i].sum(), x[i].sum(), rtol=1e-5)  # the whole digit, nothing else


def test_clutter_stays_outside_the_margin(digits):
    x, y = digits
    cfg = CanvasConfig(size=56, n_fragments=5, margin=2)
    out = boxed_digits(x, y, cfg, seed=0)
    clutter = 0
    for i in range(len(x)):
        img = out.images[i, ..., 0]
        y0, x0, y1, x1 = out.boxes[i]
        ring = np.zeros(img.shape, bool)
        ring[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = True
        ring[y0:y1, x0:x1] = False
        assert (img[ring] <= cfg.ink_threshold).all()  # only the digit's faint edge, never a fragment's ink
        outside = np.ones(img.shape, bool)
        outside[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = False
        clutter += int((img[outside] > cfg.ink_threshold).sum())
    assert clutter > len(x) * cfg.min_fragment_ink  # fragments were placed


def test_seeds_reproduce_and_differ(digits):
    x, y = digits
    a = boxed_digits(x, y, seed=1)
    b = boxed_digits(x, y, seed=1)
    c = boxed_digits(x, y, seed=2)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.boxes, c.boxes)


def test_canvas_dataset():
    src = sj.load_dataset("mnist5k", max_train=30, max_test=10)
    cd = canvas_dataset(src, CanvasConfig(size=48), seed=4)
    d = cd.dataset
    assert isinstance(d, sj.Dataset) and d.image_shape == (48, 48, 1) and d.num_classes == src.num_classes
    assert cd.train_boxes.shape == (30, 4) and cd.test_boxes.shape == (10, 4)
    assert "canvas48" in d.name and d.name.endswith("s4")
    assert canvas_dataset(src, CanvasConfig(size=48), seed=5).dataset.name != d.name


def test_bad_input(digits):
    x, y = digits
    with pytest.raises(ValueError, match="size"):
        CanvasConfig(size=0)
    with pytest.raises(ValueError, match="n_fragments"):
        CanvasConfig(n_fragments=-1)
    with pytest.raises(ValueError, match="ink_threshold"):
        CanvasConfig(ink_threshold=1.0)
    with pytest.raises(ValueError, match="min_fragment_ink"):
        CanvasConfig(fragment_size=3, min_fragment_ink=10)
    with pytest.raises(ValueError, match="do not fit"):
        boxed_digits(x, y, CanvasConfig(size=20))
    with pytest.raises(ValueError, match="fragment_size must be smaller"):
        boxed_digits(x, y, CanvasConfig(fragment_size=28))
    with pytest.raises(ValueError, match="labels must have shape"):
        boxed_digits(x, y[:3])
    with pytest.raises(ValueError, match="at least 2"):
        boxed_digits(x[:1], y[:1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        boxed_digits(x * 2, y)
    with pytest.raises(ValueError, match="grey"):
        boxed_digits(np.repeat(x, 3, -1), y)
    with pytest.raises(ValueError, match="no ink"):
        boxed_digits(np.zeros_like(x), y)
    with pytest.raises(ValueError, match="Dataset"):
        canvas_dataset(x)
