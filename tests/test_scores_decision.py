"""The decision-spectrum filter score: a finite-difference check of the gate gradient, and the scores interface."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax import scores as S
from ssvepjax.explain.attribution import check_tag_collisions, tag_spectrum_fn
from ssvepjax.models import random_variables

# Collision-free (every harmonic, IM up to order 4) in a 20-frame period (bins 2 and 5): small and fast.
TAGS = sj.TagConfig((2.0, 5.0), 20.0, 20)


@pytest.fixture(scope="module")
def tiny():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = jax.tree.map(jnp.asarray, random_variables(model, jax.ShapeDtypeStruct((1, 8, 8, 1), jnp.float32)))
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    labels = np.array([0, 2], np.int32)
    return model, v, images, labels


def _gated(v, layer, c, z):
    bn = S.bn_affine(v)
    s, b = bn[layer]
    return S.with_bn_affine(v, {layer: (s.at[c].multiply(z), b.at[c].multiply(z))})


def test_decision_scores_match_finite_differences(tiny):
    model, v, images, labels = tiny
    check_tag_collisions(TAGS, 4)
    scores = S.decision_scores(model, v, images, labels, tags=TAGS)
    assert set(scores) == set(sj.conv_layer_names(8))
    masks = sj.halves(8, 8)

    @jax.jit
    def amp(vv):
        one = tag_spectrum_fn(lambda x: model.apply(vv, x, train=False), masks, TAGS)
        return jax.vmap(lambda x, t: jnp.abs(one(x, t)["coef"]).sum())(jnp.asarray(images), jnp.asarray(labels))

    eps = 1e-3  # small enough that the gate's curvature stays within the tolerance
    for layer, c in (("stem", 1), ("stage3_block0/conv1", 5)):
        plus, minus = np.asarray(amp(_gated(v, layer, c, 1 + eps))), np.asarray(amp(_gated(v, layer, c, 1 - eps)))
        fd = np.abs((plus - minus) / (2 * eps)).mean()
        np.testing.assert_allclose(scores[layer][c], fd, rtol=2e-2, atol=1e-5)
    assert all(np.all(s >= 0) and np.all(np.isfinite(s)) for s in scores.values())
    assert max(float(s.max()) for s in scores.values()) > 0


def test_tag_decision_in_the_scores_interface(tiny):
    model, v, images, labels = tiny
    assert "tag_decision" in S.methods(2)
    design = sj.Design(TAGS)
    via = S.importance("tag_decision", model, v, images, labels, design=design)
    direct = S.decision_scores(model, v, images, labels, tags=TAGS)
    for k in direct:
        np.testing.assert_allclose(via[k], direct[k], rtol=1e-5)
    # without labels the targets are the predictions
    pred = np.asarray(jnp.argmax(model.apply(v, images, train=False), -1)).astype(np.int32)
    np.testing.assert_allclose(S.importance("tag_decision", model, v, images, design=design)["stem"],
                               S.decision_scores(model, v, images, pred, tags=TAGS)["stem"], rtol=1e-5)
    with pytest.raises(ValueError, match="labels"):
        S.decision_scores(model, v, images, np.array([0, 3]), tags=TAGS)
    with pytest.raises(ValueError, match="tags"):
        S.decision_scores(model, v, images, masks=sj.quadrants(8, 8))
