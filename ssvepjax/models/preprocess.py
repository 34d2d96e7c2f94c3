"""A model's own input normalisation, applied per frame after tagging (``linen_fn(..., preprocess=...)``).

Tagging modulates the contrast of an image in [0, 1], so a stimulus means the same for every model;
a network trained on normalised inputs (torchvision's and timm's ImageNet models: ``(x - mean) / std``
per channel) gets its normalisation inside the per-frame function, after the modulation. Putting it
before tagging would modulate around the normalised image's zero instead of the image's own mean
grey, and the same tag depth would be a different stimulus for each model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from jaxtyping import Array, Float

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "imagenet_normalize", "normalize"]

#: torchvision's and timm's ImageNet channel means (RGB, images in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
#: torchvision's and timm's ImageNet channel standard deviations (RGB, images in [0, 1]).
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(mean: Sequence[float], std: Sequence[float]) -> Callable[[Array], Array]:
    """``fn(x [..., C]) -> (x - mean) / std`` per channel (the last axis), for ``preprocess=``.

    Args:
        mean: per-channel means, one per channel of the images.
        std: per-channel standard deviations (positive), as many as ``mean``.
    """
    m, s = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if m.ndim != 1 or m.shape != s.shape or m.size == 0:
        raise ValueError(f"mean and std must be non-empty sequences of equal length, got {mean!r} and {std!r}")
    if not np.all(np.isfinite(m)) or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"std must be finite and positive and mean finite, got mean={mean!r}, std={std!r}")

    def fn(x: Float[Array, "... c"]) -> Float[Array, "... c"]:
        if x.shape[-1] != m.size:
            raise ValueError(f"images must have {m.size} channels (last axis) to normalise, got shape {x.shape}")
        return (x - m) / s

    return fn


imagenet_normalize = normalize(IMAGENET_MEAN, IMAGENET_STD)
imagenet_normalize.__doc__ = "``(x - IMAGENET_MEAN) / IMAGENET_STD`` per channel of RGB images in [0, 1] ``[..., 3]``."
