"""Tests for ssvepjax.training.losses: analytic values, finite differences, one period, batch norm, direction."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import jit_init

import ssvepjax as sj
from ssvepjax.training.losses import bin_classes, layer_powers, term_value

# Short, bin-aligned stimuli for training: 3 and 4 Hz at 24 frames/s, 24 frames (one period).
TAGS = sj.TagConfig((3.0, 4.0), fps=24.0, n_frames=24)
DESIGN = sj.Design(TAGS, max_order=2)


def test_powers_and_terms_analytic():
    t = np.arange(24) / 24
    s1, s2 = np.sin(2 * np.pi * 3 * t), np.sin(2 * np.pi * 4 * t)
    classes = bin_classes(DESIGN, 24, 1)
    # [t, units]: a tag plus DC 1, a product (f1, f2 and f1 +- f2), and a tone at 5 Hz (2f2 - f1: order 3 > 2).
    x = np.stack([1.0 + s1, (1 + 0.5 * s1) * (1 + 0.5 * s2), np.sin(2 * np.pi * 5 * t)], 1).astype(np.float32)
    p = {k: np.asarray(v, np.float64) for k, v in layer_powers(jnp.asarray(x), classes).items()}
    # Per unit (Parseval, A^2 / 2): unit 0: tag 0.5 and activity 1.5; unit 1: f1 and f2 0.125 each, and
    # 0.25 s1 s2 puts 0.125 at f1 - f2 and at f1 + f2 (0.0078125 each); unit 2: 0.5 at 5 Hz.
    im = 2 * 0.125**2 / 2
    np.testing.assert_allclose(p["tag"], [0.5, 0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose(p["intermodulation"], [0.0, im, 0.0], atol=1e-6)
    np.testing.assert_allclose(p["ac"], [0.5, 0.25 + im, 0.5], rtol=1e-5)
    np.testing.assert_allclose(p["activity"], [1.5, 1 + 0.25 + im, 0.5], rtol=1e-5)
    # Shares: good / (ref + 0.1 * the layer's mean ref).
    act = np.array([1.5, 1.25 + im, 0.5])
    want = np.array([0.5, 0.25, 0.0]) / (act + 0.1 * act.mean())
    assert float(term_value("tag_locking", p)) == pytest.approx(1 - want.mean(), rel=1e-5)
    ref = np.array([0.5, 0.25 + im, 0.0])
    want = np.array([0.0, im, 0.0]) / (ref + 0.1 * ref.mean())
    assert float(term_value("intermodulation", p)) == pytest.approx(1 - want.mean(), rel=1e-5)
    ac = np.array([0.5, 0.25 + im, 0.5])
    want = np.array([0.5, 0.25 + im, 0.0]) / (ac + 0.1 * ac.mean())  # the 5 Hz tone is no component
    assert float(term_value("purity", p)) == pytest.approx(1 - want.mean(), rel=1e-5)
    # Scaling every activation leaves every term unchanged; silencing a unit does not help any term.
    q = layer_powers(jnp.asarray(7.0 * x), classes)
    silenced = layer_powers(jnp.asarray(x * np.array([1.0, 0.0, 1.0])), classes)
    for term in sj.TERMS:
        assert float(term_value(term, q)) == pytest.approx(float(term_value(term, p)), rel=1e-5)
    assert float(term_value("tag_locking", silenced)) > float(term_value("tag_locking", p))


class Tiny(nn.Module):
    """Two convs with batch norm, sowing their post-activations."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i in range(2):
            x = nn.Conv(4, (3, 3), name=f"conv{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(x)
            x = nn.relu(x)
            self.sow("intermediates", f"post{i}", x)
        return x.mean((1, 2))


def _tiny(seed=0):
    model = Tiny()
    v = jit_init(model, seed, jnp.ones((1, 6, 6, 1)))
    images = jnp.asarray(np.random.default_rng(seed).uniform(0.2, 1.0, (3, 6, 6, 1)), jnp.float32)
    return model, v, images


@pytest.mark.parametrize("term", sj.TERMS)
def test_gradient_matches_finite_differences(term):
    # Central differences in float64 along random directions (small steps: ReLU kinks are rarely crossed).
    with jax.enable_x64():
        model, v, images = _tiny()
        v = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), v)
        images = jnp.asarray(images, jnp.float64)
        loss = sj.spectral_loss(term, sj.linen_apply(model), sj.halves(6, 6), DESIGN,
                                layers={"post0": 0.5, "post1": 1})
        f = jax.jit(lambda p: loss({**v, "params": p}, images))
        g = jax.jit(jax.grad(lambda p: loss({**v, "params": p}, images)))(v["params"])
        rng, eps = np.random.default_rng(1), 1e-7
        for _ in range(3):
            d = jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(a.shape), a.dtype), v["params"])
            plus = f(jax.tree.map(lambda a, b: a + eps * b, v["params"], d))
            minus = f(jax.tree.map(lambda a, b: a - eps * b, v["params"], d))
            numeric = float(plus - minus) / (2 * eps)
            analytic = float(sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(d))))
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9), (term, analytic, numeric)


def test_one_period_equals_every_frame_and_batch_norm_in_training_mode():
    model, v, images = _tiny(1)
    tags = sj.TagConfig((6.0, 7.5), fps=120.0, n_frames=240)  # 3 periods of 80 frames
    for train in (False, True):
        kw = dict(layers=["post1"], design=sj.Design(tags))
        one = sj.spectral_loss("intermodulation", sj.linen_apply(model, train=train), sj.halves(6, 6), **kw)
        every = sj.spectral_loss("intermodulation", sj.linen_apply(model, train=train), sj.halves(6, 6),
                                 one_period=False, **kw)
        assert float(jax.jit(one)(v, images)) == pytest.approx(float(jax.jit(every)(v, images)), rel=1e-4)
    train_value = float(jax.jit(sj.spectral_loss("purity", sj.linen_apply(model, train=True), sj.halves(6, 6),
                                                 DESIGN, layers=["post1"]))(v, images))
    eval_value = float(jax.jit(sj.spectral_loss("purity", sj.linen_apply(model), sj.halves(6, 6), DESIGN,
                                                layers=["post1"]))(v, images))
    assert np.isfinite(train_value) and train_value != pytest.approx(eval_value)


@pytest.mark.parametrize("term", sj.TERMS)
def test_each_term_moves_its_measure_without_shrinking_activations(term):
    model, v, images = _tiny(2)
    masks, layers = sj.halves(6, 6), ["post1"]
    loss = sj.spectral_loss(term, sj.linen_apply(model), masks, DESIGN, layers=layers)
    apply = sj.linen_apply(model)

    def measures(params):
        return sj.tag_measures(apply, {**v, "params": params}, images, masks, DESIGN, layers=layers)["post1"]

    def activity(params):
        acts = apply({**v, "params": params}, sj.tag_frames(images[0], masks, TAGS))
        return float(jnp.sqrt(jnp.mean(jnp.square(acts["post1"]))))

    params, tx = v["params"], optax.adam(1e-2)
    state, step = tx.init(params), jax.jit(jax.value_and_grad(lambda p: loss({**v, "params": p}, images)))
    before, rms = measures(params), activity(params)
    for _ in range(60):
        _, g = step(params)
        upd, state = tx.update(g, state)
        params = optax.apply_updates(params, upd)
    after = measures(params)
    assert after[term] > before[term] + 0.02, (before, after)
    assert activity(params) > 0.5 * rms  # the term did not win by silencing the layer


def test_bad_input():
    model, v, images = _tiny()
    apply = sj.linen_apply(model)
    with pytest.raises(ValueError, match="term"):
        sj.spectral_loss("beauty", apply, sj.halves(6, 6), DESIGN, layers=["post1"])
    with pytest.raises(ValueError, match=">= 0"):
        sj.spectral_loss("purity", apply, sj.halves(6, 6), DESIGN, layers={"post1": -1.0})
    with pytest.raises(ValueError, match="at least one"):
        sj.spectral_loss("purity", apply, sj.halves(6, 6), DESIGN, layers=[])
    with pytest.raises(ValueError, match="unknown layer"):
        sj.spectral_loss("purity", apply, sj.halves(6, 6), DESIGN, layers=["nope"])(v, images)
    with pytest.raises(ValueError, match="off-bin"):
        sj.spectral_loss("purity", apply, sj.halves(6, 6), sj.TagConfig((3.3, 4.0), fps=24.0, n_frames=24),
                         layers=["post1"])
    with pytest.raises(ValueError, match="one_period=False"):
        sj.spectral_loss("purity", sj.linen_apply(model, rngs={"dropout": jax.random.key(0)}), sj.halves(6, 6),
                         DESIGN, layers=["post1"])
    with pytest.raises(ValueError, match="no intermodulation"):
        sj.spectral_loss("intermodulation", apply, np.ones((1, 6, 6), bool), sj.Design(sj.TagConfig((3.0,), 24.0, 24)),
                         layers=["post1"])
