"""Peer check: CAMs of a converted torchvision ResNet-18 equal pytorch-grad-cam's (the ``grad-cam`` package).

torchvision's ``resnet18`` (random weights, random batch-norm statistics) is converted with
``sj.models.convert_state_dict``; at the same layer (``layer3[1]`` = ``stage3_block1``) both frameworks
compute Grad-CAM, Grad-CAM++ (``eps=1e-6``, pytorch-grad-cam's denominator term), LayerCAM and EigenCAM
(its sign matched: pytorch-grad-cam has no sign rule) for each image's top class. pytorch-grad-cam's
maps are taken before its resize and min-max scaling (the output of its ``get_cam_image``, after its
ReLU), so the maps compared are the layer-resolution maps of both. Tolerance: ``TOL`` of the peak.
Fails rather than skips when ``$CI`` is set and torch, torchvision or grad-cam is missing.
"""

import numpy as np
import pytest

from ssvepjax import models
from ssvepjax.explain import cams as C
from ssvepjax.testing import torch_reference as tr

TOL = 1e-4  # float32 convolutions in two frameworks; measured values are printed (-s)
SIZE = 96  # layer3 of ResNet-18 is 6 x 6 at 96 x 96


def peak_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


@pytest.fixture(scope="module")
def setup():
    tv = tr.import_torchvision()
    import torch

    torch.manual_seed(5)
    net = tr.randomize_batch_norm(tv.models.resnet18(num_classes=10)).eval()
    model = models.resnet18(10)
    variables = models.convert_state_dict(tr.state_dict_numpy(net), model)
    x = np.random.default_rng(5).normal(size=(3, SIZE, SIZE, 3)).astype(np.float32)
    logits, _ = tr.block_outputs(net, {}, x)
    y = logits.argmax(1)
    tap = C.linen_tap(model, variables, "stage3_block1", x.shape[1:], train=False)
    acts, grads, _ = C.layer_gradients(tap, x, y)
    return net, x, y, np.asarray(acts), np.asarray(grads)


def theirs(net, x, y, method):
    import torch
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cls = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM, "eigencam": EigenCAM}[method]
    explainer = cls(model=net, target_layers=[net.layer3[1]])
    raw = []
    inner = explainer.get_cam_image

    def keep(*args, **kwargs):  # the layer-resolution map, before resize and min-max scaling
        raw.append(inner(*args, **kwargs))
        return raw[-1]

    explainer.get_cam_image = keep
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    explainer(input_tensor=xt, targets=[ClassifierOutputTarget(int(c)) for c in y])
    return np.asarray(raw[0], np.float64)


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam", "eigencam"])
def test_cams_match_pytorch_grad_cam(setup, method):
    tr.require("pytorch_grad_cam")
    net, x, y, acts, grads = setup
    ours = np.asarray(C.cam_batch(acts, grads, method, eps=1e-6 if method == "gradcam++" else 0.0))
    ref = theirs(net, x, y, method)
    if method == "eigencam":  # pytorch-grad-cam's projection keeps the SVD's sign: match it per image
        ref = np.stack([np.maximum(s * r, 0) for r, s in
                        zip(ref, [1 if peak_rel(np.maximum(r, 0), o) < peak_rel(np.maximum(-r, 0), o) else -1
                                  for r, o in zip(ref, ours)])])
    else:
        ref = np.maximum(ref, 0)
    err = max(peak_rel(o, r) for o, r in zip(ours, ref))
    print(f"{method}: max |ours - pytorch-grad-cam| / peak = {err:.2e}")
    assert ref.max() > 0
    assert err < TOL


def test_gradcampp_eps_changes_maps_where_gradients_are_small():
    """eps=0 is the paper's form; eps=1e-6 differs exactly where G^2 is comparable to 1e-6."""
    rng = np.random.default_rng(0)
    a = rng.uniform(size=(4, 4, 3)).astype(np.float32)
    g = (1e-3 * rng.normal(size=(4, 4, 3))).astype(np.float32)
    m0, m1 = np.asarray(C.cam(a, g, "gradcam++")), np.asarray(C.cam(a, g, "gradcam++", eps=1e-6))
    g2, g3 = g.astype(np.float64) ** 2, g.astype(np.float64) ** 3
    for eps, got in ((0.0, m0), (1e-6, m1)):
        alpha = g2 / (2 * g2 + a.sum((0, 1)) * g3 + eps)
        want = np.maximum(np.einsum("ijc,c->ij", a, (alpha * np.maximum(g, 0)).sum((0, 1))), 0)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
    assert not np.allclose(m0, m1, rtol=1e-2)
    with pytest.raises(ValueError, match="eps"):
        C.cam_batch(a[None], g[None], "gradcam++", eps=-1.0)
