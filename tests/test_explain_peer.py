"""Peer check: Grad-CAM of ssvepjax equals Captum's LayerGradCam on a trained model ported to PyTorch.

Needs torch and captum (``pip install -e .[test,peer]``): skipped without them, except when ``$CI`` is set,
where a missing package fails the test. A CifarResNet
is trained briefly on the boxed-digit task, its weights copied to its PyTorch twin
(``ssvepjax.testing.torch_resnet.torch_twin``), and at two layers the maps, the
activations and the class-score gradients of both frameworks are compared. Tolerance: the largest
difference at most ``1e-5`` of the largest magnitude (float32 convolutions in two frameworks).
"""

import numpy as np
import pytest

from ssvepjax.testing.torch_reference import require

torch = require("torch")
captum_attr = require("captum.attr")

import ssvepjax as sj  # noqa: E402
from ssvepjax.data.canvas import CanvasConfig, canvas_dataset  # noqa: E402
from ssvepjax.explain import cams as C  # noqa: E402
from ssvepjax.testing.torch_resnet import to_nchw, torch_twin  # noqa: E402

TOL = 1e-5  # measured: 2.4e-7 (maps), on 2 CPU cores with torch 2.13.0 and captum 0.9.0


def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-12)
    return np.abs(a - b).max() / scale


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    src = sj.load_dataset("mnist5k", max_train=256, max_test=64)
    data = canvas_dataset(src, CanvasConfig(size=32, n_fragments=2, fragment_size=10), seed=0).dataset
    m = sj.train_or_load(data, sj.ModelConfig(depth=8, width=4), sj.TrainConfig(epochs=1, batch_size=32),
                         cache_dir=str(tmp_path_factory.mktemp("peer")), progress=False)
    return m, data.test_images[:6], data.test_labels[:6]


@pytest.mark.parametrize("layer", ["stage1_block0/conv1", "stage3_block0/conv2"])
def test_gradcam_matches_captum(trained, layer):
    m, x, y = trained
    twin = torch_twin(m.module, m.variables, x.shape[-1])
    xt = to_nchw(x)
    np.testing.assert_allclose(twin(xt).detach().numpy(), np.asarray(m.module.apply(m.variables, x)),
                               rtol=1e-4, atol=1e-4)
    block, conv = layer.split("/")
    target = getattr(twin.blocks[block], conv)
    tap = C.linen_tap(m.module, m.variables, layer, x.shape[1:], train=False)
    a, g, _ = C.layer_gradients(tap, x, y)
    ours = C.cam_batch(a, g, "gradcam")
    theirs = captum_attr.LayerGradCam(twin, target).attribute(xt, target=torch.from_numpy(y.astype(np.int64)),
                                                               relu_attributions=True)
    assert close(ours, theirs[:, 0].detach().numpy()) <= TOL

    acts, grads = [], []

    def hook(module, inputs, out):
        acts.append(out)
        out.register_hook(grads.append)

    handle = target.register_forward_hook(hook)
    logits = twin(xt)
    logits[torch.arange(len(y)), torch.from_numpy(y.astype(np.int64))].sum().backward()
    handle.remove()
    assert close(a, acts[0].detach().numpy().transpose(0, 2, 3, 1)) <= TOL
    assert close(g, grads[0].numpy().transpose(0, 2, 3, 1)) <= TOL
