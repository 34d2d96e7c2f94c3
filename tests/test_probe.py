import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest
from conftest import assert_close, jit_init
from flax import nnx

import ssvepjax as sj


class TinyLinen(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.Conv(3, (3, 3))(x)
        self.sow("intermediates", "post", nn.relu(h))
        return nn.Dense(2)(nn.relu(h).mean((1, 2)))


class TinyNNX(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 3, (3, 3), rngs=rngs)
        self.head = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        h = nnx.relu(self.conv(x))
        self.sow(nnx.Intermediate, "post", h)
        return self.head(h.mean((1, 2)))


def _frames(rng, t=20):
    return jnp.asarray(rng.uniform(size=(t, 6, 6, 1)), jnp.float32)


def _loop(fn, frames):
    outs = [fn(f) for f in frames]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)


def test_probe_equals_python_loop_for_plain_function(rng):
    frames = _frames(rng)
    fn = lambda f: {"sq": f**2, "sum": jnp.sum(f)}
    out = jax.jit(lambda fr: sj.probe(fn, fr))(frames)
    ref = _loop(fn, frames)
    for k in ref:
        assert out[k].shape[0] == 20
        assert_close(out[k], ref[k])


def test_probe_batch_size_equals_full(rng):
    frames = _frames(rng)
    fn = lambda f: jnp.tanh(f)
    assert_close(sj.probe(fn, frames, batch_size=6), sj.probe(fn, frames))


def test_linen_adapter_captures_modules_and_sown_values(rng):
    frames = _frames(rng)
    m = TinyLinen()
    v = jit_init(m, 0, frames[:1])
    fn = sj.linen_fn(m, v)
    out = jax.jit(lambda fr: sj.probe(fn, fr))(frames)
    assert set(out) >= {"Conv_0", "Dense_0", "post", "output"}
    assert out["Conv_0"].shape == (20, 6, 6, 3) and out["post"].shape == (20, 6, 6, 3)
    ref = jax.vmap(lambda f: m.apply(v, f[None])[0])(frames)
    assert_close(out["output"], ref)
    assert_close(out["post"], jnp.maximum(out["Conv_0"], 0))
    only = sj.probe(sj.linen_fn(m, v, capture_intermediates=False, include=["post"]), frames)
    assert list(only) == ["post"]


def test_nnx_adapter_matches_loop(rng):
    frames = _frames(rng)
    model = TinyNNX(nnx.Rngs(0))
    fn = sj.nnx_fn(model)
    out = jax.jit(lambda fr: sj.probe(fn, fr))(frames)
    assert set(out) >= {"conv", "head", "post", "output"}
    ref = _loop(fn, frames)
    for k in ref:
        assert_close(out[k], ref[k])
    assert_close(out["output"], jnp.stack([model(f[None])[0] for f in frames]))


def test_unknown_layer_name():
    m = TinyLinen()
    v = jit_init(m, 0, jnp.ones((1, 6, 6, 1)))
    with pytest.raises(ValueError, match="unknown layer names"):
        sj.probe(sj.linen_fn(m, v, include=["nope"]), jnp.ones((4, 6, 6, 1)))


def test_probe_bad_input():
    with pytest.raises(ValueError, match="batch_size"):
        sj.probe(lambda f: f, jnp.ones((4, 2)), batch_size=0)
    with pytest.raises(ValueError, match="NaN"):
        sj.probe(lambda f: f, jnp.full((4, 2), jnp.nan))


def test_resnet_records_every_conv_layer_pre_and_post():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = jit_init(model, 0, jnp.ones((1, 8, 8, 1)))
    fn = sj.linen_fn(model, v, capture_intermediates=False, train=False)
    out = sj.probe(fn, jnp.ones((5, 8, 8, 1)))
    names = sj.conv_layer_names(8)
    assert len(names) == 7
    for n in names:
        assert f"{n}/pre" in out and f"{n}/post" in out
        assert_close(out[f"{n}/post"], jnp.maximum(out[f"{n}/pre"], 0))
    with pytest.raises(ValueError, match="depth"):
        sj.conv_layer_names(10)
