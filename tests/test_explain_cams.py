"""Class-activation maps: closed forms on a linear model, Linen and NNX taps, vmap == loop, bad input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close, jit_init
from flax import nnx

import ssvepjax as sj
from ssvepjax.explain import cams as C

H, W, CH, F, K = 6, 5, 2, 4, 3  # image, channels, filters of the tapped layer, classes


class Feat(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Conv(F, (3, 3), padding=1, name="conv")(x)


class Body(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(F, (3, 3), padding=1, name="conv")(x))


class Net(nn.Module):
    """image -> feat (linear conv) -> body (conv + relu) -> mean over positions -> dense."""

    @nn.compact
    def __call__(self, x):
        a = Feat(name="feat")(x)
        b = Body(name="body")(a)
        return nn.Dense(K, name="head")(b.mean((1, 2)))


@pytest.fixture(scope="module")
def net():
    module = Net()
    variables = jit_init(module, 0, jnp.zeros((1, H, W, CH)))
    return module, variables


@pytest.fixture(scope="module")
def images():
    return np.asarray(jax.random.uniform(jax.random.key(1), (3, H, W, CH)))


def np_cam(a, g, method, m=None):
    """NumPy reference of the four methods (float64)."""
    a, g = np.asarray(a, np.float64), np.asarray(g, np.float64)
    m = np.ones(a.shape[-1]) if m is None else np.asarray(m, np.float64)
    if method == "gradcam":
        return np.maximum((a * (g.mean((0, 1)) * m)).sum(-1), 0)
    if method == "gradcam++":
        denom = 2 * g**2 + a.sum((0, 1)) * g**3
        alpha = np.where(denom != 0, g**2 / np.where(denom != 0, denom, 1), 0)
        w = (alpha * np.maximum(g, 0)).sum((0, 1))
        return np.maximum((a * (w * m)).sum(-1), 0)
    if method == "layercam":
        return np.maximum((np.maximum(g, 0) * a * m).sum(-1), 0)
    x = (a * m).reshape(-1, a.shape[-1])
    xc = x - x.mean(0)
    v = np.linalg.svd(xc, full_matrices=False)[2][0]
    p = xc @ v
    t = x.sum(1)
    if p @ (t - t.mean()) < 0:
        p = -p
    return np.maximum(p, 0).reshape(a.shape[:2])


def test_linear_head_closed_form():
    """A layer feeding mean-pool + dense has G = W[:, k] / (h w) everywhere: every method in closed form."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3, F)).astype(np.float32)
    wk = rng.normal(size=F).astype(np.float32)
    g = np.broadcast_to(wk / 12.0, a.shape)
    assert_close(C.cam(a, g, "gradcam"), np.maximum(a @ (wk / 12.0), 0))
    gc = wk / 12.0
    alpha = gc**2 / (2 * gc**2 + a.sum((0, 1)) * gc**3)
    assert_close(C.cam(a, g, "gradcam++"), np.maximum(a @ (12 * np.maximum(gc, 0) * alpha), 0))
    assert_close(C.cam(a, g, "layercam"), np.maximum(a @ np.maximum(gc, 0), 0))


@pytest.mark.parametrize("method", C.METHODS)
def test_cam_matches_numpy_and_jit(method, rng):
    a = rng.normal(size=(5, 4, 6)).astype(np.float32)
    g = rng.normal(size=(5, 4, 6)).astype(np.float32)
    m = rng.uniform(size=6).astype(np.float32)
    expected = np_cam(a, g, method, m)
    assert_close(C.cam(a, g, method, m), expected, rtol=1e-4, atol=1e-5)
    assert_close(jax.jit(C.cam, static_argnums=2)(a, g, method, m), expected, rtol=1e-4, atol=1e-5)


def test_eigencam_is_first_principal_component():
    """A rank-one map u v^T: the projection is +-(u - mean u); the sign follows the summed activation."""
    u = np.linspace(0.0, 2.0, 12).reshape(4, 3)
    v = np.array([1.0, 0.5, 2.0])
    a = u[..., None] * v
    expected = (u - u.mean()) * np.linalg.norm(v)
    assert_close(C.cam(a, None, "eigencam"), np.maximum(expected, 0), rtol=1e-4, atol=1e-5)
    assert_close(C.cam(-a, None, "eigencam"), np.maximum(-expected, 0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", C.METHODS)
def test_filter_restriction(method, rng):
    a = np.abs(rng.normal(size=(5, 4, 6))).astype(np.float32)
    g = rng.normal(size=(5, 4, 6)).astype(np.float32)
    assert_close(C.cam(a, g, method, np.ones(6, bool)), C.cam(a, g, method))
    one = np.zeros(6, bool)
    one[2] = True
    if method == "eigencam":  # one filter: its own centred map, sign-aligned with the activation
        expected = np.maximum(a[..., 2] - a[..., 2].mean(), 0)
    else:
        expected = np_cam(a[..., 2:3], g[..., 2:3], method)
    assert_close(C.cam(a, g, method, one), expected, rtol=1e-4, atol=1e-5)
    # restricting to a subset equals dropping the other filters
    sub = np.array([True, False, True, True, False, False])
    assert_close(C.cam(a, g, method, sub), np_cam(a[..., sub], g[..., sub], method), rtol=1e-4, atol=1e-5)


def test_linen_tap_matches_hand_split(net, images):
    module, variables = net
    p = variables["params"]
    tap = C.linen_tap(module, variables, "feat", (H, W, CH))
    assert tap.layer_shape == (H, W, F) and tap.num_classes == K
    x = jnp.asarray(images[0])

    def rest(a):  # the network from the feat output on, applied by hand
        b = Body().apply({"params": p["body"]}, a[None])
        return nn.Dense(K).apply({"params": p["head"]}, b.mean((1, 2)))[0]

    a_ref = Feat().apply({"params": p["feat"]}, x[None])[0]
    for k in range(K):
        a, g, logits = tap.fn(x, k)
        assert_close(a, a_ref)
        assert_close(g, jax.grad(lambda a, k=k: rest(a)[k])(a_ref))
        assert_close(logits, module.apply(variables, x[None])[0])


def test_linen_cifar_resnet_last_layer(images):
    """CifarResNet's last conv output feeds mean-pool + dense: G = W[:, k] / (h w); A is the sown post."""
    module = sj.CifarResNet(depth=8, num_classes=K, width=2)
    variables = jit_init(module, 2, jnp.zeros((1, 8, 8, CH)))
    x = np.asarray(jax.random.uniform(jax.random.key(3), (2, 8, 8, CH)))
    tap = C.linen_tap(module, variables, "stage3_block0/conv2", (8, 8, CH), train=False)
    a, g, _ = C.layer_gradients(tap, x, [1, 2])
    _, state = module.apply(variables, x, mutable=["intermediates"])
    assert_close(a, state["intermediates"]["stage3_block0"]["conv2"]["post"][0])
    wk = np.asarray(variables["params"]["head"]["kernel"])
    hw = a.shape[1] * a.shape[2]
    assert_close(g[0], np.broadcast_to(wk[:, 1] / hw, a.shape[1:]))
    assert_close(g[1], np.broadcast_to(wk[:, 2] / hw, a.shape[1:]))


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.feat = nnx.Conv(CH, F, (3, 3), padding=1, rngs=rngs)
        self.blocks = nnx.List([nnx.Conv(F, F, (3, 3), padding=1, rngs=rngs)])
        self.head = nnx.Linear(F, K, rngs=rngs)

    def __call__(self, x):
        b = nnx.relu(self.blocks[0](self.feat(x)))
        return self.head(b.mean((1, 2)))


def test_nnx_tap_matches_hand_split(images):
    model = NnxNet(nnx.Rngs(0))
    x = jnp.asarray(images[1])
    for layer, split in (("feat", lambda x: model.feat(x)), ("blocks/0", lambda x: model.blocks[0](model.feat(x)))):
        tap = C.nnx_tap(model, layer, (H, W, CH))
        a_ref = split(x[None])[0]
        if layer == "feat":
            rest = lambda a: model.head(nnx.relu(model.blocks[0](a[None])).mean((1, 2)))[0]
        else:
            rest = lambda a: model.head(nnx.relu(a[None]).mean((1, 2)))[0]
        a, g, logits = tap.fn(x, 2)
        assert_close(a, a_ref)
        assert_close(g, jax.grad(lambda a, rest=rest: rest(a)[2])(a_ref))
        assert_close(logits, model(x[None])[0])
    assert isinstance(model.blocks[0], nnx.Conv)  # the model itself is never changed


def test_linen_and_nnx_agree(images):
    """The same weights in Linen and NNX give the same maps."""
    model = NnxNet(nnx.Rngs(4))
    params = {
        "feat": {"conv": {"kernel": model.feat.kernel[...], "bias": model.feat.bias[...]}},
        "body": {"conv": {"kernel": model.blocks[0].kernel[...], "bias": model.blocks[0].bias[...]}},
        "head": {"kernel": model.head.kernel[...], "bias": model.head.bias[...]},
    }
    lt = C.linen_tap(Net(), {"params": params}, "feat", (H, W, CH))
    nt = C.nnx_tap(model, "feat", (H, W, CH))
    for method in C.METHODS:
        assert_close(C.class_activation_maps(lt, images, [0, 1, 2], method),
                     C.class_activation_maps(nt, images, [0, 1, 2], method))


@pytest.mark.parametrize("method", C.METHODS)
def test_vmap_equals_loop(net, images, method):
    module, variables = net
    tap = C.linen_tap(module, variables, "body", (H, W, CH))
    cls = np.array([2, 0, 1])
    a, g, _ = C.layer_gradients(tap, images, cls, batch_size=2)  # padded last batch
    a1, g1, _ = C.layer_gradients(tap, images, cls)
    assert_close(a, a1)
    assert_close(g, g1)
    filt = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]], bool)
    maps = C.cam_batch(a, g, method, filt)
    for i in range(3):
        ai, gi, _ = tap.fn(jnp.asarray(images[i]), int(cls[i]))
        assert_close(maps[i], C.cam(ai, gi, method, filt[i]))


def test_upsample_and_normalise():
    m = np.zeros((2, 3, 3), np.float32)
    m[0, 1, 1] = 2.0
    up = C.upsample(m, (6, 6))
    assert up.shape == (2, 6, 6)
    assert_close(up[0].max(), 1.0)
    assert_close(up[1], np.zeros((6, 6)))
    assert_close(C.upsample(m[0], (3, 3)), m[0] / 2)


def test_bad_input(net, images):
    module, variables = net
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        C.linen_tap(module, variables, "nope", (H, W, CH))
    with pytest.raises(ValueError, match="a CAM needs"):
        C.linen_tap(module, variables, "head", (H, W, CH))
    with pytest.raises(ValueError, match="input_shape"):
        C.linen_tap(module, variables, "feat", (H, W))
    with pytest.raises(ValueError, match="unknown layer"):
        C.nnx_tap(NnxNet(nnx.Rngs(0)), "blocks/7", (H, W, CH))
    tap = C.linen_tap(module, variables, "feat", (H, W, CH))
    with pytest.raises(ValueError, match="images must have shape"):
        C.layer_gradients(tap, images[:, :4], [0, 0, 0])
    with pytest.raises(ValueError, match=r"class_indices must lie in \[0, 2\]"):
        C.layer_gradients(tap, images, [0, 3, 0])
    with pytest.raises(ValueError, match="class_indices must be 3 integers"):
        C.layer_gradients(tap, images, [0, 1])
    with pytest.raises(ValueError, match="method must be one of"):
        C.class_activation_maps(tap, images, [0, 1, 2], "scorecam")
    a = np.ones((2, 3, 3, F), np.float32)
    with pytest.raises(ValueError, match="filters must have shape"):
        C.cam_batch(a, a, "gradcam", np.ones(F + 1))
    with pytest.raises(ValueError, match="non-negative"):
        C.cam_batch(a, a, "gradcam", -np.ones(F))
    with pytest.raises(ValueError, match="grads must have the shape"):
        C.cam_batch(a, a[..., :2], "gradcam")


class Twice(nn.Module):
    """One conv applied twice: its calls are tapped as ``conv`` and ``conv#2``."""

    @nn.compact
    def __call__(self, x):
        conv = nn.Conv(F, (3, 3), padding=1, name="conv")
        y = conv(nn.relu(conv(x)))
        return nn.Dense(K, name="head")(nn.relu(y).mean((1, 2)))


def test_linen_tap_of_a_repeated_call():
    module = Twice()
    variables = jit_init(module, 5, jnp.zeros((1, H, W, F)))
    p = variables["params"]
    x = jax.random.uniform(jax.random.key(6), (H, W, F))
    conv = lambda a: nn.Conv(F, (3, 3), padding=1).apply({"params": p["conv"]}, a[None])[0]
    head = lambda y: nn.Dense(K).apply({"params": p["head"]}, nn.relu(y).mean((0, 1)))
    first, second = conv(x), conv(nn.relu(conv(x)))
    for layer, a_ref, rest in (("conv", first, lambda a: head(conv(nn.relu(a)))), ("conv#2", second, head)):
        a, g, _ = C.linen_tap(module, variables, layer, (H, W, F)).fn(x, 1)
        assert_close(a, a_ref)
        assert_close(g, jax.grad(lambda a, rest=rest: rest(a)[1])(a_ref))
    with pytest.raises(ValueError, match="unknown layer 'conv#3'"):
        C.linen_tap(module, variables, "conv#3", (H, W, F))
