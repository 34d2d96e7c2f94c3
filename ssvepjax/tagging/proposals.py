"""Tag design: which components collide, and the shortest recording that keeps them apart.

Once every tag sits on a bin (``f_p * T / fps`` an integer), every component ``sum_p c_p * f_p`` sits
on the bin ``sum_p c_p * k_p`` too, so two components share a bin exactly when their frequencies are
equal. Collisions are therefore of two kinds only:

- exact frequency coincidences (6 and 7.5 Hz: 5*6 = 4*7.5 = 30 Hz). They depend on the ratio of the
  tags, never on the frame count or frame rate: no design removes them, so :func:`propose_design`
  reports them as ``unavoidable`` (a frame rate can only move them above Nyquist);
- components on neighbouring bins. More frequency resolution (more frames) pulls them apart, and
  :func:`propose_design` asks for as many frames as that takes.

Off-bin tags are never a collision to report: :func:`~ssvepjax.tagging.frequency_components.components` refuses them,
and :func:`propose_design` only proposes frame counts that put every tag on a bin.

Only components below Nyquist are checked (SCIENCE.md section 4). Components that the chosen orders
put at or above Nyquist are listed in ``Proposal.above_nyquist``: in sampled frames they alias back
into the spectrum, and this module does not track where they land.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np

from ssvepjax import _checks as V
from ssvepjax.tagging.frequency_components import Component, component_label, components


@dataclasses.dataclass(frozen=True)
class Collision:
    """A bin where more than one component lands.

    Attributes:
        bin: the rfft bin.
        frequency_hz: its frequency in Hz (the common frequency of the components).
        labels: every component on the bin, lowest order first (e.g. ``("4f2", "5f1")``).
    """

    bin: int
    frequency_hz: float
    labels: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Proposal:
    """A proposed recording for a set of tags (static).

    Attributes:
        fps: frame rate in Hz.
        n_frames: number of frames T.
        resolution_hz: ``fps / n_frames``.
        n_components: how many components (fundamentals, harmonics up to ``max_harmonic``,
            intermodulation up to ``max_order``) lie below Nyquist.
        min_gap_bins: smallest distance in bins between two distinct component bins (None with a
            single component bin).
        unavoidable: exact frequency coincidences below Nyquist, which no frame count removes.
        above_nyquist: labels of components of the chosen orders at or above Nyquist (they alias).
    """

    fps: float
    n_frames: int
    resolution_hz: float
    n_components: int
    min_gap_bins: int | None
    unavoidable: tuple[Collision, ...]
    above_nyquist: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def _collisions(comps: Sequence[Component]) -> list[Collision]:
    seen: dict[int, Collision] = {}
    for c in comps:
        if c.shared and c.bin not in seen:
            seen[c.bin] = Collision(c.bin, c.frequency_hz, c.labels)
    return [seen[b] for b in sorted(seen)]


def collisions(freqs_hz: Sequence[float], **settings) -> list[Collision]:
    """Bins where more than one component lands, in frequency order.

    Args:
        freqs_hz: tag frequencies in Hz, each on a bin.
        **settings: ``fps``, ``n_frames``, ``max_order``, ``max_harmonic`` as in
            ``frequency_components.components`` (``max_harmonic=None`` keeps every harmonic below Nyquist,
            so (6, 7.5) Hz at 120 fps reports 30 Hz = 5f1 = 4f2).

    Returns:
        One :class:`Collision` per shared bin (empty when every component has its own bin).
    """
    return _collisions(components(freqs_hz, **settings))


def _check_tags(freqs_hz) -> tuple[float, ...]:
    if isinstance(freqs_hz, (int, float, np.number)) or len(freqs_hz) == 0:
        raise ValueError(f"freqs_hz must be a non-empty sequence of frequencies, got {freqs_hz!r}")
    tags = []
    for f in freqs_hz:
        number = isinstance(f, (int, float, np.number)) and not isinstance(f, bool)
        if not number or not math.isfinite(f) or f <= 0:
            raise ValueError(f"freqs_hz: {f!r} must be a finite frequency > 0 (Hz)")
        tags.append(float(f))
    if len(set(tags)) != len(tags):
        raise ValueError(f"freqs_hz must be distinct tags, got {tuple(tags)}")
    return tuple(tags)


def _on_bins(tags: Sequence[float], fps: float, n_frames: int) -> bool:
    return all(abs(f * n_frames / fps - round(f * n_frames / fps)) <= V.BIN_TOL for f in tags)


def _above_nyquist(tags, fps, max_order, max_harmonic) -> tuple[str, ...]:
    """Labels of harmonics (n <= max_harmonic) and intermodulation (order <= max_order) >= Nyquist."""
    p = len(tags)
    nyquist = fps / 2 * (1 - 1e-9)  # a component exactly at Nyquist counts as above it
    out = []
    for i in range(p):
        for n in range(1, max_harmonic + 1):
            c = tuple(n if j == i else 0 for j in range(p))
            if n * tags[i] >= nyquist:
                out.append((n * tags[i], component_label(c)))
    for c in itertools.product(range(-max_order, max_order + 1), repeat=p):
        if sum(1 for x in c if x) < 2 or sum(abs(x) for x in c) > max_order:
            continue
        f = float(np.dot(c, tags))
        if f >= nyquist:
            out.append((f, component_label(c)))
    return tuple(label for _, label in sorted(out))


def _design_at(tags, fps, max_order, max_harmonic, min_separation, max_frames) -> Proposal | None:
    """Shortest design at one frame rate, or None."""
    for t in range(2, max_frames + 1):
        if not _on_bins(tags, fps, t):
            continue
        comps = components(tags, fps=fps, n_frames=t, max_order=max_order, max_harmonic=max_harmonic)
        bins = np.unique([c.bin for c in comps])
        gap = int(np.diff(bins).min()) if bins.size > 1 else None
        if gap is None or gap >= min_separation:
            return Proposal(
                fps=fps,
                n_frames=t,
                resolution_hz=fps / t,
                n_components=len(comps),
                min_gap_bins=gap,
                unavoidable=tuple(_collisions(comps)),
                above_nyquist=_above_nyquist(tags, fps, max_order, max_harmonic),
            )
    return None


def propose_design(
    freqs_hz: Sequence[float],
    *,
    max_order: int = 4,
    max_harmonic: int | None = None,
    min_separation: int = 2,
    fps: float = 120.0,
    max_frames: int = 4096,
    fps_options: Sequence[float] | None = None,
) -> Proposal:
    """The shortest recording that puts every tag on a bin and keeps every component apart.

    A design qualifies when every tag sits on a bin and any two components with different frequencies
    lie at least ``min_separation`` bins apart. Components with equal frequencies cannot be separated
    by any frame count (module docstring); they are reported in ``Proposal.unavoidable``, not refused.

    ``min_separation`` is the choice of what "apart" means:

    - 1: distinct bins only. With every tag on a bin this holds for every frame count, so the answer is
      the shortest T that puts the tags on bins.
    - 2 (default): no component on a bin next to another, i.e. outside each other's immediate
      neighbourhood (the bins that ``skip=1`` leaves out of the noise estimate); responses never merge
      into one wide peak.
    - ``skip + n_neighbors + 1`` (12 with the ``spectral`` defaults): no component inside another's
      noise window, at the cost of longer recordings.

    Args:
        freqs_hz: tag frequencies in Hz (distinct, > 0).
        max_order: highest intermodulation order ``sum |c_p|`` considered.
        max_harmonic: highest harmonic number considered; None means ``max_order``. High harmonics
            of tags with a simple ratio coincide exactly (5*6 = 4*7.5); pass a larger value to see them
            reported as unavoidable.
        min_separation: least distance in bins between two components of different frequency (>= 1).
        fps: frame rate in Hz, used when ``fps_options`` is None.
        max_frames: the longest recording allowed (frames).
        fps_options: frame rates to choose from (replaces ``fps``). The design with the fewest frames
            wins; ties go to fewer unavoidable collisions, then to the earlier option.

    Returns:
        A :class:`Proposal`.

    Raises:
        ValueError: bad arguments, or no design within ``max_frames`` (a tag design that cannot be made
            collision-free within limits).
    """
    tags = _check_tags(freqs_hz)
    V.check_positive("max_order", max_order, integer=True)
    if max_harmonic is None:
        max_harmonic = max_order
    V.check_positive("max_harmonic", max_harmonic, integer=True)
    V.check_positive("min_separation", min_separation, integer=True)
    V.check_positive("max_frames", max_frames, integer=True)
    if max_frames < 2:
        raise ValueError(f"max_frames must be an integer >= 2, got {max_frames!r}")
    if fps_options is None:
        V.check_positive("fps", fps)
        rates = (float(fps),)
        rate_name = f"fps={fps}"
    else:
        if isinstance(fps_options, (int, float, np.number)) or len(fps_options) == 0:
            raise ValueError(f"fps_options must be a non-empty sequence of frame rates, got {fps_options!r}")
        for r in fps_options:
            V.check_positive("fps_options", r)
        rates = tuple(float(r) for r in fps_options)
        rate_name = f"fps_options={rates}"
    feasible = [r for r in rates if max(tags) < r / 2]
    if not feasible:
        raise ValueError(
            f"freqs_hz: the highest tag {max(tags)} Hz is at or above Nyquist for every frame rate in "
            f"{rate_name}; tags must lie below fps / 2"
        )
    best = None
    for i, r in enumerate(feasible):
        d = _design_at(tags, r, max_order, max_harmonic, min_separation, max_frames)
        if d is not None and (best is None or (d.n_frames, len(d.unavoidable), i) < best[0]):
            best = ((d.n_frames, len(d.unavoidable), i), d)
    if best is None:
        raise ValueError(
            f"freqs_hz={tags} is a tag design that cannot be made collision-free within limits: no "
            f"n_frames <= max_frames={max_frames} at {rate_name} puts every tag on a bin with components "
            f"of different frequency at least min_separation={min_separation} bins apart. Raise "
            f"max_frames, lower min_separation, max_order or max_harmonic, or choose tags with a simpler "
            f"ratio"
        )
    return best[1]


__all__ = ["Collision", "Proposal", "collisions", "propose_design"]
