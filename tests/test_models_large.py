"""Tests for the large models (ImageNet ResNet, vision transformer) probed through the public API.

Parameter counts are checked at full size with ``jax.eval_shape`` (nothing compiled); probing runs
on tiny configurations of the same classes. The transformer tests state what tagging guarantees:
a patch token is a linear function of its own patch until the first attention mixes the tokens.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_close

import ssvepjax as sj
from ssvepjax import models

# 40 frames at 40 fps: 1 Hz bins, tags on bins 4 (left) and 5 (right); f2 - f1 = bin 1, f1 + f2 = bin 9.
TAGS = sj.TagConfig((4.0, 5.0), fps=40.0, n_frames=40)
DESIGN = sj.Design(TAGS, sj.NoiseConfig(n_neighbors=3, skip=1), max_order=3)
F1, F2, DIFF, SUM = 4, 5, 1, 9
K = TAGS.n_frames // 2 + 1
DEPTH = 0.5 * (1 - TAGS.min_gain)  # amplitude of the gain's sinusoid: 0.25


def shape_of(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((1, 16, 16, 3)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Reference architectures: parameter counts without init.


def test_resnet50_has_the_reference_parameter_count():
    shapes = jax.eval_shape(models.resnet50().init, jax.random.key(0), shape_of(1, 224, 224, 3))
    assert models.param_count(shapes) == 25_557_032  # torchvision resnet50: 25.56 M
    assert models.param_count(shapes, collection="batch_stats") == 2 * 26_560  # a mean and a variance per BN channel
    assert len(models.resnet_layer_names()) == 2 + 16 * 6 + 4


@pytest.mark.parametrize("build, count", [(models.vit_tiny, 5_717_416), (models.vit_small, 22_050_664),
                                          (models.vit_base, 86_567_656)])
def test_vit_has_the_reference_parameter_count(build, count):
    shapes = jax.eval_shape(build().init, jax.random.key(0), shape_of(1, 224, 224, 3))
    assert models.param_count(shapes) == count  # timm vit_{tiny,small,base}_patch16_224


def test_random_variables_match_init_and_are_reproducible():
    model = models.ImageNetResNet((1, 1), num_classes=10, width=4)
    # The shapes of model.init, without compiling it (a real init takes seconds even for this model).
    real = jax.eval_shape(model.init, jax.random.key(0), shape_of(1, 32, 32, 3))
    fake = models.random_variables(model, shape_of(1, 32, 32, 3))
    assert jax.tree.structure(real) == jax.tree.structure(fake)
    jax.tree.map(lambda a, b: (a.shape, a.dtype) == (np.shape(b), b.dtype) or pytest.fail(f"{a} vs {b.shape}"),
                 real, fake)
    again = models.random_variables(model, shape_of(1, 32, 32, 3))
    jax.tree.map(np.testing.assert_array_equal, fake, again)
    other = models.random_variables(model, shape_of(1, 32, 32, 3), seed=1)
    assert not np.array_equal(other["params"]["head"]["kernel"], fake["params"]["head"]["kernel"])
    k = np.asarray(fake["params"]["stage1_block0"]["conv2"]["conv"]["kernel"])  # [3, 3, 4, 4]: fan-in 36
    assert abs(k.std() - np.sqrt(2 / 36)) < 0.2 * np.sqrt(2 / 36)
    np.testing.assert_array_equal(fake["params"]["stem"]["conv"]["kernel"].shape, (7, 7, 3, 4))
    assert np.all(fake["batch_stats"]["stem"]["bn"]["var"] == 1)
    assert np.all(fake["batch_stats"]["stem"]["bn"]["mean"] == 0)


# ---------------------------------------------------------------------------------------------
# ImageNet ResNet, tiny.


@pytest.fixture(scope="module")
def resnet():
    model = models.ImageNetResNet((1, 1), num_classes=10, width=4)
    variables = models.random_variables(model, shape_of(1, 32, 32, 3))
    return model, variables, sj.linen_fn(model, variables, capture_intermediates=False, train=False)


def test_resnet_records_every_named_layer_with_its_shape(resnet):
    model, variables, fn = resnet
    acts = jax.eval_shape(fn, shape_of(32, 32, 3))
    names = models.resnet_layer_names((1, 1))
    assert sorted(acts) == sorted([*names, "output"])
    assert acts["stem/post"].shape == (16, 16, 4)  # 7x7 stride 2
    assert acts["stage1_block0/conv3/pre"].shape == (8, 8, 16)  # after the max-pool, 4 x width channels
    assert acts["stage2_block0/shortcut/pre"].shape == (4, 4, 32)
    assert acts["output"].shape == (10,)


def test_resnet_forward_is_finite_and_jits(resnet):
    model, variables, _ = resnet
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    eager = model.apply(variables, x, train=False)
    jitted = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
    assert eager.shape == (2, 10) and np.all(np.isfinite(eager))
    assert_close(jitted, eager)


def test_tiny_resnet_probe_dataset_and_measure(resnet):
    _, _, fn = resnet
    images = np.random.default_rng(2).random((2, 32, 32, 3)).astype(np.float32)
    spec = sj.probe_dataset(fn, images, sj.halves(32, 32), DESIGN, chunk_size=1, progress=False)  # one program
    acts = jax.eval_shape(fn, shape_of(32, 32, 3))
    for k, a in acts.items():
        assert spec[k].shape == (K, *a.shape), k
        assert np.all(np.isfinite(np.asarray(spec[k]))), k
    res = sj.measure(spec, DESIGN)
    z = res["stage2_block0/conv3/post"].neuron["z"]
    assert z.shape == (len(DESIGN.bins()[0]), 4, 4, 32)
    # The stem is conv + batch norm (the identity here): linear, so its pre-activation holds the tags
    # and nothing else, and a unit seeing only the left half (7x7 field at column 0: columns 0-3)
    # has amplitude 0.25 |w . patch| at f1 and none at f2 (NumPy reference on the first image).
    pre = np.asarray(sj.probe_dataset(fn, images[:1], sj.halves(32, 32), DESIGN, chunk_size=1,
                                      progress=False)["stem/pre"])
    w = np.asarray(resnet[1]["params"]["stem"]["conv"]["kernel"], np.float64)  # [7, 7, 3, 4]
    padded = np.pad(images[0].astype(np.float64), ((3, 3), (3, 3), (0, 0)))
    row, col = 5, 0  # output position: input rows 7..13 (padded), columns -3..3
    drive = np.einsum("hwc,hwcf->f", padded[2 * row: 2 * row + 7, 2 * col: 2 * col + 7], w) / np.sqrt(1 + 1e-5)
    assert_close(pre[F1, row, col], DEPTH * np.abs(drive), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(pre[[F2, DIFF, SUM], row, col], 0.0)
    right = pre[:, row, -1]  # columns 27..31 (+ padding): right half only
    np.testing.assert_array_equal(right[[F1, DIFF, SUM]], 0.0)
    assert np.all(right[F2] > 0)


# ---------------------------------------------------------------------------------------------
# Vision transformer, tiny: 16 x 16 images, 4 x 4 patches (a 4 x 4 grid; grid columns 0-1 left).

PATCH, DIM = 4, 16


def vit_fn(variables=None, class_token=True):
    model = models.VisionTransformer(PATCH, DIM, depth=2, heads=2, num_classes=10, class_token=class_token)
    variables = variables or models.random_variables(model, shape_of(1, 16, 16, 3), seed=1)
    return model, variables, sj.linen_fn(model, variables, capture_intermediates=False)


def vit_spectra(fn, image):
    return {k: np.asarray(v) for k, v in
            sj.probe_dataset(fn, image, sj.halves(16, 16), DESIGN, chunk_size=1, progress=False).items()}


LEFT_TOKEN, RIGHT_TOKEN = 1 + 2 * 4 + 1, 1 + 2 * 4 + 2  # grid row 2, columns 1 (left) and 2 (right); 0: class


@pytest.fixture(scope="module")
def vit(image):
    model, variables, fn = vit_fn()
    return model, variables, vit_spectra(fn, image)


def test_vit_records_tokens_of_every_block(vit):
    model, variables, spec = vit
    assert sorted(spec) == sorted([*models.vit_layer_names(2), "output"])
    for k in models.vit_layer_names(2):
        assert spec[k].shape == (K, 1 + 16, DIM), k
        assert np.all(np.isfinite(spec[k])), k
    res = sj.measure({k: v for k, v in spec.items() if k != "output"}, DESIGN)
    assert res["block1/out"].filter_spectrum.shape == (K, DIM)  # "filters" are token channels
    hidden = models.VisionTransformer(PATCH, DIM, 2, 2, num_classes=10, sow_hidden=True)
    acts = jax.eval_shape(sj.linen_fn(hidden, variables, capture_intermediates=False), shape_of(16, 16, 3))
    assert sorted(acts) == sorted([*models.vit_layer_names(2, sow_hidden=True), "output"])
    assert acts["block0/hidden_post"].shape == (17, 4 * DIM)


def test_vit_embedding_is_per_patch_and_linear(vit, image):
    """Before any attention a patch token is ``W . (gain * patch) + b + pos``: its tag alone, at 0.25 |W . patch|."""
    _, variables, spec = vit
    emb = spec["embed"]
    w = np.asarray(variables["params"]["patch_embed"]["kernel"], np.float64)  # [4, 4, 3, DIM]
    patch = image[0, 8:12, 4:8].astype(np.float64)  # grid row 2, column 1
    assert_close(emb[F1, LEFT_TOKEN], DEPTH * np.abs(np.einsum("hwc,hwcd->d", patch, w)), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(emb[F2, LEFT_TOKEN], 0.0)
    np.testing.assert_array_equal(emb[F1, RIGHT_TOKEN], 0.0)
    assert np.all(emb[F2, RIGHT_TOKEN] > 0)
    np.testing.assert_array_equal(emb[[DIFF, SUM]], 0.0)  # no token combines the parts
    np.testing.assert_array_equal(emb[1:, 0], 0.0)  # the class token is constant


def test_vit_attention_mixes_tokens(vit):
    """Attention is where the parts meet: after block 0's attention a left token carries f2 and intermodulation.

    Not guaranteed for every weight (a network could ignore other tokens), but for generic random
    weights every token attends to every other with non-zero weight, so the left token's attention
    output holds the right half's tag, and the softmax (nonlinear in both parts' tokens) makes
    products of both gains. In block 0 the attention is nearly uniform (small random logits) and the
    intermodulation is weak (about 1% of f1); after one block of mixing it is in every channel.
    """
    spec = vit[2]
    attn = spec["block0/attn"][:, LEFT_TOKEN]
    assert np.all(attn[F1] > 0)
    assert np.mean(attn[F2] > 0) > 0.9
    for im in (SUM, DIFF):
        assert attn[im].max() > 1e-3 * attn[F1].max()
        later = spec["block1/attn"][im]
        assert np.mean(later[LEFT_TOKEN] > 0) > 0.9 and np.mean(later[0] > 0) > 0.9  # class token too


def test_vit_without_token_mixing_keeps_the_left_token_on_f1(vit, image):
    """What is guaranteed: a token-wise path keeps a left patch token on f1 (and its harmonics).

    With block 0's attention output zeroed (its ``proj`` weights and bias), block 0 computes
    ``x + mlp(LN(x))`` token by token, a nonlinear function of the token's own series only, which
    carries g1 alone: the left token's MLP output responds at f1 and has no f2 and no
    intermodulation. Block 1's attention mixes the tokens, and intermodulation appears there.
    """
    _, variables, _ = vit
    params = jax.tree.map(np.array, variables["params"])
    for name in ("kernel", "bias"):
        params["block0"]["attention"]["proj"][name][...] = 0.0
    _, _, fn = vit_fn({"params": params})
    spec = vit_spectra(fn, image)
    np.testing.assert_array_equal(spec["block0/attn"], 0.0)
    for layer in ("block0/mlp", "block0/out"):
        left = spec[layer][:, LEFT_TOKEN]
        assert np.all(left[F1] > 0), layer
        assert np.mean(left[2 * F1] > 0) > 0.9, layer  # LN and GELU are nonlinear: harmonics
        np.testing.assert_array_equal(left[[F2, DIFF, SUM]], 0.0)
        np.testing.assert_array_equal(spec[layer][:, RIGHT_TOKEN][[F1, DIFF, SUM]], 0.0)
    mixed = spec["block1/attn"][:, LEFT_TOKEN]
    assert np.mean(mixed[F2] > 0) > 0.9 and np.mean(mixed[SUM] > 0) > 0.9


def test_vit_without_class_token_reads_mean_of_patches(image):
    model, variables, fn = vit_fn(class_token=False)
    acts = jax.eval_shape(fn, shape_of(16, 16, 3))
    assert acts["embed"].shape == (16, DIM) and acts["output"].shape == (10,)
    out = jax.jit(lambda v, x: model.apply(v, x))(variables, image)
    assert out.shape == (1, 10) and np.all(np.isfinite(out))
    # NumPy: the head reads the mean over the 16 patch tokens of the final layer norm of the last block's output.
    tokens = np.asarray(fn(image[0])["block1/out"], np.float64)  # [16, DIM]
    p = {k: np.asarray(v, np.float64) for k, v in variables["params"]["ln_final"].items()}
    mu, var = tokens.mean(-1, keepdims=True), tokens.var(-1, keepdims=True)
    normed = (tokens - mu) / np.sqrt(var + models.vit.LN_EPSILON) * p["scale"] + p["bias"]
    head = {k: np.asarray(v, np.float64) for k, v in variables["params"]["head"].items()}
    assert_close(out[0], normed.mean(0) @ head["kernel"] + head["bias"], rtol=1e-4, atol=1e-5)
    assert_close(fn(image[0])["output"], out[0])


# ---------------------------------------------------------------------------------------------
# Bad input.


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="stage_sizes"):
        jax.eval_shape(models.ImageNetResNet((3, 0)).init, jax.random.key(0), shape_of(1, 32, 32, 3))
    with pytest.raises(ValueError, match="stage_sizes"):
        models.resnet_layer_names(())
    with pytest.raises(ValueError, match="width"):
        jax.eval_shape(models.ImageNetResNet((1,), width=0).init, jax.random.key(0), shape_of(1, 32, 32, 3))
    with pytest.raises(ValueError, match="act"):
        jax.eval_shape(models.ImageNetResNet((1,), act="tanh").init, jax.random.key(0), shape_of(1, 32, 32, 3))
    with pytest.raises(ValueError, match="multiples of patch_size"):
        jax.eval_shape(models.vit_tiny().init, jax.random.key(0), shape_of(1, 30, 32, 3))
    with pytest.raises(ValueError, match="multiple of heads"):
        jax.eval_shape(models.VisionTransformer(4, 10, 1, 3).init, jax.random.key(0), shape_of(1, 16, 16, 3))
    with pytest.raises(ValueError, match="depth"):
        models.vit_layer_names(0)
    with pytest.raises(ValueError, match="seed"):
        models.random_variables(models.vit_tiny(), shape_of(1, 16, 16, 3), seed=-1)
    with pytest.raises(ValueError, match="collection"):
        models.param_count({"params": {}}, collection="batch_stats")
