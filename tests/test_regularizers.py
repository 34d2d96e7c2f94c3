import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ssvepjax as sj
from ssvepjax.training.regularizers import component_power_fraction, tag_regularizer


def test_power_fraction_analytic():
    t = np.arange(240) / 120
    x = np.sin(2 * np.pi * 6 * t) + 0.5 * np.sin(2 * np.pi * 13.5 * t) + 3.0
    f = component_power_fraction(jnp.asarray(x), [12])
    assert float(f) == pytest.approx(1 / 1.25, rel=1e-5)
    assert float(component_power_fraction(jnp.asarray(x), [12, 27])) == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="bins"):
        component_power_fraction(jnp.asarray(x), [0])


def test_regularizer_gradient_steps_reduce_it():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = model.init(jax.random.key(0), jnp.ones((1, 8, 8, 1)))
    img = jnp.asarray(np.random.default_rng(0).uniform(size=(8, 8, 1)), jnp.float32)
    loss = tag_regularizer(model, sj.halves(8, 8), layers=["stage3_block0/conv2/post"],
                           kinds=("intermodulation",), sign=-1.0)
    params, rest = v["params"], {k: x for k, x in v.items() if k != "params"}
    f = jax.jit(lambda p: loss({"params": p, **rest}, img))
    tx = optax.adam(1e-3)
    state = tx.init(params)
    start = float(f(params))
    for _ in range(15):
        g = jax.grad(f)(params)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(g))
        upd, state = tx.update(g, state)
        params = optax.apply_updates(params, upd)
    assert float(f(params)) < start - 0.05  # more intermodulation power after training on the term


def test_regularizer_bad_layer():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = model.init(jax.random.key(0), jnp.ones((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="unknown layer"):
        tag_regularizer(model, sj.halves(8, 8), layers=["nope"])(v, jnp.ones((8, 8, 1)))
    with pytest.raises(ValueError, match="layers"):
        tag_regularizer(model, sj.halves(8, 8), layers=[])


def test_regularizer_one_period_equals_every_frame():
    # Same loss and same gradient from one period (80 frames) as from all 240 frames.
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = model.init(jax.random.key(1), jnp.ones((1, 8, 8, 1)))
    img = jnp.asarray(np.random.default_rng(1).uniform(size=(8, 8, 1)), jnp.float32)
    kw = dict(layers=["stage1_block0/conv2/post", "stage3_block0/conv2/post"], kinds=("intermodulation", "harmonic"))
    one = tag_regularizer(model, sj.halves(8, 8), **kw)
    every = tag_regularizer(model, sj.halves(8, 8), one_period=False, **kw)
    assert float(one(v, img)) == pytest.approx(float(every(v, img)), rel=1e-4)
    g1, g2 = jax.grad(one)(v, img), jax.grad(every)(v, img)
    for a, b in zip(jax.tree.leaves(g1["params"]), jax.tree.leaves(g2["params"])):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=1e-4 * float(jnp.max(jnp.abs(b))) + 1e-9)


def test_regularizer_batch_norm_in_training_mode_and_rngs():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = model.init(jax.random.key(2), jnp.ones((1, 8, 8, 1)))
    img = jnp.asarray(np.random.default_rng(2).uniform(size=(8, 8, 1)), jnp.float32)
    kw = dict(layers=["stage2_block0/conv2/post"])
    train = tag_regularizer(model, sj.halves(8, 8), apply_kwargs={"train": True}, **kw)
    train_every = tag_regularizer(model, sj.halves(8, 8), apply_kwargs={"train": True}, one_period=False, **kw)
    value = float(train(v, img))
    assert np.isfinite(value) and value != pytest.approx(float(tag_regularizer(model, sj.halves(8, 8), **kw)(v, img)))
    # Batch statistics of one period equal those of its three copies: the same loss.
    assert value == pytest.approx(float(train_every(v, img)), rel=1e-4)
    with pytest.raises(ValueError, match="one_period=False"):
        tag_regularizer(model, sj.halves(8, 8), apply_kwargs={"train": True, "rngs": {"dropout": jax.random.key(0)}},
                        **kw)
