import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jit_init

import ssvepjax as sj
from ssvepjax import pruning as P


def _hand_count(widths, in_ch, hw, classes, n=1):
    """MACs and params of a CIFAR ResNet written out layer by layer (n = 1 block per stage)."""
    stem, c11, c12, c21, c22, c31, c32 = widths
    s1, s2, s3 = hw * hw, (hw // 2) ** 2, (hw // 4) ** 2
    convs = [  # (output sites, c_in, c_out)
        (s1, in_ch, stem), (s1, stem, c11), (s1, c11, c12),
        (s2, c12, c21), (s2, c21, c22),
        (s3, c22, c31), (s3, c31, c32),
    ]
    macs = sum(sites * 9 * cin * cout for sites, cin, cout in convs) + c32 * classes
    params = sum(9 * cin * cout + 2 * cout for _, cin, cout in convs) + c32 * classes + classes
    return macs, params


def test_flops_and_params_match_hand_count():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    macs, params = _hand_count((4, 4, 4, 8, 8, 16, 16), 1, 8, 3)
    assert (macs, params) == (48432, 4815)  # written out: 2304 + 2*9216 + 4608 + 9216 + 4608 + 9216 + 48
    assert P.flops(model, (8, 8, 1)) == macs
    assert sj.param_count(model, (8, 8, 1)) == params


def test_pruned_costs_match_hand_count():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = jit_init(model, 0, jnp.ones((1, 8, 8, 1)))
    keep = {"stage1_block0/conv1": np.array([True, False, False, True]),
            "stage3_block0/conv1": np.arange(16) < 5}
    for layer in ("stem", "stage1_block0/conv2"):
        keep[layer] = np.array([True, True, False, True])  # stage-1 stream channel 2 goes ...
    keep["stage2_block0/conv2"] = np.arange(8) != 4  # ... and where its shortcut lands in stage 2 (2 + 2)
    keep["stage3_block0/conv2"] = np.arange(16) != 8  # ... and in stage 3 (4 + 4)
    small, _ = P.prune(model, v, keep)
    assert small.widths == (3, 2, 3, 8, 7, 5, 15)
    macs, params = _hand_count(small.widths, 1, 8, 3)
    assert P.flops(small, (8, 8, 1)) == macs
    assert sj.param_count(small, (8, 8, 1)) == params
    assert P.removed_filters(keep, model) == pytest.approx((1 + 1 + 2 + 1 + 11 + 1) / 60)


def test_flops_of_a_default_resnet32_and_forward_time():
    model = sj.CifarResNet()
    f = P.flops(model, (32, 32, 3))
    # He et al.'s ResNet-32 on CIFAR: ~0.46 M parameters, ~69 M multiply-accumulates.
    assert 68e6 < f < 71e6
    assert 0.45e6 < sj.param_count(model, (32, 32, 3)) < 0.47e6
    tiny = sj.CifarResNet(depth=8, num_classes=3, width=4)
    v = jit_init(tiny, 0, jnp.ones((1, 8, 8, 1)))
    rep = P.cost_report(tiny, (8, 8, 1), v, batch_size=4, repeats=2)
    assert rep["flops"] == 48432 and rep["forward_s"] > 0
    times = P.compare_forward_times([(tiny, v), (tiny, v)], (8, 8, 1), batch_size=4, repeats=2)
    assert len(times) == 2 and min(times) > 0


class _NoConv(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return jnp.tanh(x)


def test_bad_input_raises():
    model = sj.CifarResNet(depth=8, num_classes=3, width=4)
    for shape in ((8, 8), (8, 0, 1), (8.0, 8, 1)):
        with pytest.raises(ValueError, match="input_shape"):
            P.flops(model, shape)
    with pytest.raises(ValueError, match="no nn.Conv"):
        P.flops(_NoConv(), (8, 8, 1))
    v = jit_init(model, 0, jnp.ones((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="repeats"):
        P.forward_time(model, v, (8, 8, 1), repeats=0)


def _published(model, shape):
    return P.flops(model, shape)


@pytest.mark.parametrize(("name", "published"), [("resnet50", 4.09e9), ("vit_s16", 4.6e9), ("cifar_resnet56", 0.125e9),
                                                  ("vgg16", 15.5e9), ("resnext50_32x4d", 4.23e9)])
def test_flops_match_published_counts(name, published):
    """Read from the program (abstract trace, nothing computed): within 2% of the published counts."""
    from ssvepjax.models import resnet50, resnext50_32x4d, vgg, vit_small
    model, shape = {"resnet50": (resnet50(), (224, 224, 3)), "vit_s16": (vit_small(), (224, 224, 3)),
                    "cifar_resnet56": (sj.CifarResNet(depth=56), (32, 32, 3)),
                    "vgg16": (vgg("vgg16"), (224, 224, 3)),
                    "resnext50_32x4d": (resnext50_32x4d(), (224, 224, 3))}[name]
    assert abs(_published(model, shape) / published - 1) < 0.02
    if name == "vit_s16":  # the attention products are counted: without them the dense layers give 4.25 G
        assert P.flops(model, shape) - 4.25e9 > 0.3e9
