"""The job's architectures by name: one configuration class each, one interface.

``ssvepjax run --model resnet|vgg|vit`` trains and probes one of them on the embedded digits. Each class
(:class:`~ssvepjax.models.ModelConfig`, :class:`~ssvepjax.models.VGGConfig`, :class:`~ssvepjax.models.ViTConfig`)
is a frozen dataclass with ``arch``, ``label``, ``build(num_classes, act=None)``, ``recorded_layers()`` and
``nonlinear_layers()``; :data:`QUICK` holds each one's CI size.
"""

from __future__ import annotations

from ssvepjax.models.cifar_resnet import ModelConfig
from ssvepjax.models.vggnet import VGGConfig
from ssvepjax.models.vit import ViTConfig

__all__ = ["ARCHITECTURES", "QUICK", "model_config"]

#: The job's architectures: name -> configuration class.
ARCHITECTURES = {"resnet": ModelConfig, "vgg": VGGConfig, "vit": ViTConfig}

#: Each architecture's CI size (small enough to train in seconds).
QUICK = {
    "resnet": ModelConfig(depth=8),
    "vgg": VGGConfig(stages=((8,), (16,), (32,)), hidden=32),
    "vit": ViTConfig(dim=16, depth=2, heads=2),
}


def model_config(arch: str, **fields) -> ModelConfig | VGGConfig | ViTConfig:
    """The configuration of architecture ``arch`` (a key of :data:`ARCHITECTURES`) with ``fields`` set."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"model must be one of {sorted(ARCHITECTURES)}, got {arch!r}")
    return ARCHITECTURES[arch](**fields)
