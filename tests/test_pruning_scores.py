import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close, jit_init

import ssvepjax as sj
from ssvepjax import pruning as P

TAGS = sj.TagConfig((6.0, 7.5), 120.0, 240)


@pytest.fixture(scope="module")
def tiny(tiny3):
    model, v = tiny3
    rng = np.random.default_rng(0)
    v = jax.tree_util.tree_map_with_path(
        lambda p, a: a + 0.2 * jnp.abs(jnp.asarray(rng.normal(size=a.shape), a.dtype)), v)
    images = rng.uniform(size=(6, 8, 8, 1)).astype(np.float32)
    labels = rng.integers(0, 3, size=6).astype(np.int32)
    return model, v, images, labels


def _acts(model, v, images, site="post"):
    _, st = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))(v, images)
    flat = sj.flatten_intermediates(st["intermediates"], squeeze_batch=False)
    return {k.removesuffix(f"/{site}"): np.asarray(a, np.float64) for k, a in flat.items() if k.endswith(site)}


def test_data_free_scores_match_numpy(tiny):
    model, v, _, _ = tiny
    names = sj.conv_layer_names(8)
    l1 = P.importance("l1", model, v)
    bn = P.importance("bn_scale", model, v)
    assert sorted(l1) == sorted(names)
    k = np.asarray(v["params"]["stage2_block0"]["conv1"]["conv"]["kernel"], np.float64)
    assert_close(l1["stage2_block0/conv1"], np.abs(k).sum((0, 1, 2)))
    assert_close(bn["stem"], np.abs(np.asarray(v["params"]["stem"]["bn"]["scale"])))
    r0, r1 = P.importance("random", model, v, seed=0), P.importance("random", model, v, seed=1)
    assert_close(r0["stem"], P.importance("random", model, v, seed=0)["stem"])
    assert not np.allclose(r0["stem"], r1["stem"])


def test_mean_activation_and_hrank_match_numpy(tiny):
    model, v, images, _ = tiny
    res = P.importance(("mean_activation", "hrank"), model, v, images, chunk_size=4)
    acts = _acts(model, v, images)
    for name, a in acts.items():
        assert_close(res["mean_activation"][name], np.abs(a).mean((0, 1, 2)))
        maps = np.moveaxis(a, -1, 1)
        ranks = np.array([[np.linalg.matrix_rank(maps[i, c]) for c in range(a.shape[-1])] for i in range(len(a))])
        assert_close(res["hrank"][name], ranks.mean(0))
    # A known case: a black image makes every stem map constant, ReLU(BN bias - BN scale * mean / std), of rank
    # 1 where that constant is positive and 0 where it is not.
    black = P.importance("hrank", model, v, np.zeros_like(images[:2]))["stem"]
    bn, stats = v["params"]["stem"]["bn"], v["batch_stats"]["stem"]["bn"]
    level = np.asarray(bn["bias"]) - np.asarray(bn["scale"]) * np.asarray(stats["mean"]) / np.sqrt(
        np.asarray(stats["var"]) + 1e-5)
    assert 0 < (level > 0).sum() < len(level)  # both cases occur
    np.testing.assert_array_equal(black, (level > 0).astype(np.float32))


def test_taylor_matches_per_example_loop(tiny):
    model, v, images, labels = tiny
    res = P.importance("taylor", model, v, images, labels, chunk_size=4)

    def loss(p, x, y):
        logits = model.apply({**v, "params": p}, x[None], train=False)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[None]).sum()

    grad = jax.jit(jax.grad(loss))
    total = {}
    for x, y in zip(images, labels):
        g = grad(v["params"], x, y)
        for name in sj.conv_layer_names(8):
            path = name.split("/")
            bn_p = v["params"]
            bn_g = g
            for key in path:
                bn_p, bn_g = bn_p[key], bn_g[key]
            t = (np.asarray(bn_p["bn"]["scale"]) * np.asarray(bn_g["bn"]["scale"])
                 + np.asarray(bn_p["bn"]["bias"]) * np.asarray(bn_g["bn"]["bias"])) ** 2
            total[name] = total.get(name, 0) + t / len(images)
    for name in total:
        assert_close(res[name], total[name], rtol=1e-3, atol=1e-9)
    assert max(s.max() for s in res.values()) > 0


def test_reduction_merge_equals_one_pass_and_padding_is_ignored(tiny):
    model, v, images, labels = tiny
    red = P.combine({"m": P.mean_activation_reduction(model, v), "t": P.taylor_reduction(model, v)})
    batch = {"image": jnp.asarray(images), "label": jnp.asarray(labels)}
    example = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), batch)
    upd = jax.jit(red.update)
    ones = jnp.ones(3, jnp.float32)
    a = upd(red.init(example), jax.tree.map(lambda x: x[:3], batch), ones)
    b = upd(red.init(example), jax.tree.map(lambda x: x[3:], batch), ones)
    whole = red.finalize(jax.jit(red.update)(red.init(example), batch, jnp.ones(6, jnp.float32)))
    merged = red.finalize(jax.jit(red.merge)(a, b))
    for k in whole:
        for name in whole[k]:
            assert_close(merged[k][name], whole[k][name], rtol=1e-4, atol=1e-9)
    # Chunks of 4 pad the last chunk with two zero-weight examples.
    looped = sj.reduce_dataset(batch, red, chunk_size=4, progress=False)
    for k in whole:
        for name in whole[k]:
            assert_close(looped[k][name], whole[k][name], rtol=1e-4, atol=1e-9)


def test_tag_scores_rank_responsive_filters_first():
    # filter 0 follows the left part (f1), 1 is constant, 2 squares the sum (f1, f2 and intermodulation),
    # 3 follows the right part (f2).
    def fn(frame):
        left, right = frame[0, 0, 0], frame[0, 1, 0]
        return {"layer": jnp.stack([left, jnp.float32(0.3), (left + right) ** 2, right])[None, None]}

    images = np.random.default_rng(1).uniform(0.3, 1.0, size=(2, 1, 2, 1)).astype(np.float32)
    design = sj.Design(TAGS)
    s = P.tag_scores(fn, images, sj.halves(1, 2), design, ("harmonic", "intermodulation", "tag1", "tag2",
                                                          "significant", "all"))
    h, im, t1, t2 = (s[k]["layer"] for k in ("harmonic", "intermodulation", "tag1", "tag2"))
    assert h[1] == 0 and h[0] > 0 and h[2] > 0 and h[3] > 0
    assert im[0] == im[1] == im[3] == 0 and im[2] > 0
    assert t1[0] > 0 and t1[3] == 0 and t2[3] > 0 and t2[0] == 0
    # A linear unit's summed BCA is its fundamental's amplitude minus the noise mean (0 off the tags):
    # 0.25 * the mean left pixel.
    assert_close(t1[0], 0.25 * images[:, 0, 0, 0].mean(), rtol=1e-3)
    assert np.all(s["all"]["layer"] >= s["significant"]["layer"] - 1e-9)
    maps = P.tag_scores(fn, images, sj.halves(1, 2), design, "tag1", per_neuron=True)
    assert maps["layer"].shape == (1, 1, 4)
    # One image: amplitude scores need no test across images; "significant" does, and says so.
    one = P.tag_scores(fn, images[:1], sj.halves(1, 2), design, "tag1")["layer"]
    assert_close(one[0], 0.25 * images[0, 0, 0, 0], rtol=1e-3)
    with pytest.raises(ValueError, match="at least 2 images"):
        P.tag_scores(fn, images[:1], sj.halves(1, 2), design, "significant")


def test_importance_tag_methods_on_a_cifar_resnet(tiny):
    model, v, images, _ = tiny
    design = sj.Design(sj.TagConfig((6.0, 7.5), 120.0, 80))
    res = P.importance(("tag_harmonic", "tag1", "tag2"), model, v, images[:2], design=design)
    assert set(res["tag_harmonic"]) == set(sj.conv_layer_names(8))
    topo = P.topology(model)
    for d in res.values():
        for name, s in d.items():
            assert s.shape == (topo.width_of(name),) and np.all(s >= 0) and np.all(np.isfinite(s))
    # The harmonics of both tags are the harmonics of tag 1 plus those of tag 2 (no shared harmonic bin
    # below 30 Hz; 30 Hz is 5 f1 = 4 f2, left out of both).
    for name in res["tag1"]:
        assert_close(res["tag1"][name] + res["tag2"][name], res["tag_harmonic"][name], rtol=1e-5, atol=1e-9)
    for kind in ("tag_harmonic", "tag1", "tag2"):  # each responds somewhere: the sum above is not 0 = 0 + 0
        assert max(s.max() for s in res[kind].values()) > 0, kind


class _Dense(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def test_bad_input_raises(tiny):
    model, v, images, labels = tiny
    with pytest.raises(ValueError, match="unknown method"):
        P.importance("magnitude", model, v, images)
    with pytest.raises(ValueError, match="need images"):
        P.importance("hrank", model, v)
    with pytest.raises(ValueError, match="labels"):
        P.importance("taylor", model, v, images)
    with pytest.raises(ValueError, match="NaN"):
        P.importance("mean_activation", model, v, np.full_like(images, np.nan))
    with pytest.raises(ValueError, match="site"):
        P.importance("hrank", model, v, images, site="middle")
    dense = _Dense()
    dv = jit_init(dense, 0, jnp.ones((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="no conv layer"):
        P.importance("l1", dense, dv)
    with pytest.raises(ValueError, match="kind"):
        P.tag_scores(lambda f: {"a": f}, images[:1], sj.halves(8, 8), sj.Design(), "tag3")
    with pytest.raises(ValueError, match="chunk_size"):
        sj.reduce_dataset({"image": images}, P.mean_activation_reduction(model, v), chunk_size=0)
