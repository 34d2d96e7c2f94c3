"""The analysis design: which tags were shown, which components to read, how noise and rounding are handled.

``Design`` is the one static configuration that the probes, the dataset reductions, the measures and
the reports share: the tags (``TagConfig``), the noise window (``NoiseConfig``), the highest
intermodulation order, and the detection limit of the transform (``fourier.DETECTION_LIMIT``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from ssvepjax import _checks as V
from ssvepjax.spectral.fourier import DETECTION_LIMIT, check_detection_limit
from ssvepjax.spectral.noise import NoiseConfig
from ssvepjax.tagging import frequency_components as C
from ssvepjax.tagging.tags import TagConfig


@dataclasses.dataclass(frozen=True)
class Design:
    """Tags, components, noise and detection settings of an analysis (static).

    Attributes:
        tags: the tag design (frequencies, frame rate, frame count).
        noise: the noise window and z threshold.
        max_order: highest intermodulation order ``sum |c_p|`` listed as a component.
        detection_limit: coefficients at or below this fraction of a series' reference magnitude are
            float32 rounding and set to 0 (``fourier.detection_floor``).
    """

    tags: TagConfig = TagConfig()
    noise: NoiseConfig = NoiseConfig()
    max_order: int = 4
    detection_limit: float = DETECTION_LIMIT

    def __post_init__(self):
        if not isinstance(self.tags, TagConfig):
            raise ValueError(f"tags must be a TagConfig, got {type(self.tags).__name__}")
        if not isinstance(self.noise, NoiseConfig):
            raise ValueError(f"noise must be a NoiseConfig, got {type(self.noise).__name__}")
        V.check_positive("max_order", self.max_order, integer=True)
        check_detection_limit(self.detection_limit)

    @property
    def components(self) -> list[C.Component]:
        """Every component of the design below Nyquist (``frequency_components.components``), sorted by frequency."""
        t = self.tags
        return C.components(t.freqs_hz, fps=t.fps, n_frames=t.n_frames, max_order=self.max_order)

    @property
    def n_bins(self) -> int:
        return self.tags.n_bins

    def bins(self, lattice: str = "off") -> tuple[np.ndarray, list[str], np.ndarray]:
        """``(component_bins, labels, noise_bins)``: distinct component bins, one label per bin, and
        noise-only bins (``lattice`` as in ``frequency_components.noise_bins``: "off" gives the false-positive bins)."""
        comps = self.components
        cb, labels = C.component_bins(comps)
        nb = C.noise_bins(comps, self.tags.n_frames, n_neighbors=self.noise.n_neighbors, skip=self.noise.skip,
                          lattice=lattice)
        return cb, labels, nb

    def key(self, *parts) -> str:
        """A short hash of this design and any other settings (names checkpoint folders)."""
        desc = json.dumps([dataclasses.asdict(self), *[str(p) for p in parts]], sort_keys=True)
        return hashlib.sha256(desc.encode()).hexdigest()[:16]


def as_design(design) -> Design:
    """A :class:`Design` from a ``Design`` or a ``TagConfig`` (default noise and orders); ``ValueError`` otherwise."""
    if isinstance(design, Design):
        return design
    if isinstance(design, TagConfig):
        return Design(design)
    raise ValueError(f"design must be a Design or a TagConfig, got {type(design).__name__}")


__all__ = ["Design", "as_design"]
