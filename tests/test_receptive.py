"""Tests for ssvepjax.analysis.receptive (receptive fields of a CIFAR ResNet)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_init

import ssvepjax as sj
from ssvepjax.analysis import receptive as R


def test_receptive_field_size():
    assert R.receptive_field_size(8, "stem") == 3
    assert R.receptive_field_size(8, "stage1_block0/conv1/post") == 5
    assert R.receptive_field_size(8, "stage1_block0/conv2") == 7
    assert R.receptive_field_size(8, "stage2_block0/conv1") == 9  # stride 2: 7 + 2
    assert R.receptive_field_size(8, "stage2_block0/conv2") == 13  # then 2 * 2 per conv


@pytest.mark.parametrize("bad", ["stage4_block0/conv1", "stem/postx", "head", ""])
def test_unknown_layer_names(bad):
    with pytest.raises(ValueError, match="unknown layer name"):
        R.conv_strides(8, bad)


def test_receptive_field_spans_match_perturbation():
    """The analytic span is exactly the set of input columns whose change moves a unit (linear ResNet)."""
    depth, size = 8, 12
    model = sj.CifarResNet(depth, 10, width=4, act="identity")
    variables = jit_init(model, 1, jnp.zeros((1, size, size, 1)))
    layers = ("stem", "stage2_block0/conv1", "stage3_block0/conv2")
    base = jax.random.uniform(jax.random.key(3), (size, size, 1))
    # Batch 0: the base image; batch 1 + c: the base with column c raised by 1.
    batch = jnp.concatenate([base[None], base[None] + jnp.eye(size)[:, None, :, None]])
    _, state = model.apply(variables, batch, capture_intermediates=False, mutable=["intermediates"])
    acts = sj.flatten_intermediates(state["intermediates"], squeeze_batch=False)
    for layer in layers:
        a = np.asarray(acts[f"{layer}/pre"], np.float64)  # [1 + size, h, w, c]
        moved = np.abs(a[1:] - a[:1]).max(axis=(1, 3)) > 1e-5 * np.abs(a).max()  # [input column, layer column]
        spans = R.receptive_field_spans(depth, layer, size)
        for j in range(len(spans)):
            cols = np.nonzero(moved[:, j])[0]
            assert (cols.min(), cols.max()) == tuple(spans[j]), (layer, j)


def test_rf_classes_halves():
    masks = sj.halves(28, 28)
    cls, names = R.rf_classes(8, "stem", masks)
    assert names == ["left-only", "right-only", "both", "none"]
    assert cls.shape == (28, 28)
    assert list(np.nonzero(cls[0] == 2)[0]) == [13, 14]
    assert (cls[:, :13] == 0).all() and (cls[:, 15:] == 1).all()
    cls2, _ = R.rf_classes(8, "stage3_block0/conv2/post", masks)
    assert cls2.shape == (7, 7)
    with pytest.raises(ValueError, match="part_names"):
        R.rf_classes(8, "stem", masks, part_names=("a",))


