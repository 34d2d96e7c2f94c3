"""PyTorch reference models for peer tests: torchvision and timm imported on a CPU torch, hooks on their blocks.

Nothing here is imported by the library; torch, torchvision and timm are imported lazily (the ``peer``
extra). Two facts of the machines we test on shape it:

- the registry's torchvision 0.28.0 is a CUDA build, and ``import torchvision`` on the CPU torch
  2.13.0 fails while registering meta kernels of its compiled detection ops (``torchvision::nms``).
  :func:`import_torchvision` puts an empty module in ``sys.modules["torchvision._meta_registrations"]``
  first; the classification models (ResNets, VGGs, ResNeXts) need none of those ops. timm imports
  torchvision, so :func:`import_timm` does the same.
- peer tests must run in CI, not skip there: :func:`require` skips when a package is missing on a
  developer's machine but fails when the environment variable ``CI`` is set.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

import numpy as np

__all__ = ["block_outputs", "import_timm", "import_torchvision", "nhwc", "randomize_batch_norm", "require",
           "state_dict_numpy"]


def require(name: str):
    """``importlib.import_module(name)``; when it fails, ``pytest.fail`` if ``$CI`` is set, else ``pytest.skip``."""
    import pytest

    try:
        return importlib.import_module(name)
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (pip install -e '.[test,peer]'): {e}")
        pytest.skip(f"{name} is not installed ({e})")


def import_torchvision():
    """Import torchvision (through :func:`require`) with its detection ops' meta registrations stubbed out."""
    require("torch")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    return require("torchvision")


def import_timm():
    """Import timm (through :func:`require`) after :func:`import_torchvision`."""
    import_torchvision()
    return require("timm")


def state_dict_numpy(model) -> dict[str, np.ndarray]:
    """A torch module's ``state_dict()`` as ``{name: np.ndarray}`` (views of the tensors' memory)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def randomize_batch_norm(model, seed: int = 0):
    """Give every batch norm of a torch module random running statistics and affine parameters, in place.

    A freshly initialised batch norm (mean 0, variance 1, scale 1, shift 0) is the identity, which
    would let a converter that drops or swaps its statistics pass unnoticed.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
    return model


def nhwc(x) -> np.ndarray:
    """A torch activation ``[N, C, H, W]`` as NumPy ``[N, H, W, C]`` (other ranks unchanged)."""
    a = x.detach().cpu().numpy().copy()  # a copy: torch's in-place ReLUs rewrite the tensor later
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def block_outputs(model, modules: dict, images_nhwc: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``model`` in eval mode on NHWC images; return its logits and each named submodule's output (NHWC).

    Args:
        model: a torch module.
        modules: ``{name: submodule of model}`` to record with forward hooks.
        images_nhwc: ``[N, H, W, C]`` float32.
    """
    import torch

    model.eval()
    outs, handles = {}, []
    for name, m in modules.items():
        handles.append(m.register_forward_hook(lambda _m, _i, o, name=name: outs.__setitem__(name, nhwc(o))))
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2))))
    finally:
        for h in handles:
            h.remove()
    return logits.numpy(), outs
