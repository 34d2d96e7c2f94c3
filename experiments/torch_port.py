"""Port a trained Flax ``CifarResNet`` to its PyTorch twin (``experiments/torch_resnet.py``) for peer checks.

Used by ``tests/test_explain_peer.py`` to compare ``ssvepjax.explain`` maps with Captum's
``LayerGradCam`` on the same weights; the library never imports torch. The twin in
``torch_resnet`` has a 3-channel stem (CIFAR); :func:`torch_twin` builds it for any number of
input channels (grey canvases have one) and copies every parameter and batch statistic.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import CifarResNet, Probed, load_flax_variables  # noqa: E402


def torch_twin(module, variables, in_channels: int) -> CifarResNet:
    """A PyTorch ``CifarResNet`` in eval mode computing the same function as the Flax ``module``.

    Args:
        module: a ``ssvepjax.models.CifarResNet`` (depth, width, num_classes are read from it).
        variables: its trained variables (``params`` and ``batch_stats``).
        in_channels: channels of the input images.
    """
    if module.act != "relu":
        raise ValueError(f"the PyTorch twin has ReLU activations, the module has act={module.act!r}")
    model = CifarResNet(module.depth, module.num_classes, module.width)
    model.stem = Probed(in_channels, module.width, 1)
    return load_flax_variables(model, variables)


def to_nchw(images) -> torch.Tensor:
    """``[N, H, W, C]`` NumPy/JAX images as a float32 ``[N, C, H, W]`` tensor."""
    return torch.from_numpy(np.asarray(images, np.float32).transpose(0, 3, 1, 2).copy())
