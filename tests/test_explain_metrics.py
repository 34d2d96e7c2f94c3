"""Localisation metrics on hand-made maps and boxes, a NumPy reference for deletion/insertion, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

from ssvepjax.explain import metrics as M


def test_box_masks_and_iou():
    m = np.asarray(M.box_masks(np.array([[1, 2, 3, 5]]), (4, 6)))[0]
    assert m.sum() == 6 and m[1:3, 2:5].all()
    assert_close(M.box_iou([0, 0, 2, 2], [1, 1, 3, 3]), 1 / 7)
    assert_close(M.box_iou([0, 0, 2, 2], [0, 0, 2, 2]), 1.0)
    assert_close(M.box_iou([0, 0, 2, 2], [2, 2, 4, 4]), 0.0)


def test_energy_in_box():
    s = np.zeros((3, 8, 8), np.float32)
    s[0, 2:4, 2:4] = 1.0  # all inside
    s[1] = 1.0  # uniform: the box's share of the image
    s[2, 2:4, 2:4], s[2, 6, 6] = 1.0, 4.0  # half the energy outside
    box = np.array([2, 2, 4, 4])
    assert_close(M.energy_in_box(s, box), [1.0, 4 / 64, 0.5])
    assert_close(M.energy_in_box(np.zeros((8, 8)), box), [4 / 64])  # an empty map is uniform


def test_energy_concentration():
    s = np.zeros((3, 10, 10), np.float32)
    s[0, :2] = 1.0  # exactly 20 % of the pixels
    s[1] = 1.0
    s[2] = np.arange(100).reshape(10, 10)
    top = np.arange(80, 100).sum() / np.arange(100).sum()
    assert_close(M.energy_concentration(s), [1.0, 0.2, top])
    assert_close(jax.jit(lambda x: M.energy_concentration(x, 0.2))(jnp.asarray(s)), [1.0, 0.2, top])
    assert_close(M.energy_concentration(s[2], top=0.05), [np.arange(95, 100).sum() / np.arange(100).sum()])


def test_localisation():
    s = np.zeros((3, 12, 12), np.float32)
    s[0, 2:6, 3:8] = 1.0
    s[0, 9, 9] = 0.1  # below 0.15 of the maximum: ignored
    s[1, 0:2, 0:2] = 1.0  # small region at the peak value
    s[1, 6:10, 6:11] = 0.5  # larger region: chosen
    s[2, 1, 1], s[2, 2, 2], s[2, 3, 3] = 1.0, 1.0, 1.0  # diagonal: one 8-connected region
    boxes = np.array([[2, 3, 6, 8], [2, 3, 6, 8], [1, 1, 4, 4]])
    out = M.localisation(s, boxes)
    assert out["box"].tolist() == [[2, 3, 6, 8], [6, 6, 10, 11], [1, 1, 4, 4]]
    assert_close(out["iou"], [1.0, 0.0, 1.0])
    assert out["correct"].tolist() == [True, False, True]
    loose = M.localisation(s[:1], boxes[:1], threshold=0.05)  # the stray pixel: a second, smaller region
    assert loose["box"].tolist() == [[2, 3, 6, 8]]
    empty = M.localisation(np.zeros((12, 12)), boxes[0])  # uniform: the whole image
    assert empty["box"].tolist() == [[0, 0, 12, 12]] and not empty["correct"][0]


def np_curves(prob, x, s, y, steps, baseline):
    """NumPy reference: rank by saliency (ties in raster order), remove/insert round(i hw / steps) pixels."""
    n, h, w = s.shape
    dele, ins = np.zeros((n, steps + 1)), np.zeros((n, steps + 1))
    for i in range(n):
        order = np.lexsort((np.arange(h * w), -s[i].ravel()))
        for j in range(steps + 1):
            gone = np.zeros(h * w, bool)
            gone[order[: int(np.round(j * h * w / steps))]] = True
            gone = gone.reshape(h, w, 1)
            dele[i, j] = prob(np.where(gone, baseline, x[i]))[y[i]]
            ins[i, j] = prob(np.where(gone, x[i], baseline))[y[i]]
    auc = lambda c: np.trapezoid(c, dx=1 / steps, axis=1)
    return dele, ins, auc(dele), auc(ins)


def test_deletion_insertion_matches_numpy(rng):
    x = rng.uniform(size=(3, 5, 4, 1)).astype(np.float32)
    s = rng.uniform(size=(3, 5, 4)).astype(np.float32)
    s[0] = 0.0  # ties everywhere: raster order
    y = np.array([0, 1, 0])

    def prob_np(img):
        m = img.mean()
        return np.array([m, 1 - m])

    prob = jax.jit(jax.vmap(lambda img: jnp.stack([img.mean(), 1 - img.mean()])))
    for steps, base in ((4, 0.0), (7, 0.3)):
        out = M.deletion_insertion(prob, x, s, y, steps=steps, baseline=base, batch_size=2)
        d, i, da, ia = np_curves(prob_np, x, s, y, steps, base)
        assert_close(out["deletion_curve"], d)
        assert_close(out["insertion_curve"], i)
        assert_close(out["deletion"], da)
        assert_close(out["insertion"], ia)


def test_deletion_orders_by_saliency():
    """Deleting the only informative pixel first drops the probability at once."""
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 1, 2] = 1.0
    good, bad = np.zeros((1, 4, 4), np.float32), np.zeros((1, 4, 4), np.float32)
    good[0, 1, 2] = 1.0
    bad[0, 3, 3] = 1.0
    prob = lambda b: jnp.stack([b[:, 1, 2, 0], 1 - b[:, 1, 2, 0]], -1)
    g = M.deletion_insertion(prob, x, good, np.array([0]), steps=16)
    b = M.deletion_insertion(prob, x, bad, np.array([0]), steps=16)
    assert g["deletion"][0] < b["deletion"][0] and g["insertion"][0] > b["insertion"][0]
    r = M.deletion_insertion(prob, x, bad, np.array([0]), steps=16, key=jax.random.key(0))
    assert r["deletion_curve"].shape == (1, 17)


def test_bad_input():
    s = np.ones((2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="boxes must be integers of shape"):
        M.energy_in_box(s, np.ones((3, 4), int))
    with pytest.raises(ValueError, match="boxes must satisfy"):
        M.energy_in_box(s, np.array([0, 0, 7, 3]))
    with pytest.raises(ValueError, match="boxes must satisfy"):
        M.localisation(s, np.array([3, 0, 3, 3]))
    with pytest.raises(ValueError, match="non-negative"):
        M.energy_concentration(-s)
    with pytest.raises(ValueError, match="top must lie"):
        M.energy_concentration(s, 0.0)
    with pytest.raises(ValueError, match="saliency must have shape"):
        M.energy_in_box(s[0, 0], np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="threshold must lie"):
        M.localisation(s, np.array([0, 0, 2, 2]), threshold=1.5)
    prob = lambda b: jnp.ones((b.shape[0], 2)) / 2
    x = np.ones((2, 6, 6, 1), np.float32)
    with pytest.raises(ValueError, match="steps must be"):
        M.deletion_insertion(prob, x, s, np.array([0, 1]), steps=0)
    with pytest.raises(ValueError, match="matching saliency"):
        M.deletion_insertion(prob, x[:, :5], s, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        M.deletion_insertion(prob, x, s, np.array([0, 2]))
