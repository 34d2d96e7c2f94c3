import jax
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj
from ssvepjax import pruning as P
from ssvepjax.pruning import ground_truth as G


@pytest.fixture(scope="module")
def tiny(tiny3):
    model, v = tiny3
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=48).astype(np.int32)
    # A learnable toy task: the class sets the brightness of one third of the image.
    images = rng.uniform(0, 0.2, size=(48, 8, 8, 1)).astype(np.float32)
    for i, y in enumerate(labels):
        images[i, :, 3 * y:3 * y + 2] += 0.8
    return model, v, images, labels


@pytest.mark.slow  # trains a model
def test_finetune_learns_and_keeps_structure(tiny):
    model, v, images, labels = tiny
    before = P.accuracy(model, v, images, labels)
    cfg = P.FinetuneConfig(steps=40, optimizer=sj.TrainConfig(batch_size=16, learning_rate=0.05))
    after_v = P.finetune(model, v, images, labels, cfg)
    assert jax.tree.structure(after_v) == jax.tree.structure(v)
    after = P.accuracy(model, after_v, images, labels, batch_size=7)
    assert after >= 0.9 and after > before
    # Same seed, same result.
    again = P.finetune(model, v, images, labels, cfg)
    assert_close(again["params"]["head"]["kernel"], after_v["params"]["head"]["kernel"])


def test_accuracy_matches_numpy(tiny):
    model, v, images, labels = tiny
    logits = np.asarray(jax.jit(lambda v, x: model.apply(v, x))(v, images))
    assert P.accuracy(model, v, images, labels, batch_size=10) == pytest.approx((logits.argmax(-1) == labels).mean())


def test_recalibrate_bn_gives_the_batch_statistics(tiny):
    model, v, images, _ = tiny
    rv = P.recalibrate_bn(model, v, images)
    # The stem's batch norm sees the stem conv's output: its mean and (biased) variance over batch and positions.
    k = np.asarray(v["params"]["stem"]["conv"]["kernel"], np.float64)
    x = np.pad(images.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = sum(x[:, i:i + 8, j:j + 8, :] @ k[i, j] for i in range(3) for j in range(3))
    assert_close(rv["batch_stats"]["stem"]["bn"]["mean"], conv.mean((0, 1, 2)), rtol=1e-3, atol=1e-5)
    assert_close(rv["batch_stats"]["stem"]["bn"]["var"], conv.var((0, 1, 2)), rtol=1e-3, atol=1e-5)
    assert_close(rv["params"]["head"]["kernel"], v["params"]["head"]["kernel"])
    with pytest.raises(ValueError, match="momentum"):
        P.recalibrate_bn(model, v, images, momentum=1.0)


def test_two_part_dataset_puts_the_class_digit_in_one_half():
    digits = sj.load_dataset("digits", n_test=100)
    d = G.two_part_dataset(digits, distractor="digit", seed=0)
    assert d.train_images.shape == (len(digits.train_images), 8, 16, 1)
    np.testing.assert_array_equal(d.train_images[:, :, :8], digits.train_images)
    np.testing.assert_array_equal(d.train_labels, digits.train_labels)
    # The distractor is a digit of another class, from the same split.
    flat = digits.train_images.reshape(len(digits.train_images), -1)
    right = d.train_images[:5, :, 8:].reshape(5, -1)
    for i in range(5):
        j = int(np.flatnonzero((flat == right[i]).all(1))[0])
        assert digits.train_labels[j] != digits.train_labels[i]
    r = G.two_part_dataset(digits, distractor="clutter", informative="right", seed=1)
    np.testing.assert_array_equal(r.test_images[:, :, 8:], digits.test_images)
    assert r.name != d.name
    with pytest.raises(ValueError, match="distractor"):
        G.two_part_dataset(digits, distractor="noise")
    with pytest.raises(ValueError, match="informative"):
        G.two_part_dataset(digits, informative="top")


def test_part_shares_and_part_keep_masks():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    topo = P.topology(model)
    rng = np.random.default_rng(0)
    t1 = {n: rng.uniform(size=w) for n, w in zip(topo.layers, topo.widths)}
    t2 = {n: rng.uniform(size=w) for n, w in zip(topo.layers, topo.widths)}
    t2["stem"] = np.zeros(4)
    t1["stem"] = np.array([1.0, 0.0, 2.0, 3.0])
    sh = G.part_shares({"tag1": t1, "tag2": t2})
    assert_close(sh["stem"], [[1, 0.5, 1, 1], [0, 0.5, 0, 0]])
    assert_close(sh["stage3_block0/conv1"].sum(0), np.ones(16))
    keep = G.part_keep_masks({"tag1": t1, "tag2": t2}, "tag2", model, 0.5)
    s2 = sh["stage3_block0/conv1"][1]
    assert set(np.flatnonzero(~keep["stage3_block0/conv1"])) == set(np.argsort(-s2)[:8])
    amp = G.part_keep_masks({"tag1": t1, "tag2": t2}, "tag2", model, 0.5, rank="amplitude")
    assert set(np.flatnonzero(~amp["stage3_block0/conv1"])) == set(np.argsort(-t2["stage3_block0/conv1"])[:8])
    labels = G.filter_classes({"tag1": t1, "tag2": t2}, {n: np.zeros(w) for n, w in zip(topo.layers, topo.widths)})
    assert labels["stem"][0] == "tag1"
    with pytest.raises(ValueError, match="part"):
        G.part_keep_masks({"tag1": t1, "tag2": t2}, "tag3", model, 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        G.part_shares({"tag1": {"stem": np.array([-1.0])}, "tag2": {"stem": np.array([1.0])}})
