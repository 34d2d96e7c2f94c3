import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init

import ssvepjax as sj
from ssvepjax import pruning as P
from ssvepjax.models.cifar_resnet import layer_widths


def _tiny(depth=8, width=4, seed=0):
    model = sj.CifarResNet(depth=depth, num_classes=3, width=width)
    v = jit_init(model, seed, jnp.ones((1, 8, 8, 1)))
    # Non-trivial batch-norm statistics and affine parameters, so a wrong slice shows up.
    rng = np.random.default_rng(seed)
    v = jax.tree_util.tree_map_with_path(
        lambda p, a: a + (0.3 if "var" not in str(p[-1]) else 0.5) * jnp.abs(jnp.asarray(rng.normal(size=a.shape),
                                                                                          a.dtype)), v)
    return model, v


def _scores(model, seed=1):
    topo = P.topology(model)
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(size=w) for name, w in zip(topo.layers, topo.widths)}


def _images(n=3, seed=2):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(n, 8, 8, 1)), jnp.float32)


def test_explicit_standard_widths_change_nothing():
    model, v = _tiny(depth=14)
    topo = P.topology(model)
    explicit = sj.CifarResNet(14, 3, 4, widths=topo.widths, shortcut_channels=topo.shortcut_channels)
    x = _images()
    v2 = jit_init(explicit, 0, x)
    assert jax.tree.structure(v2) == jax.tree.structure(v)
    a, sa = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))(v, x)
    b, sb = jax.jit(lambda v, x: explicit.apply(v, x, mutable=["intermediates"]))(v, x)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for la, lb in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
        np.testing.assert_array_equal(np.asarray(la), np.asarray(lb))


def test_groups_follow_residual_streams_through_option_a_shortcuts():
    model, _ = _tiny(depth=14)  # n = 2 blocks per stage, widths 4 / 8 / 16
    groups = P.channel_groups(model)
    fam = {}
    for g in groups:
        fam.setdefault(g.family, []).append(g)
    assert len(fam["stream1"]) == 4 and len(fam["stream2"]) == 4 and len(fam["stream3"]) == 8
    # Stage-1 channel 0 lands on stage-2 channel 2 (pad 4 // 2) and on stage-3 channel 4 + 2 = 6.
    g0 = fam["stream1"][0]
    assert set(g0.members) == {("stem", 0), ("stage1_block0/conv2", 0), ("stage1_block1/conv2", 0),
                               ("stage2_block0/conv2", 2), ("stage2_block1/conv2", 2),
                               ("stage3_block0/conv2", 6), ("stage3_block1/conv2", 6)}
    # Every filter of every layer is in exactly one group.
    topo = P.topology(model)
    seen = [m for g in groups for m in g.members]
    assert len(seen) == len(set(seen)) == sum(topo.widths)
    internal = P.channel_groups(model, "internal")
    assert all(g.family.endswith("/conv1") and len(g.members) == 1 for g in internal)
    assert len(internal) == 2 * (4 + 8 + 16)


def test_keep_masks_layer_budget_removes_that_share_everywhere():
    model, _ = _tiny(depth=14)
    keep = P.keep_masks(_scores(model), model, 0.5)
    topo = P.topology(model)
    for name, w in zip(topo.layers, topo.widths):
        assert keep[name].sum() == w // 2
    assert P.removed_filters(keep, model) == 0.5
    # The lowest-scored first-conv filters go.
    s = _scores(model)["stage2_block1/conv1"]
    assert set(np.flatnonzero(~keep["stage2_block1/conv1"])) == set(np.argsort(s)[:4])
    internal = P.keep_masks(_scores(model), model, 0.5, policy="internal")
    assert internal["stem"].all() and internal["stage3_block0/conv2"].all()
    assert internal["stage3_block0/conv1"].sum() == 8


def test_keep_masks_global_and_per_set_budgets():
    model, _ = _tiny(depth=14)
    topo = P.topology(model)
    total = sum(topo.widths)
    for f in (0.2, 0.5, 0.8):
        keep = P.keep_masks(_scores(model), model, f, budget="global")
        removed = P.removed_filters(keep, model) * total
        assert removed <= np.floor(f * total) and removed >= np.floor(f * total) - 7  # largest group: 7 filters
        assert all(m.any() for m in keep.values())
    keep = P.keep_masks(_scores(model), model, {"stream3": 0.5, "stage1_block0/conv1": 0.25})
    assert keep["stage3_block0/conv2"].sum() == 12 and keep["stage1_block0/conv1"].sum() == 3
    assert keep["stage2_block0/conv1"].all() and keep["stem"].all()


def test_group_scores_normalise_layers_by_their_mean():
    model, _ = _tiny()
    groups = P.channel_groups(model)
    scores = _scores(model)
    scores["stage3_block0/conv1"] = scores["stage3_block0/conv1"] * 1000.0
    gs = P.group_scores(scores, groups)
    i = [k for k, g in enumerate(groups) if g.members == (("stage3_block0/conv1", 3),)][0]
    s = scores["stage3_block0/conv1"]
    assert_close(gs[i], s[3] / s.mean())
    j = [k for k, g in enumerate(groups) if ("stem", 1) in g.members][0]
    ref = np.mean([scores[layer][c] / scores[layer].mean() for layer, c in groups[j].members])
    assert_close(gs[j], ref)


@pytest.mark.parametrize(("policy", "depth"), [("internal", 8), ("grouped", 8), ("grouped", 14)])
def test_pruned_model_equals_masked_model(policy, depth):
    model, v = _tiny(depth=depth)
    keep = P.keep_masks(_scores(model), model, 0.5, policy=policy)
    masked = P.apply_masks(v, keep, model)
    small, sv = P.prune(model, v, keep)
    x = _images(4)
    a, sa = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))(masked, x)
    b, sb = jax.jit(lambda v, x: small.apply(v, x, mutable=["intermediates"]))(sv, x)
    assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert np.abs(np.asarray(a)).max() > 1e-3
    fa = sj.flatten_intermediates(sa["intermediates"], squeeze_batch=False)
    fb = sj.flatten_intermediates(sb["intermediates"], squeeze_batch=False)
    for name, m in keep.items():
        for site in ("pre", "post"):
            key = f"{name}/{site}"
            # Kept channels equal; removed channels of the masked model are exactly 0 (the stream is dead too).
            assert_close(fb[key], np.asarray(fa[key])[..., m], rtol=1e-5, atol=1e-6)
            assert np.all(np.asarray(fa[key])[..., ~m] == 0)
    assert sj.param_count(small, (8, 8, 1)) < sj.param_count(model, (8, 8, 1))


def test_prune_twice_composes():
    model, v = _tiny(depth=14)
    k1 = P.keep_masks(_scores(model), model, 0.25)
    m1, v1 = P.prune(model, v, k1)
    k2 = P.keep_masks(_scores(m1, seed=3), m1, 0.5)
    m2, v2 = P.prune(m1, v1, k2)
    x = _images()
    assert_close(jax.jit(m2.apply)(v2, x), jax.jit(m1.apply)(P.apply_masks(v1, k2, m1), x), rtol=1e-5, atol=1e-6)


def test_second_conv_alone_is_refused_and_stream_dies_with_its_group():
    model, v = _tiny()
    keep = {"stage1_block0/conv2": np.array([True, False, True, True])}
    with pytest.raises(ValueError, match="residual stream"):
        P.apply_masks(v, keep, model)
    with pytest.raises(ValueError, match="residual stream"):
        P.prune(model, v, keep)
    g = [g for g in P.channel_groups(model) if ("stem", 1) in g.members][0]
    topo = P.topology(model)
    group = {layer: np.ones(topo.width_of(layer), bool) for layer, _ in g.members}
    for layer, c in g.members:
        group[layer][c] = False
    _, st = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))(P.apply_masks(v, group, model),
                                                                                _images())
    inter = st["intermediates"]
    # The old masking left this channel alive through the shortcut (post-activation up to 0.78 in the
    # trained ResNet-32); removed as a group, it is 0 in stage 1 and where its shortcut lands in stage 2.
    assert np.all(np.asarray(inter["stage1_block0"]["conv2"]["post"][0])[..., 1] == 0)
    assert np.all(np.asarray(inter["stage2_block0"]["conv2"]["post"][0])[..., 2 + 1] == 0)
    assert np.abs(np.asarray(inter["stage2_block0"]["conv2"]["post"][0])).max() > 0


def test_bad_input_raises():
    model, v = _tiny()
    s = _scores(model)
    for f in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            P.keep_masks(s, model, f)
    with pytest.raises(ValueError, match="unknown layer"):
        P.keep_masks({**s, "nope": np.ones(4)}, model, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        P.keep_masks({**s, "stem": np.array([1.0, np.nan, 0.0, 1.0])}, model, 0.5)
    with pytest.raises(ValueError, match="shape"):
        P.keep_masks({**s, "stem": np.ones(3)}, model, 0.5)
    with pytest.raises(ValueError, match="budget"):
        P.keep_masks(s, model, 0.5, budget="net")
    with pytest.raises(ValueError, match="policy"):
        P.keep_masks(s, model, 0.5, policy="all")
    with pytest.raises(ValueError, match="unknown budget sets"):
        P.keep_masks(s, model, {"stream9": 0.5})
    with pytest.raises(ValueError, match="can remove"):
        P.keep_masks(s, model, 0.9, budget="global", policy="internal")
    with pytest.raises(ValueError, match="every filter"):
        P.prune(model, v, {"stage1_block0/conv1": np.zeros(4, bool)})
    with pytest.raises(ValueError, match="unknown layer"):
        P.apply_masks(v, {"nope": np.ones(4, bool)}, model)
    with pytest.raises(ValueError, match="CifarResNet"):
        P.topology(object())
    with pytest.raises(ValueError, match="widths"):
        layer_widths(8, 4, (4, 4, 5, 8, 8, 16, 16))  # stem and stage-1 second conv disagree
    with pytest.raises(ValueError, match="widths"):
        layer_widths(8, 4, (4, 4, 4, 8, 8, 16))
