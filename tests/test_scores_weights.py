"""Data-free scores: random draws (both stored procedures), L1 kernel norms and batch-norm scales against NumPy."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init

import ssvepjax as sj
from ssvepjax import scores as S
from ssvepjax.explain import top_k


@pytest.fixture(scope="module")
def tiny(scored_tiny):
    return scored_tiny


def test_data_free_scores_match_numpy(tiny):
    model, v, _, _ = tiny
    names = sj.conv_layer_names(8)
    l1 = S.importance("l1", model, v)
    bn = S.importance("bn_scale", model, v)
    assert sorted(l1) == sorted(names)
    k = np.asarray(v["params"]["stage2_block0"]["conv1"]["conv"]["kernel"], np.float64)
    assert_close(l1["stage2_block0/conv1"], np.abs(k).sum((0, 1, 2)))
    assert_close(bn["stem"], np.abs(np.asarray(v["params"]["stem"]["bn"]["scale"])))
    r0, r1 = S.importance("random", model, v, seed=0), S.importance("random", model, v, seed=1)
    assert_close(r0["stem"], S.importance("random", model, v, seed=0)["stem"])
    assert not np.allclose(r0["stem"], r1["stem"])


def test_random_draws_are_the_stored_procedures(tiny):
    """An integer seed draws the pruning curves' NumPy stream, a key the explanations' ``jax.random`` draws."""
    model, v, _, _ = tiny
    layers = sorted(sj.conv_layer_names(8), key=lambda n: n.split("/"))  # parameter order
    assert list(S.conv_layers(v)) == layers
    rng = np.random.default_rng(7)  # one stream over the conv layers in parameter order, c_out draws each
    want = {n: rng.uniform(size=functools.reduce(lambda d, k: d[k], n.split("/"), v["params"])["conv"]["kernel"]
                           .shape[-1]) for n in layers}
    got = S.importance("random", model, v, seed=7)
    assert list(got) == layers
    for n in layers:
        np.testing.assert_array_equal(got[n], want[n])
    key = jax.random.key(3)
    got = S.random_scores({"x": 16, "y": 4}, key, n_images=5)
    np.testing.assert_array_equal(got["x"], np.asarray(jax.random.uniform(jax.random.fold_in(key, 0), (5, 16))))
    np.testing.assert_array_equal(got["y"], np.asarray(jax.random.uniform(jax.random.fold_in(key, 1), (5, 4))))


def test_random_scores():
    key = jax.random.key(0)
    a = S.random_scores({"x": 8, "y": 3}, key)
    b = S.random_scores({"x": 8, "y": 3}, key)
    assert a["x"].shape == (8,) and a["y"].shape == (3,)
    assert_close(a["x"], b["x"])
    assert not np.allclose(a["x"], S.random_scores({"x": 8}, jax.random.key(1))["x"])
    per = S.random_scores({"x": 8}, key, n_images=5)["x"]
    assert per.shape == (5, 8) and len({tuple(top_k(r, 3)) for r in per}) > 1


def test_l1_scores_match_library():
    module = sj.CifarResNet(depth=8, num_classes=3, width=2)
    variables = jit_init(module, 0, jnp.zeros((1, 8, 8, 1)))
    layers = ["stem", "stage3_block0/conv2"]
    got = S.l1_scores(variables, layers)
    for layer in layers:  # NumPy: the sum of |w| over every axis of the kernel but the output channels
        kernel = variables["params"]
        for key in layer.split("/"):
            kernel = kernel[key]
        kernel = np.asarray(kernel["conv"]["kernel"], np.float64)
        assert_close(got[layer], np.abs(kernel).sum((0, 1, 2)))
    assert_close(S.l1_scores(variables, ["head"])["head"], np.abs(variables["params"]["head"]["kernel"]).sum(0))
    with pytest.raises(ValueError, match="unknown layer"):
        S.l1_scores(variables, ["stage9_block0/conv1"])
    with pytest.raises(ValueError, match="exactly one"):
        S.l1_scores(variables, ["stage1_block0"])


def test_bad_input():
    with pytest.raises(ValueError, match="n_images"):
        S.random_scores({"x": 3}, jax.random.key(0), n_images=0)
    for seed in (1.5, True, "0"):
        with pytest.raises(ValueError, match="seed"):
            S.random_scores({"x": 3}, seed)
    with pytest.raises(ValueError, match=r"sizes\['x'\]"):
        S.random_scores({"x": 0}, 0)
