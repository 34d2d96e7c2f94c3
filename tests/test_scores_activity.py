"""Activity scores as reductions of the image loop: mean activation, HRank and Taylor against NumPy, per-image rows."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_close

import ssvepjax as sj
from ssvepjax import scores as S


@pytest.fixture(scope="module")
def tiny(scored_tiny):
    return scored_tiny


def _acts(model, v, images, site="post"):
    _, st = jax.jit(lambda v, x: model.apply(v, x, mutable=["intermediates"]))(v, images)
    flat = sj.flatten_intermediates(st["intermediates"], squeeze_batch=False)
    return {k.removesuffix(f"/{site}"): np.asarray(a, np.float64) for k, a in flat.items() if k.endswith(site)}


def test_mean_activation_and_hrank_match_numpy(tiny):
    model, v, images, _ = tiny
    res = S.importance(("mean_activation", "hrank"), model, v, images, chunk_size=4)
    acts = _acts(model, v, images)
    for name, a in acts.items():
        assert_close(res["mean_activation"][name], np.abs(a).mean((0, 1, 2)))
        maps = np.moveaxis(a, -1, 1)
        ranks = np.array([[np.linalg.matrix_rank(maps[i, c]) for c in range(a.shape[-1])] for i in range(len(a))])
        assert_close(res["hrank"][name], ranks.mean(0))
    # A known case: a black image makes every stem map constant, ReLU(BN bias - BN scale * mean / std), of rank
    # 1 where that constant is positive and 0 where it is not.
    black = S.importance("hrank", model, v, np.zeros_like(images[:2]))["stem"]
    bn, stats = v["params"]["stem"]["bn"], v["batch_stats"]["stem"]["bn"]
    level = np.asarray(bn["bias"]) - np.asarray(bn["scale"]) * np.asarray(stats["mean"]) / np.sqrt(
        np.asarray(stats["var"]) + 1e-5)
    assert 0 < (level > 0).sum() < len(level)  # both cases occur
    np.testing.assert_array_equal(black, (level > 0).astype(np.float32))


def test_taylor_matches_per_example_loop(tiny):
    model, v, images, labels = tiny
    res = S.importance("taylor", model, v, images, labels, chunk_size=4)

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
    red = S.combine({"m": S.mean_activation_reduction(S.sown_activations(model, v)), "t": S.taylor_reduction(model, v)})
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


def test_per_image_rows_are_each_image_alone(tiny):
    """Rows land at their image's index across padded chunks, and average to the score over the images."""
    model, v, images, labels = tiny
    methods = ("mean_activation", "hrank", "taylor")
    rows = S.importance(methods, model, v, images, labels, per_image=True, chunk_size=4)
    mean = S.importance(methods, model, v, images, labels, chunk_size=4)
    for i in (0, 5):  # first chunk, and the padded second chunk
        one = S.importance(methods, model, v, images[i:i + 1], labels[i:i + 1])
        for m in methods:
            for name in one[m]:
                assert_close(rows[m][name][i], one[m][name], rtol=1e-5, atol=1e-9)
    for m in methods:
        for name, r in rows[m].items():
            assert r.shape == (6, mean[m][name].shape[0])
            assert_close(r.mean(0), mean[m][name], rtol=1e-4, atol=1e-9)


def test_mean_activation_of_a_frame_function(images):
    fn = lambda f: {"x": f * jnp.array([1.0, -2.0])}
    x = np.concatenate([images, images], -1)[..., :1]
    got = S.importance("mean_activation", None, None, x, fn=fn, per_image=True, chunk_size=1)["x"]
    assert_close(got, [[1.0, 2.0], [0.5, 1.0]])
    assert_close(S.importance("mean_activation", None, None, x, fn=fn)["x"], [0.75, 1.5])
    with pytest.raises(ValueError, match="chunk_size"):
        S.importance("mean_activation", None, None, x, fn=fn, chunk_size=0)
    with pytest.raises(ValueError, match="not an output of fn"):
        S.importance("mean_activation", None, None, x, fn=fn, layers=["y"])


@pytest.fixture(scope="module")
def images():
    x = np.ones((2, 4, 4, 1), np.float32)
    x[1] *= 0.5
    return x
