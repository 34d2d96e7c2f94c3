"""Tests for ssvepjax.analysis.receptive (receptive fields from a layer's geometry) and the CIFAR ResNet's
geometry and layer lists (ssvepjax.models.cifar_resnet)."""

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_init

import ssvepjax as sj
from ssvepjax.analysis import receptive as R
from ssvepjax.models.cifar_resnet import conv_geometry, conv_strides, stage_end_layers


def test_receptive_field_size():
    assert R.receptive_field_size(conv_geometry(8, "stem")) == 3
    assert R.receptive_field_size(conv_geometry(8, "stage1_block0/conv1/post")) == 5
    assert R.receptive_field_size(conv_geometry(8, "stage1_block0/conv2")) == 7
    assert R.receptive_field_size(conv_geometry(8, "stage2_block0/conv1")) == 9  # stride 2: 7 + 2
    assert R.receptive_field_size(conv_geometry(8, "stage2_block0/conv2")) == 13  # then 2 * 2 per conv


@pytest.mark.parametrize("bad", ["stage4_block0/conv1", "stem/postx", "head", ""])
def test_unknown_layer_names(bad):
    with pytest.raises(ValueError, match="unknown layer name"):
        conv_strides(8, bad)
    with pytest.raises(ValueError, match="unknown layer name"):
        conv_geometry(8, bad)


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
        spans = R.receptive_field_spans(conv_geometry(depth, layer), size)
        for j in range(len(spans)):
            cols = np.nonzero(moved[:, j])[0]
            assert (cols.min(), cols.max()) == tuple(spans[j]), (layer, j)


def test_rf_classes_halves():
    masks = sj.halves(28, 28)
    cls, names = R.rf_classes(conv_geometry(8, "stem"), masks)
    assert names == ["left-only", "right-only", "both", "none"]
    assert cls.shape == (28, 28)
    assert list(np.nonzero(cls[0] == 2)[0]) == [13, 14]
    assert (cls[:, :13] == 0).all() and (cls[:, 15:] == 1).all()
    cls2, _ = R.rf_classes(conv_geometry(8, "stage3_block0/conv2/post"), masks)
    assert cls2.shape == (7, 7)
    with pytest.raises(ValueError, match="part_names"):
        R.rf_classes(conv_geometry(8, "stem"), masks, part_names=("a",))


def _conv_stack_1d(geometry):
    """The stack of 1-D convs (positive weights: no cancellation) that ``geometry`` describes."""
    def f(x):
        for k, s, p in geometry:
            x = jax.lax.conv_general_dilated(x[None, None], jnp.ones((1, 1, k)), (s,), [(p, p)])[0, 0]
        return x
    return f


@pytest.mark.parametrize("geometry", [((5, 2, 2), (3, 1, 0), (1, 1, 0), (2, 2, 0)), ((7, 2, 3), (3, 2, 1)),
                                      ((3, 1, 1),) * 4])
def test_receptive_field_spans_any_geometry_match_the_jacobian(geometry):
    """Kernels, strides and paddings other than the CIFAR ResNet's: the span is where the Jacobian is non-zero."""
    size = 23
    jac = np.asarray(jax.jit(jax.jacfwd(_conv_stack_1d(geometry)))(jnp.ones(size)))  # [n_out, size]
    spans = R.receptive_field_spans(geometry, size)
    assert spans.shape == (jac.shape[0], 2)
    for j in range(len(spans)):
        cols = np.nonzero(jac[j])[0]
        assert (cols.min(), cols.max()) == tuple(spans[j]), j
    # Unclipped: the middle position of an input so large that the border never reaches its receptive field.
    size = 4 * 23 * int(np.prod([s for _, s, _ in geometry]))
    jac = np.asarray(jax.jacfwd(_conv_stack_1d(geometry))(jnp.ones(size)))
    cols = np.nonzero(jac[jac.shape[0] // 2])[0]
    assert R.receptive_field_size(geometry) == cols.max() - cols.min() + 1


@pytest.mark.parametrize("bad", [[(3, 0, 1)], [(0, 1, 1)], [(3, 1, -1)], [(3, 1)], [(3.5, 1, 1)], ["abc"]])
def test_geometry_is_checked(bad):
    with pytest.raises(ValueError, match="geometry"):
        R.receptive_field_size(bad)


def test_stage_end_layers():
    for depth in (8, 14, 32):
        n = (depth - 2) // 6  # the formula the library's resnet_blocks holds, checked here independently
        expected = ["stem"] + [f"stage{s}_block{n - 1}/conv2" for s in (1, 2, 3)]
        assert stage_end_layers(depth) == [f"{x}/post" for x in expected]
        assert stage_end_layers(depth, suffix="") == expected
        assert set(stage_end_layers(depth, suffix="")) <= set(sj.conv_layer_names(depth))
    with pytest.raises(ValueError, match="6n"):
        stage_end_layers(9)


def test_analysis_imports_no_architecture():
    """ssvepjax.analysis takes layer names and geometry as arguments; the architectures live in models/."""
    for path in (Path(sj.__file__).parent / "analysis").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n.startswith("ssvepjax.models") for n in names), (path.name, names)
