import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init
from flax import nnx

import ssvepjax as sj
from ssvepjax import pruning as P
from ssvepjax import scores as S
from ssvepjax.models import VGG, ImageNetResNet, VisionTransformer
from ssvepjax.models.cifar_resnet import conv_layer_names


def _written_out_groups(depth, width):
    """The CIFAR ResNet's groups by hand (the topology the traced analysis replaced): first convs alone,
    then each residual-stream channel followed through option-A shortcuts (channel j -> j + pad // 2)."""
    n = (depth - 2) // 6
    streams = [width, 2 * width, 4 * width]
    layers = conv_layer_names(depth)
    groups = [((layer, j),) for layer in layers if layer.endswith("/conv1")
              for j in range(streams[int(layer[5]) - 1])]
    groups = [(g, g[0][0]) for g in groups]
    out = [(g, fam) for g, fam in groups]
    stream_layers = [["stem"] + [f"stage1_block{b}/conv2" for b in range(n)]] + \
        [[f"stage{s + 1}_block{b}/conv2" for b in range(n)] for s in (1, 2)]
    reached = [set(), set(), set()]
    for start in range(3):
        for j in range(streams[start]):
            if j in reached[start]:
                continue
            members, c = [], j
            for s in range(start, 3):
                reached[s].add(c)
                members += [(layer, c) for layer in stream_layers[s]]
                if s < 2:
                    c = c + (streams[s + 1] - streams[s]) // 2
            out.append((tuple(members), f"stream{start + 1}"))
    return out


@pytest.mark.parametrize("depth", [8, 14])
def test_traced_groups_equal_written_out_cifar_topology(depth):
    model = sj.CifarResNet(depth=depth, num_classes=3, width=4)
    graph = P.trace(model, None, (8, 8, 1))
    assert list(graph.layers) == conv_layer_names(depth)
    got = [(tuple(sorted(g.members)), g.family) for g in graph.groups]
    want = [(tuple(sorted(m)), f) for m, f in _written_out_groups(depth, 4)]
    assert got == want


def _noisy(variables, seed=0):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + 0.3 * jnp.abs(jnp.asarray(rng.normal(size=np.shape(a)), jnp.result_type(a))),
                        variables)


def _scores(graph, seed=1):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(size=w) for name, w in zip(graph.layers, graph.widths)}


class _Branchy(nn.Module):
    """Grouped and depthwise convs, a concatenation of two branches and flattening into a dense layer."""

    @nn.compact
    def __call__(self, x, train=False):
        x = nn.relu(nn.Conv(8, (3, 3), name="stem")(x))
        a = nn.relu(nn.Conv(8, (3, 3), feature_group_count=2, name="grouped")(x))
        b = nn.relu(nn.Conv(16, (3, 3), feature_group_count=8, name="depthwise")(x))
        y = jnp.concatenate([a, b], axis=-1)
        y = nn.BatchNorm(use_running_average=True, name="bn")(y)
        y = nn.relu(nn.Conv(6, (1, 1), name="mix")(y))
        y = nn.max_pool(y, (2, 2), (2, 2))
        return nn.Dense(3, name="head")(y.reshape(y.shape[0], -1))


class _NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.conv1 = nnx.Conv(3, 6, (3, 3), rngs=rngs)
        self.bn = nnx.BatchNorm(6, use_running_average=True, rngs=rngs)
        self.conv2 = nnx.Conv(6, 5, (3, 3), rngs=rngs)
        self.fc = nnx.Linear(5, 7, rngs=rngs)
        self.out = nnx.Linear(7, 2, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn(self.conv1(x)))
        x = nnx.relu(self.conv2(x)).mean(axis=(1, 2))
        return self.out(nnx.gelu(self.fc(x)))


def _linen_case(name):
    if name == "resnet50_bottlenecks":
        return ImageNetResNet(stage_sizes=(1, 1), width=4, num_classes=5), (16, 16, 3), "grouped"
    if name == "vit":
        return VisionTransformer(patch_size=4, dim=16, depth=2, heads=4, mlp_ratio=2, num_classes=3), (8, 8, 3), \
            "internal"
    if name == "vgg":  # torchvision's layout: conv stages, adaptive pooling to 7 x 7, flattened into dense layers
        return VGG(stages=((4,), (4, 6)), batch_norm=True, num_classes=3, hidden=8), (8, 8, 3), "grouped"
    return _Branchy(), (8, 8, 3), "grouped"


@pytest.mark.parametrize("name", ["resnet50_bottlenecks", "vit", "vgg", "branchy"])
def test_pruned_model_equals_masked_model_linen(name):
    model, shape, policy = _linen_case(name)
    x = jnp.asarray(np.random.default_rng(2).uniform(size=(3, *shape)), jnp.float32)
    v = _noisy(jit_init(model, 0, x))
    graph = P.trace(model, v, shape) if name == "branchy" else model
    keep = P.keep_masks(_scores(P.topology(graph)), graph, 0.5, policy=policy)
    masked = P.apply_masks(v, keep, graph)
    small, sv = P.prune(graph, v, keep)
    apply = jax.jit(lambda v, x: model.apply(v, x))
    a = apply(masked, x)
    b = jax.jit(small.apply)(sv, x)
    assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(a)).max() > 1e-3
    # The masked model really differs from the original, and the smaller one really is smaller.
    assert np.abs(np.asarray(apply(v, x) - a)).max() > 1e-4
    assert sum(np.size(t) for t in jax.tree.leaves(sv)) < sum(np.size(t) for t in jax.tree.leaves(v))
    assert P.flops((small, sv), shape) < P.flops(model, shape)


def test_pruned_model_equals_masked_model_nnx():
    model = _NNXNet(nnx.Rngs(0))
    _, state = nnx.split(model)
    state = _noisy(state)
    nnx.update(model, state)
    graph = P.trace(model, None, (6, 6, 3))
    assert graph.layers == ("conv1", "conv2", "fc")  # "out" writes the logits
    keep = P.keep_masks(_scores(graph), graph, 0.4)
    masked = P.apply_masks(state, keep, graph)
    small, sv = P.prune(graph, state, keep)
    x = jnp.asarray(np.random.default_rng(3).uniform(size=(2, 6, 6, 3)), jnp.float32)
    # Every call jitted (run eagerly, each compiles its operations one by one).
    run = jax.jit(lambda s, x: nnx.merge(nnx.graphdef(model), s)(x))
    m2 = run(masked, x)
    assert_close(jax.jit(small.apply)(sv, x), m2, rtol=1e-4, atol=1e-5)
    assert np.abs(np.asarray(run(state, x) - m2)).max() > 1e-4


def test_grouped_depthwise_and_concatenation_groups():
    graph = P.trace(_Branchy(), None, (8, 8, 3))
    # Depthwise (8 groups, 2 filters each): stem channel g goes with depthwise filters 2g, 2g + 1; the 2-group
    # conv also reads the stem, and ties its input channel i to channel i + 4 (groups keep equal sizes).
    g0 = [g for g in graph.groups if ("stem", 3) in g.members][0]
    assert set(g0.members) == {("stem", 3), ("stem", 7), ("depthwise", 6), ("depthwise", 7), ("depthwise", 14),
                               ("depthwise", 15)}
    # Its outputs likewise: filter i with filter i + 4. The concatenation shifts the depthwise channels by 8 for
    # "mix", whose kernel rows are sliced with them (checked by the pruned == masked test).
    assert {("grouped", 1), ("grouped", 5)} == set([g for g in graph.groups if ("grouped", 1) in g.members][0].members)
    assert graph.layers == ("stem", "grouped", "depthwise", "mix")  # the head writes the logits: fixed
    assert len(graph.groups) == 4 + 4 + 6


def test_attention_heads_are_groups():
    model = VisionTransformer(patch_size=4, dim=16, depth=1, heads=4, mlp_ratio=2, num_classes=3)
    graph = P.topology(model)
    heads = [g for g in graph.groups if g.family == "block0/attention/qkv"]
    assert len(heads) == 4
    want = {("block0/attention/qkv", a * 16 + h * 4 + d) for a in range(3) for h in (2,) for d in range(4)}
    assert set(heads[2].members) == want
    assert len([g for g in graph.groups if g.family == "block0/fc1"]) == 32
    stream = [g for g in graph.groups if g.family == "stream1"]
    assert len(stream) == 16 and {layer for layer, _ in stream[0].members} >= {"patch_embed", "block0/attention/proj",
                                                                                "block0/fc2"}


class _Cumsum(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        y = jnp.cumsum(nn.Conv(4, (3, 3), name="conv_a")(x), axis=-1)
        return nn.Dense(2, name="head")(y.mean(axis=(1, 2)))


def test_unknown_operation_on_a_pruned_axis_is_refused():
    with pytest.raises(ValueError, match=r"cumsum.*conv_a"):
        P.trace(_Cumsum(), None, (6, 6, 1))


def test_bad_input_raises():
    graph = P.trace(_Branchy(), None, (8, 8, 3))
    s = _scores(graph)
    for f in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            P.keep_masks(s, graph, f)
    with pytest.raises(ValueError, match="shape"):
        P.keep_masks({**s, "mix": np.ones(5)}, graph, 0.5)
    with pytest.raises(ValueError, match="unknown layer"):
        P.keep_masks({**s, "head": np.ones(3)}, graph, 0.5)
    with pytest.raises(ValueError, match="coupled"):
        P.apply_masks({}, {"grouped": np.arange(8) != 1}, graph)
    with pytest.raises(ValueError, match="input_shape"):
        P.trace(_Branchy(), None, (8, 0, 3))
    with pytest.raises(ValueError, match="model"):
        P.topology(_Branchy())


def test_tag_scores_read_heads_units_and_filters_from_their_outputs():
    model = VisionTransformer(patch_size=4, dim=8, depth=1, heads=2, mlp_ratio=2, num_classes=3)
    v = _noisy(jit_init(model, 0, jnp.ones((1, 8, 8, 1))))
    images = np.random.default_rng(4).uniform(size=(2, 8, 8, 1)).astype(np.float32)
    design = sj.Design(sj.TagConfig((6.0, 7.5), 120.0, 240))
    s = S.importance("tag_all", model, v, images, layers=P.topology(model, v).layers, site="output",
                     masks=sj.halves(8, 8), design=design)
    graph = P.topology(model, v)
    assert set(s) == set(graph.layers) and all(s[k].shape == (graph.width_of(k),) for k in s)
    assert all(np.all(np.isfinite(a)) and np.all(a >= 0) for a in s.values()) and s["patch_embed"].max() > 0
    # The same numbers as tag_scores over a function returning the qkv output by hand.
    def qkv(frame):
        _, st = model.apply(v, frame[None], capture_intermediates=True, mutable=["intermediates"])
        return {"q": st["intermediates"]["block0"]["attention"]["qkv"]["__call__"][0][0]}
    ref = S.tag_scores(qkv, images, sj.halves(8, 8), design, "all", measure="bca+")["q"]
    assert_close(s["block0/attention/qkv"], ref, rtol=1e-5, atol=1e-9)
    heads = P.group_scores(s, [g for g in graph.groups if g.family == "block0/attention/qkv"])
    assert heads.shape == (2,) and np.all(heads >= 0)
    keep = P.keep_masks(s, model, 0.5, policy="internal")
    assert keep["block0/attention/qkv"].sum() == 12  # one of two heads: its 3 x 4 columns
