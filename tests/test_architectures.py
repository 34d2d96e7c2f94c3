"""The job's three architectures (models.configs): one interface, their layers, geometry and token classes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ssvepjax as sj
from ssvepjax import models as M
from ssvepjax.analysis import receptive as R
from ssvepjax.experiments import framework as F


@pytest.fixture(scope="module")
def built():
    """Each architecture's CI size with random variables, and its per-frame function's outputs on one 28x28 frame."""
    out = {}
    for arch, cfg in M.configs.QUICK.items():
        model = cfg.build(10)
        variables = M.random_variables(model, jax.ShapeDtypeStruct((1, 28, 28, 1), jnp.float32))
        fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False)
        out[arch] = (cfg, model, variables, jax.eval_shape(fn, jax.ShapeDtypeStruct((28, 28, 1), jnp.float32)))
    return out


def test_every_architecture_records_what_its_config_lists(built):
    for arch, (cfg, _, _, acts) in built.items():
        assert cfg.arch == arch and isinstance(cfg.label, str)
        rec = cfg.recorded_layers()
        assert set(rec) == set(acts) - {"output"}, arch  # exactly the sown values, in forward order
        assert set(cfg.nonlinear_layers()) <= set(rec) and set(cfg.where_layers()) <= set(rec)
        for layer in cfg.map_layers():
            assert len(acts[layer].shape) == 3, (arch, layer)  # maps need units on the image's grid
    assert [n for n in built["resnet"][0].nonlinear_layers()] == [
        f"{n}/post" for n in sj.conv_layer_names(8)]
    assert built["vit"][0].map_layers() == [] and acts_shape(built, "vit", "block0/out") == (1 + 49, 16)


def acts_shape(built, arch, layer):
    return tuple(built[arch][3][layer].shape)


def test_labels_and_sizes_of_the_full_architectures():
    assert [M.model_config(a).label for a in ("resnet", "vgg", "vit")] == ["ResNet-32", "VGG-9", "ViT-4x64"]
    for arch, params in (("vgg", 163_898), ("vit", 139_018)):
        model = M.model_config(arch).build(10)
        assert M.param_count(model, (28, 28, 1)) == params, arch
    with pytest.raises(ValueError, match="model must be one of"):
        M.model_config("mlp")
    with pytest.raises(ValueError, match="dim must be a multiple of heads"):
        M.ViTConfig(dim=10, heads=4)
    with pytest.raises(ValueError, match="act must be one of"):
        M.VGGConfig(act="swish")


def test_vgg_geometry_by_hand():
    cfg = M.VGGConfig()
    # 3x3 convs (padding 1) grow the field by 2 px each, a 2x2 stride-2 pool by 1 px and doubles the step after it.
    sizes = {layer: R.receptive_field_size(cfg.geometry(layer)) for layer in cfg.where_layers()}
    assert sizes == {"conv1_1/pre": 3, "conv1_1/post": 3, "conv1_2/post": 5, "conv2_1/post": 10, "conv2_2/post": 14,
                     "conv3_1/post": 24, "conv3_2/post": 32}
    assert cfg.geometry("conv2_1") == ((3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1))
    with pytest.raises(ValueError, match="conv of the VGG"):
        cfg.geometry("fc1/post")
    classes, names = R.rf_classes(cfg.geometry("conv3_2/post"), sj.halves(28, 28))
    assert classes.shape == (7, 7) and names[:3] == ["left-only", "right-only", "both"]  # before the third pool


def test_vit_token_classes():
    classes, names = M.ViTConfig().token_classes(sj.halves(28, 28))
    assert classes.shape == (50,) and names[classes[0]] == "class token"
    grid = classes[1:].reshape(7, 7)
    # 4 px patches: columns 0-2 lie left of column 14, column 3 (pixels 12-15) straddles it, 4-6 lie right.
    assert (grid[:, :3] == 0).all() and (grid[:, 3] == 2).all() and (grid[:, 4:] == 1).all()


def test_the_linear_control_of_a_vgg_is_affine(built):
    _, model, variables, _ = built["vgg"]
    linear = model.clone(act="identity", pool="avg")
    x, y = (jax.random.uniform(jax.random.key(k), (1, 28, 28, 1)) for k in (1, 2))
    f = jax.jit(lambda x: linear.apply(variables, x, train=False))
    mid = f(0.3 * x + 0.7 * y)
    np.testing.assert_allclose(mid, 0.3 * f(x) + 0.7 * f(y), rtol=1e-4, atol=1e-5)  # affine: mixes are preserved
    assert not np.allclose(jax.jit(lambda x: model.apply(variables, x, train=False))(0.3 * x + 0.7 * y),
                           0.3 * model.apply(variables, x, train=False) + 0.7 * model.apply(variables, y, train=False),
                           atol=1e-5)


def test_the_command_line_chooses_the_architecture_and_its_training():
    vit = F.parse("reproduce", ["--model", "vit"])
    assert vit.model == M.ViTConfig() and vit.train.optimizer == "adamw" and vit.train.epochs == 25
    vgg = F.parse("controls", ["--model", "vgg", "--quick"])
    assert vgg.model == M.configs.QUICK["vgg"] and vgg.train.epochs == 1 and vgg.train.optimizer == "sgd"
    assert F.parse("reproduce", ["--model", "vit", "--lr", "0.002"]).train.learning_rate == 0.002
    with pytest.raises(ValueError, match="--depth and --width set a ResNet"):
        F.parse("reproduce", ["--model", "vgg", "--depth", "8"])
