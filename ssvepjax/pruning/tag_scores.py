"""Filter importance from frequency-tag responses: the one place that calls the spectral measures.

:func:`tag_scores` probes a per-frame function over tagged images and reduces each filter's
image-averaged response to one number per score kind. Every other part of ``ssvepjax.pruning``
sees only its ``{layer: [c]}`` output, so a change of the spectral measures touches this function
alone.

Score kinds (for a filter: the mean of its neurons' amplitude spectra over positions, averaged over
images, measured at every component bin of the design; ``BCA+`` is the baseline-corrected amplitude
clipped at 0, NaN, where the noise window is incomplete, counting 0):

- ``"harmonic"``: summed BCA+ at the fundamentals and harmonics of every tag (bins that also hold an
  intermodulation component left out). The paper's proposal: a filter that carries the tagged
  parts forward.
- ``"tag1"``, ``"tag2"``, ...: the same for the fundamentals and harmonics of one tag (part) only.
- ``"intermodulation"``: summed BCA+ at the intermodulation components (shared bins left out): a
  filter that combines the parts nonlinearly.
- ``"significant"``: summed BCA+ at the components (any kind), each weighted by the fraction of the
  filter's neurons that respond there under the design's significance rule (``Design.significance``:
  by default the amplitude test across images, whose answer does not depend on the recording length;
  SCIENCE.md section 6). Per neuron, the weight is 1 where the neuron responds, else 0.
- ``"all"``: summed BCA+ at every component bin.

Units: activation units (BCA is an amplitude), so scores of layers with different activation
scales differ in scale; ``structure.group_scores`` divides by each layer's mean before ranking
across layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import numpy as np

from ssvepjax.analysis.results import measure
from ssvepjax.analysis.summaries import responding
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.streaming.loop import probe_dataset

__all__ = ["BASE_KINDS", "layer_output_fn", "tag_kinds", "tag_scores", "unit_tag_scores"]

#: Tag score kinds of every design (``tag_kinds`` adds one per tag).
BASE_KINDS = ("harmonic", "intermodulation", "significant", "all")


def tag_kinds(n_parts: int) -> tuple[str, ...]:
    """Every score kind of a design with ``n_parts`` tags: ``BASE_KINDS`` and ``"tag1"`` .. ``"tag<P>"``."""
    return BASE_KINDS + tuple(f"tag{p + 1}" for p in range(n_parts))


def _rows(design, kind: str) -> tuple[np.ndarray, bool]:
    """Indices of the component bins (``design.bins()[0]``) a kind sums over, and whether z gates them."""
    cb = design.bins()[0]
    on_bin = [[c for c in design.components if c.bin == b] for b in cb]
    harmonic = ("fundamental", "harmonic")
    if kind == "harmonic":
        keep = [all(c.kind in harmonic for c in cs) for cs in on_bin]
    elif kind == "intermodulation":
        keep = [all(c.kind == "intermodulation" for c in cs) for cs in on_bin]
    elif kind in ("significant", "all"):
        keep = [True] * len(cb)
    else:
        p = int(kind[3:]) - 1
        keep = [all(c.kind in harmonic and c.tag == p for c in cs) for cs in on_bin]
    return np.flatnonzero(keep), kind == "significant"


def tag_scores(
    fn: Callable,
    images: np.ndarray,
    masks: np.ndarray,
    design,
    kind: str | Sequence[str] = "harmonic",
    *,
    per_neuron: bool = False,
) -> dict:
    """Tag-response score of every filter (or neuron) of every layer that ``fn`` returns.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation [..., c]}`` (e.g. ``sj.linen_fn``).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` part masks, one per tag of ``design``.
        design: the ``sj.Design`` (tags, components, noise settings).
        kind: one score kind (module docstring) or a sequence of kinds; one probe pass serves all.
        per_neuron: score every neuron (``[..., c]`` maps, e.g. ``[h, w, c]``) instead of every filter.

    Returns:
        ``{layer: [c]}`` (or ``[..., c]`` maps) for one kind; ``{kind: {layer: ...}}`` for a sequence.
        Non-negative, finite.
    """
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    allowed = tag_kinds(len(design.tags.freqs_hz))
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        raise ValueError(f"kind must be one or more of {allowed}, got {kind!r}")
    # The amplitude test (across images) is needed only by "significant" under the amplitude rule.
    tested = "significant" in kinds and design.significance == "amplitude"
    if tested and len(images) < 2:
        raise ValueError(f"kind 'significant' needs at least 2 images for the amplitude test across images, got "
                         f"{len(images)} (or use Design(significance='z'))")
    if tested:
        spec, relative = probe_dataset(fn, images, masks, design, relative=True, progress=False)
    else:
        spec, relative = probe_dataset(fn, images, masks, design, progress=False), None
    results = measure(spec, design, relative)
    out = {}
    for k in kinds:
        rows, gated = _rows(design, k)
        per_layer = {}
        for name, res in results.items():
            src = res.neuron if per_neuron else res.filter
            bca = np.nan_to_num(np.asarray(src["bca"], np.float64)[rows], nan=0.0, posinf=0.0, neginf=0.0)
            if gated:  # the design's rule, per neuron; a filter weighs each component by its responding share
                sig = responding(res, design).reshape(len(res.labels), *res.unit_shape)[rows]
                weight = sig if per_neuron else sig.reshape(len(rows), -1, res.unit_shape[-1]).mean(1)
                bca = bca * weight
            per_layer[name] = np.maximum(bca, 0.0).sum(0)
        out[k] = per_layer
    return out[kinds[0]] if isinstance(kind, str) else out


def _unit_layer(name: str) -> str:
    """``stage1_block0/conv1/conv/__call__`` -> ``stage1_block0/conv1`` (the names of ``pruning.dependency``)."""
    parts = [q for q in name.split("/") if q != "__call__"]
    if len(parts) > 1 and parts[-1] == "conv":
        parts = parts[:-1]
    return "/".join(parts)


def layer_output_fn(model, variables, layers: Sequence[str], **apply_kwargs) -> Callable:
    """Per-frame function ``[H, W, C] -> {layer: output [..., c]}`` of the conv and dense layers named ``layers``.

    Each layer's output is what its filters, units or heads write (a conv's channels before batch norm,
    an MLP's hidden units before the nonlinearity, the ``qkv`` columns of an attention layer), keyed
    by the layer names of ``pruning.topology(model).layers``. ValueError if a name is not a conv or
    dense layer of the model.
    """
    wanted = set(layers)
    inner = linen_fn(model, variables, capture_intermediates=lambda m, _: isinstance(m, (nn.Conv, nn.Dense)),
                     **apply_kwargs)

    def fn(frame):
        acts = inner(frame)
        out = {_unit_layer(k): a for k, a in acts.items() if _unit_layer(k) in wanted}
        missing = sorted(wanted - set(out))
        if missing:
            raise ValueError(f"layers: {missing} are not conv or dense layers of the model")
        return out

    return fn


def unit_tag_scores(model, variables, images, masks, design, kind="harmonic", *, graph=None, **apply_kwargs) -> dict:
    r"""Tag score of every prunable filter, hidden unit and attention ``qkv`` column: ``{layer: [c]}``.

    The scores of :func:`tag_scores` (same ``kind``\ s) read from each prunable layer's own output
    (:func:`layer_output_fn`), for every layer of ``graph`` (default ``pruning.topology(model)``), so
    ``keep_masks`` takes them as they are and ``group_scores`` gives one score per group (a head's is the
    mean of its query, key and value columns, each divided by its layer's mean).
    """
    from ssvepjax.pruning.structure import topology

    layers = (graph if graph is not None else topology(model, variables)).layers
    return tag_scores(layer_output_fn(model, variables, layers, **apply_kwargs), images, masks, design, kind)
