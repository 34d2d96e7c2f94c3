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
from ssvepjax.spectral.fourier import DETECTION_LIMIT, RESOLUTION, check_detection_limit
from ssvepjax.spectral.noise import NoiseConfig, noise_windows
from ssvepjax.tagging import frequency_components as C
from ssvepjax.tagging.tags import TagConfig

#: Rules for which units respond: the amplitude test across images, or the EEG z rule.
SIGNIFICANCE = ("amplitude", "z")


@dataclasses.dataclass(frozen=True)
class Design:
    """Tags, components, noise and detection settings of an analysis (static).

    Attributes:
        tags: the tag design (frequencies, frame rate, frame count).
        noise: the noise window and z threshold.
        max_order: highest intermodulation order ``sum |c_p|`` listed as a component.
        detection_limit: coefficients at or below this fraction of their series' AC amplitude are float32
            rounding and set to 0 (``fourier.detection_floor``); also the null of the default significance
            test (a response must exceed it, on average over images).
        resolution: the floor is never below this fraction of the series' peak magnitude (float32
            resolution: a unit whose whole AC content is below it is silent).
        significance: the rule that decides which units respond at a component (SCIENCE.md section 6):
            ``"amplitude"`` (default) the amplitude test across images (``stats.amplitude``: null "mean
            relative amplitude at most ``detection_limit``", one-sided t, Benjamini-Hochberg FDR ``alpha``
            over the units of a layer per component); its answer does not depend on the recording length
            for a noise-free network. ``"z"``: the EEG rule, z > ``noise.z_threshold`` against the
            neighbouring bins; calibrated only for noisy responses (injected noise), and for a noise-free
            network it changes with the recording length alone.
        alpha: false discovery rate of the amplitude test.
    """

    tags: TagConfig = TagConfig()
    noise: NoiseConfig = NoiseConfig()
    max_order: int = 4
    detection_limit: float = DETECTION_LIMIT
    resolution: float = RESOLUTION
    significance: str = "amplitude"
    alpha: float = 0.05

    def __post_init__(self):
        if not isinstance(self.tags, TagConfig):
            raise ValueError(f"tags must be a TagConfig, got {type(self.tags).__name__}")
        if not isinstance(self.noise, NoiseConfig):
            raise ValueError(f"noise must be a NoiseConfig, got {type(self.noise).__name__}")
        V.check_positive("max_order", self.max_order, integer=True)
        check_detection_limit(self.detection_limit)
        check_detection_limit(self.resolution, "resolution")
        V.check_choice("significance", self.significance, SIGNIFICANCE)
        V.check_fraction("alpha", self.alpha, low_open=True)
        if self.noise.exclude != "none":
            cb = self.bins()[0]
            _, _, count = noise_windows(self.n_bins, cb, self.noise.n_neighbors, self.noise.skip, self.excluded_bins())
            if not count.any():  # windows with some bins left but fewer than n_neighbors give NaN (the usual rule)
                raise ValueError(f"noise exclude={self.noise.exclude!r} leaves no noise bin in the window of any "
                                 f"component: widen n_neighbors, or exclude 'components' or 'none'")

    @property
    def components(self) -> list[C.Component]:
        """Every component of the design below Nyquist (``frequency_components.components``), sorted by frequency."""
        t = self.tags
        return C.components(t.freqs_hz, fps=t.fps, n_frames=t.n_frames, max_order=self.max_order)

    @property
    def floor(self) -> tuple[float, float]:
        """``(detection_limit, resolution)``: the arguments of ``fourier.transform``'s detection floor."""
        return self.detection_limit, self.resolution

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

    @property
    def rule(self) -> str:
        """A sentence that states the significance rule and its null, for reports."""
        if self.significance == "z":
            return (f"z > {self.noise.z_threshold:g} against {self.noise.n_neighbors} neighbouring bins per side "
                    f"(EEG rule; for a noise-free network it depends on the recording length)")
        return (f"amplitude test across images: one-sided t on each unit's relative amplitude (amplitude / AC "
                f"amplitude), H0: mean <= {self.detection_limit:g} (the detection limit), Benjamini-Hochberg FDR "
                f"{self.alpha:g} over the units of a layer per component")

    def excluded_bins(self) -> tuple[int, ...]:
        """Bins that every noise window leaves out, by ``noise.exclude`` (``spectral.noise.NoiseConfig``)."""
        if self.noise.exclude == "none":
            return ()
        if self.noise.exclude == "components":
            return tuple(int(b) for b in C.unique_bins(self.components))
        step = C.lattice_step(self.components)
        return tuple(range(step, self.n_bins, step))

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


__all__ = ["SIGNIFICANCE", "Design", "as_design"]
