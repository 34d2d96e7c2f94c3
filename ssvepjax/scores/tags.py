"""Tag scores: a filter's response to a frequency-tagged stimulus, the one place that calls the spectral measures.

:func:`tag_scores` probes a per-frame function over tagged images (``streaming.probe_dataset``), measures every
filter (or neuron) at every component bin of the design (``analysis.measure``) and sums the rows of one or
more *kinds*. Each image's parts flicker at the design's tags (Böge et al. 2024, arXiv 2411.10084; the
follow-up paper, xAI 2025, selects filters for class-activation maps by it; SCIENCE.md sections 1, 4 and 7).

A filter's spectrum is the mean of its neurons' amplitude spectra over positions (spatial map first), averaged
over images (SCIENCE.md section 5). Two measures of it, chosen with ``measure=``:

- ``"amplitude"``: the amplitude at the bin (a Fourier-series coefficient, activation units; NaN counts 0).
  It does not depend on the recording length (SCIENCE.md section 6).
- ``"bca+"``: the baseline-corrected amplitude (amplitude minus the mean of its noise bins, SCIENCE.md
  section 3; activation units), NaN or infinite (an incomplete noise window) counting 0, clipped at 0 per bin.

Kinds (rows of ``design.bins()[0]``; a bin counts for a kind only when every component on it belongs to the
kind, so a bin shared by components of different kinds counts only for ``"all"`` and ``"significant"``):

- ``"fundamental"``: the tags ``f_p`` (n = 1);
- ``"higher_harmonic"``: the harmonics ``n f_p`` with n >= 2 only;
- ``"harmonic_series"``: the fundamentals and their harmonics, ``n f_p`` with n >= 1 (Retter et al. 2021's
  harmonic sum): a filter that carries the tagged parts forward;
- ``"tag1"``, ``"tag2"``, ...: the harmonic series of one tag (part) only;
- ``"intermodulation"``: ``p f_1 + q f_2 + ...`` with two or more tags: a filter that combines the parts
  nonlinearly;
- ``"all"``: every component bin;
- ``"significant"``: every component bin, each weighted by the fraction of the filter's neurons that respond
  there under the design's significance rule (``Design.significance``; by default the amplitude test across
  images, which needs two images or more; SCIENCE.md section 6). Per neuron the weight is 1 or 0.

Scores are sums over the kind's rows, in activation units: layers with different activation scales differ in
scale (``pruning.group_scores`` divides by each layer's mean before ranking across layers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ssvepjax.analysis.results import measure as measure_spectra
from ssvepjax.analysis.summaries import responding
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import probe_dataset

__all__ = ["BASE_KINDS", "TAG_MEASURES", "component_rows", "component_values", "sum_rows", "tag_kinds", "tag_scores"]

#: What a tag score sums: the amplitude, or the baseline-corrected amplitude clipped at 0.
TAG_MEASURES = ("amplitude", "bca+")
#: The kinds of component a tag score can sum over (besides one tag's series, ``tag<p>``).
BASE_KINDS = ("fundamental", "higher_harmonic", "harmonic_series", "intermodulation", "all", "significant")
_SERIES = ("fundamental", "harmonic")  # the component kinds (tagging.components) of a harmonic series


def tag_kinds(n_parts: int) -> tuple[str, ...]:
    """Every kind of a design with ``n_parts`` tags: :data:`BASE_KINDS` and ``"tag1"`` .. ``"tag<P>"``."""
    return BASE_KINDS + tuple(f"tag{p + 1}" for p in range(n_parts))


def _check_kinds(kind, design) -> tuple[str, ...]:
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    allowed = tag_kinds(len(design.tags.freqs_hz))
    if not kinds or any(k not in allowed for k in kinds):
        raise ValueError(f"kind must be one of {allowed} (or a sequence of them), got {kind!r}")
    return kinds


def _check_measure(measure: str) -> None:
    if measure not in TAG_MEASURES:
        raise ValueError(f"measure must be one of {TAG_MEASURES}, got {measure!r}")


def _check_images(images) -> int:
    shape = np.shape(images)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"images must have shape [N, H, W, C] with N >= 1, got shape {shape}")
    return shape[0]


def component_rows(design, kind: str = "all") -> np.ndarray:
    """Rows of ``design.bins()[0]`` that count for ``kind`` (one of ``tag_kinds(n_parts)``; module docstring).

    ValueError if the design has no bin of that kind.
    """
    _check_kinds(kind, design)
    on_bin = [[c for c in design.components if c.bin == b] for b in design.bins()[0]]
    if kind in ("all", "significant"):
        keep = [True] * len(on_bin)
    elif kind == "harmonic_series":
        keep = [all(c.kind in _SERIES for c in cs) for cs in on_bin]
    elif kind == "higher_harmonic":
        keep = [all(c.kind == "harmonic" for c in cs) for cs in on_bin]
    elif kind in ("fundamental", "intermodulation"):
        keep = [all(c.kind == kind for c in cs) for cs in on_bin]
    else:
        p = int(kind[3:]) - 1
        keep = [all(c.kind in _SERIES and c.tag == p for c in cs) for cs in on_bin]
    if not any(keep):
        raise ValueError(f"the design has no component bin of kind {kind!r}")
    return np.flatnonzero(keep)


def _results(fn, images, masks, design, *, per_image: bool, tested: bool, chunk_size: int, progress: bool):
    """``analysis.measure`` of the probe over every image (one result), or of each image alone (N results)."""
    if not per_image:
        if tested:
            spec, relative = probe_dataset(fn, images, masks, design, relative=True, progress=progress,
                                           chunk_size=chunk_size)
        else:
            spec, relative = probe_dataset(fn, images, masks, design, progress=progress, chunk_size=chunk_size), None
        return [measure_spectra(spec, design, relative)]
    # One image at a time through the same loop (its compiled program is cached: one compilation).
    return [measure_spectra(probe_dataset(fn, np.asarray(images[i:i + 1]), masks, design, progress=False,
                                          chunk_size=1), design) for i in range(len(images))]


def _values(res, measure: str, per_neuron: bool, weight=None) -> np.ndarray:
    """``[m, ...]`` per-bin values of one layer's result: the measure, cleaned (module docstring), weighted."""
    src = res.neuron if per_neuron else res.filter
    if measure == "amplitude":
        v = np.nan_to_num(np.asarray(src["amplitude"], np.float64), nan=0.0)
    else:
        v = np.nan_to_num(np.asarray(src["bca"], np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if weight is not None:
        v = v * weight
    return np.maximum(v, 0.0) if measure == "bca+" else v


def _responding_share(res, design, per_neuron: bool) -> np.ndarray:
    """``[m, ...]``: 1/0 per neuron where it responds under the design's rule; a filter's share of such neurons."""
    m = len(res.labels)
    sig = responding(res, design).reshape(m, *res.unit_shape)
    return sig if per_neuron else sig.reshape(m, -1, res.unit_shape[-1]).mean(1)


def component_values(fn: Callable, images, masks, design=None, *, measure: str, per_image: bool = False,
                     per_neuron: bool = False, chunk_size: int = 8) -> dict[str, np.ndarray]:
    """Per-filter (or per-neuron) ``measure`` at every component bin: the rows :func:`sum_rows` adds up.

    Args:
        fn, images, masks, design, measure, per_image, per_neuron, chunk_size: as :func:`tag_scores`.

    Returns:
        ``{layer: [m, c]}`` (``[N, m, c]`` per image; ``[..., m, *unit_shape]`` per neuron), float64, rows in the
        order of ``design.bins()[0]``, cleaned as the module docstring says.
    """
    design = Design() if design is None else design
    _check_measure(measure)
    _check_images(images)
    results = _results(fn, images, masks, design, per_image=per_image, tested=False, chunk_size=chunk_size,
                       progress=False)
    out = {name: [_values(res[name], measure, per_neuron) for res in results] for name in results[0]}
    return {k: np.stack(v) if per_image else v[0] for k, v in out.items()}


def sum_rows(values: dict[str, np.ndarray], design, kind: str = "all") -> dict[str, np.ndarray]:
    """Scores of ``kind``: per-filter values ``{layer: [..., m, c]}`` (:func:`component_values`) summed over its rows.

    Returns:
        ``{layer: [c]}`` (or ``[N, c]`` for per-image values).
    """
    rows = component_rows(design, kind)
    m = len(design.bins()[0])
    out = {}
    for name, a in values.items():
        a = np.asarray(a, np.float64)
        if a.ndim < 2 or a.shape[-2] != m:
            raise ValueError(f"values of {name} must have shape [..., {m}, c] (one row per component bin of the "
                             f"design), got shape {a.shape}")
        out[name] = a[..., rows, :].sum(-2)
    return out


def tag_scores(
    fn: Callable,
    images,
    masks,
    design=None,
    kind: str | Sequence[str] = "all",
    *,
    measure: str,
    per_image: bool = False,
    per_neuron: bool = False,
    chunk_size: int = 8,
    progress: bool = False,
) -> dict:
    """Tag score of every filter (or neuron) of every layer that ``fn`` returns: one probe serves every kind.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation [..., c]}`` (e.g. ``sj.linen_fn``).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` part masks, one per tag of ``design``.
        design: the ``sj.Design`` (tags, components, noise settings; default ``sj.Design()``).
        kind: one kind (module docstring) or a sequence of them.
        measure: ``"amplitude"`` or ``"bca+"`` (module docstring).
        per_image: one score per image (each image probed alone) instead of the image average; not with
            ``"significant"``, which tests across images.
        per_neuron: score every neuron (``[..., c]`` maps, e.g. ``[h, w, c]``) instead of every filter.
        chunk_size: images per step of the image loop.
        progress: a progress bar over the loop's chunks.

    Returns:
        ``{layer: [c]}`` (``[N, c]`` per image, ``[..., *unit_shape]`` per neuron) for one kind;
        ``{kind: {layer: ...}}`` for a sequence. Finite, in activation units; non-negative for ``"bca+"``.
    """
    design = Design() if design is None else design
    kinds = _check_kinds(kind, design)
    _check_measure(measure)
    n = _check_images(images)
    rows = {k: component_rows(design, k) for k in kinds}  # a kind without bins fails before the probe runs
    # The amplitude test (across images) is needed only by "significant" under the amplitude rule.
    tested = "significant" in kinds and design.significance == "amplitude"
    if "significant" in kinds and per_image:
        raise ValueError("kind 'significant' tests across images: it has no per-image score (per_image=False)")
    if tested and n < 2:
        raise ValueError(f"kind 'significant' needs at least 2 images for the amplitude test across images, got "
                         f"{n} (or use Design(significance='z'))")
    results = _results(fn, images, masks, design, per_image=per_image, tested=tested, chunk_size=chunk_size,
                       progress=progress)
    out = {}
    for k in kinds:
        per_layer = {}
        for name in results[0]:
            scores = []
            for res in (r[name] for r in results):
                weight = _responding_share(res, design, per_neuron) if k == "significant" else None
                scores.append(_values(res, measure, per_neuron, weight)[rows[k]].sum(0))
            per_layer[name] = np.stack(scores) if per_image else scores[0]
        out[k] = per_layer
    return out[kinds[0]] if isinstance(kind, str) else out
