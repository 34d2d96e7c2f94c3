"""Spectral components of a tagging design: fundamentals, harmonics and intermodulation.

SCIENCE.md section 4: harmonics of tag p are ``n * f_p`` for n = 1, 2, ... below Nyquist (the
fundamental is n = 1); intermodulation components are ``sum_p c_p * f_p`` with at least two non-zero
integer coefficients, of order ``sum_p |c_p|`` (IEC definition) up to ``max_order``, kept when
``0 < frequency < Nyquist``. Several components can land on one bin (6 and 7.5 Hz:
5*6 = 4*7.5 = 30 Hz): such components are marked ``shared`` and carry every label of their bin,
and measures that claim to be purely harmonic or purely intermodulation leave them out.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np

from ssvepjax import _checks as V
from ssvepjax.tagging.tags import validate_tags

#: Kind of a component at a tag frequency.
FUNDAMENTAL = "fundamental"
#: Kind of a component at a multiple of one tag.
HARMONIC = "harmonic"
#: Kind of a component that combines several tags, ``p*f1 + q*f2``.
INTERMODULATION = "intermodulation"
#: The kinds of component.
KINDS = (FUNDAMENTAL, HARMONIC, INTERMODULATION)


@dataclasses.dataclass(frozen=True)
class Component:
    """One spectral component.

    Attributes:
        frequency_hz: its frequency in Hz.
        bin: its rfft bin (``frequency_hz * n_frames / fps``).
        kind: ``"fundamental"``, ``"harmonic"`` or ``"intermodulation"``.
        coefficients: integer coefficient of each tag (``frequency = sum c_p * f_p``).
        order: ``sum |c_p|`` (1 for a fundamental, n for the n-th harmonic).
        shared: True when another component lands on the same bin.
        labels: the labels of every component on this bin (itself included).
    """

    frequency_hz: float
    bin: int
    kind: str
    coefficients: tuple[int, ...]
    order: int
    shared: bool = False
    labels: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return component_label(self.coefficients)

    @property
    def tag(self) -> int | None:
        """Index of the tag of a fundamental or harmonic (None for intermodulation)."""
        nz = [i for i, c in enumerate(self.coefficients) if c]
        return nz[0] if len(nz) == 1 else None


def component_label(coefficients: Sequence[int]) -> str:
    """Human label such as ``"f1"``, ``"3f2"``, ``"f1+f2"``, ``"2f2-f1"``."""
    terms = []
    # Positive terms first so a label reads like a frequency ("2f2-f1", never "-f1+2f2").
    order = sorted(range(len(coefficients)), key=lambda i: (coefficients[i] < 0, i))
    for i in order:
        c = coefficients[i]
        if c == 0:
            continue
        mag = "" if abs(c) == 1 else str(abs(c))
        sign = "-" if c < 0 else ("+" if terms else "")
        terms.append(f"{sign}{mag}f{i + 1}")
    return "".join(terms)


def components(
    freqs_hz: Sequence[float],
    *,
    fps: float = 120.0,
    n_frames: int = 240,
    max_order: int = 4,
    max_harmonic: int | None = None,
) -> list[Component]:
    """Every component of a tag design below Nyquist, sorted by frequency.

    Args:
        freqs_hz: tag frequencies in Hz, each on a bin.
        fps: frame rate (Hz).
        n_frames: number of frames T.
        max_order: highest intermodulation order ``sum |c_p|`` (>= 2 to get any).
        max_harmonic: highest harmonic number; None keeps every harmonic below Nyquist.

    Returns:
        A list of :class:`Component`, sorted by (frequency, kind, order).
    """
    bins = validate_tags(freqs_hz, fps, n_frames)
    V.check_positive("max_order", max_order, integer=True)
    if max_harmonic is not None:
        V.check_positive("max_harmonic", max_harmonic, integer=True)
    nyq_bin = n_frames / 2  # components strictly below Nyquist
    res = fps / n_frames
    found: dict[tuple[int, ...], int] = {}
    p = len(bins)
    for i, b in enumerate(bins):
        n = 1
        while n * b < nyq_bin and (max_harmonic is None or n <= max_harmonic):
            c = tuple(n if j == i else 0 for j in range(p))
            found[c] = n * b
            n += 1
    for c in itertools.product(range(-max_order, max_order + 1), repeat=p):
        if sum(1 for x in c if x) < 2 or sum(abs(x) for x in c) > max_order:
            continue
        k = int(np.dot(c, bins))
        if 0 < k < nyq_bin:
            found[c] = k
    by_bin: dict[int, list[tuple[int, ...]]] = {}
    for c, k in found.items():
        by_bin.setdefault(k, []).append(c)
    out = []
    for c, k in found.items():
        nz = sum(1 for x in c if x)
        order = sum(abs(x) for x in c)
        kind = INTERMODULATION if nz >= 2 else (FUNDAMENTAL if order == 1 else HARMONIC)
        labels = tuple(component_label(cc) for cc in sorted(by_bin[k], key=lambda cc: sum(map(abs, cc))))
        out.append(Component(k * res, k, kind, c, order, len(by_bin[k]) > 1, labels))
    return sorted(out, key=lambda x: (x.bin, KINDS.index(x.kind), x.order, x.label))


def unique_bins(comps: Sequence[Component], kind: str | None = None, *, include_shared: bool = True):
    """Sorted distinct bins of ``comps`` (optionally of one kind, optionally without shared bins)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return sorted({
        c.bin for c in comps if (kind is None or c.kind == kind) and (include_shared or not c.shared)
    })


def component_bins(comps: Sequence[Component]) -> tuple[np.ndarray, list[str]]:
    """Distinct bins of ``comps`` in frequency order and one label per bin ("5f1=4f2" when shared)."""
    bins = unique_bins(comps)
    labels = {}
    for c in comps:
        labels.setdefault(c.bin, "=".join(c.labels) if c.labels else c.label)
    return np.asarray(bins, dtype=np.int32), [labels[b] for b in bins]


def lattice_step(comps: Sequence[Component]) -> int:
    """Greatest common divisor of the tag bins: every integer combination of tags is a multiple of it."""
    tag_bins = [c.bin for c in comps if c.kind == FUNDAMENTAL]
    return int(np.gcd.reduce(tag_bins)) if tag_bins else 1


def noise_bins(
    comps: Sequence[Component],
    n_frames: int,
    *,
    n_neighbors: int = 10,
    skip: int = 1,
    lattice: str = "off",
) -> np.ndarray:
    """Bins that are no listed component, with a complete noise window: for false-positive rates.

    A deterministic network can only respond at integer combinations of the tags, i.e. at multiples
    of the tag bins' greatest common divisor g (bin 3, 1.5 Hz, for 6 and 7.5 Hz at 0.5 Hz
    resolution); combinations above ``max_order`` also land there. So:

    - ``lattice="off"``: bins that are not multiples of g. No nonlinearity can put a response
      there: z above threshold there is a false positive.
    - ``lattice="on"``: multiples of g that are no listed component (responses of order above
      ``max_order`` live there).
    - ``lattice="any"``: both.

    Every returned bin is at least ``skip + 1`` bins from a listed component and has its full
    ``2 * n_neighbors`` noise window inside ``1..n_frames // 2``. Where g is 1 there are no
    off-lattice bins and ``"off"`` returns an empty array.
    """
    if lattice not in ("off", "on", "any"):
        raise ValueError(f"lattice must be 'off', 'on' or 'any', got {lattice!r}")
    k_max = n_frames // 2
    g = lattice_step(comps)
    taken = set()
    for c in comps:
        taken.update(range(c.bin - skip, c.bin + skip + 1))
    lo, hi = skip + n_neighbors + 1, k_max - skip - n_neighbors
    keep = []
    for k in range(lo, hi + 1):
        on = k % g == 0
        if k in taken or (lattice == "off" and (on or g == 1)) or (lattice == "on" and not on):
            continue
        keep.append(k)
    return np.asarray(keep, dtype=np.int32)


__all__ = ["FUNDAMENTAL", "HARMONIC", "INTERMODULATION", "KINDS", "Component", "component_bins",
           "component_label", "components", "lattice_step", "noise_bins", "unique_bins"]
