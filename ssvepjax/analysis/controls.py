"""Control conditions: what a reviewer asks of "the network responds at intermodulation frequencies".

:func:`control_conditions` builds the controls of one trained network: the same architecture
untrained (random init), the trained weights with every nonlinearity replaced by identity (an affine
network: only f1 and f2 can respond), only one part modulated (no intermodulation possible), and the
tags swapped between parts (responses must follow the part). :func:`run_condition` measures each one
with the *original* design, so every condition is evaluated at the same bins: a bin where the stimulus
cannot drive any response is a false-positive check. :func:`part_following` compares the swapped
condition with the original unit by unit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.analysis.results import LayerResult, measure
from ssvepjax.analysis.summaries import component_row, responding
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import probe_dataset
from ssvepjax.tagging.masks import check_masks, halves
from ssvepjax.tagging.tags import TagConfig

#: The control conditions of ``run_condition``, in report order (described in ``CONDITION_DESCRIPTIONS``).
CONDITIONS = ("trained", "untrained", "linear", "one_part", "swapped")
#: One sentence per control condition: what is changed and what it can show.
CONDITION_DESCRIPTIONS = {
    "trained": "the trained network, every part at its own tag",
    "untrained": "the same architecture with random initial weights (seeded), not trained",
    "linear": "the trained weights with every nonlinearity replaced by identity and max-pooling by averaging (batch "
              "norm at inference is affine, so a CNN is affine: only f1 and f2 can respond; a transformer keeps "
              "its attention softmax and layer norms, so only its MLPs become linear)",
    "one_part": "only the first part modulated (at f1), the others static: no intermodulation can exist, and "
                "f2 and its harmonics are bins the stimulus cannot drive",
    "swapped": "the tags swapped between parts (f1 on the last part, ...); measured at the original labels, "
               "so 'f1' is the frequency now on the right half",
}


@dataclasses.dataclass(frozen=True, eq=False)
class Condition:
    """One stimulus/network condition: a per-frame function, part masks and tags.

    Attributes:
        name: one of ``CONDITIONS``.
        description: what differs from the trained condition.
        fn: per-frame function ``[H, W, C] -> {layer: activation}``.
        masks: ``[P', H, W]`` part masks actually modulated.
        tags: the tags actually shown (one per mask).
    """

    name: str
    description: str
    fn: Callable
    masks: np.ndarray
    tags: TagConfig


def control_conditions(
    module,
    variables,
    image_shape: Sequence[int],
    tags: TagConfig = TagConfig(),
    *,
    conditions: Sequence[str] = CONDITIONS,
    masks=None,
    include: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Condition]:
    """The control conditions of a trained Linen network.

    Args:
        module: the trained ``flax.linen`` module (a ``CifarResNet``: ``linear`` needs its ``act`` field).
        variables: its trained variables.
        image_shape: ``(H, W, C)`` of one image.
        tags: the tag design of the trained condition (>= 2 tags for ``swapped``).
        conditions: which of ``CONDITIONS`` to build.
        masks: ``[P, H, W]`` part masks (default: left and right halves).
        include: recorded intermediates (``linen_fn``'s ``include``).
        seed: the seed of the random initialisation of ``untrained``.

    Returns:
        ``{name: Condition}`` in the order of ``conditions``.
    """
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; valid: {CONDITIONS}")
    if len(image_shape) != 3:
        raise ValueError(f"image_shape must be (H, W, C), got {tuple(image_shape)}")
    h, w, c = (int(v) for v in image_shape)
    p = len(tags.freqs_hz)
    if "swapped" in conditions and p < 2:
        raise ValueError("the 'swapped' condition needs at least 2 tags")
    masks = check_masks(halves(h, w) if masks is None else masks, h, w, p)
    kw = dict(capture_intermediates=False, include=include, train=False)
    out = {}
    for name in conditions:
        mod, var, m, t = module, variables, masks, tags
        if name == "untrained":
            # One compiled program: run eagerly, init compiles each of its operations alone (~3x slower).
            var = jax.jit(functools.partial(module.init, train=False))(jax.random.key(seed), jnp.zeros((1, h, w, c)))
        elif name == "linear":
            if not hasattr(module, "act"):
                raise ValueError("the 'linear' condition needs a module with an 'act' field (CifarResNet)")
            # Max-pooling is a nonlinearity too: a network that pools (VGG) pools by averages in the linear control.
            mod = module.clone(act="identity", **({"pool": "avg"} if hasattr(module, "pool") else {}))
        elif name == "one_part":
            m, t = masks[:1], dataclasses.replace(tags, freqs_hz=tags.freqs_hz[:1])
        elif name == "swapped":
            t = dataclasses.replace(tags, freqs_hz=tags.freqs_hz[::-1])
        out[name] = Condition(name, CONDITION_DESCRIPTIONS[name], linen_fn(mod, var, **kw), m, t)
    return out


def run_condition(
    cond: Condition, images: np.ndarray, design: Design = Design(), *, progress: bool = False
) -> dict[str, LayerResult]:
    """Probe ``images`` under ``cond`` and measure every layer at the bins of ``design``.

    ``design`` is the original design (its tags, frame count and noise settings), whatever tags the
    condition shows: each condition is read at the same component and noise bins.
    """
    if cond.tags.n_frames != design.tags.n_frames or cond.tags.fps != design.tags.fps:
        raise ValueError(
            f"condition {cond.name!r} has {cond.tags.n_frames} frames at {cond.tags.fps} fps, the design "
            f"{design.tags.n_frames} at {design.tags.fps}: they must match")
    spec, relative = probe_dataset(cond.fn, images, cond.masks, dataclasses.replace(design, tags=cond.tags),
                                   relative=tuple(int(b) for b in design.bins()[0]), progress=progress)
    return measure(spec, design, relative)


def tag_significance(results: dict[str, LayerResult], design: Design = Design()) -> dict[str, np.ndarray]:
    """``{layer: bool [P, n_units]}``: which units respond at each tag's fundamental (the design's rule)."""
    rows = [component_row(design, f"f{p + 1}") for p in range(design.tags.n_tags)]
    return {n: responding(r, design)[rows] for n, r in results.items()}


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def part_following(reference: dict[str, np.ndarray], swapped: dict[str, np.ndarray]) -> dict[str, dict]:
    """Do responses follow the part or the frequency when the tags are swapped?

    Args:
        reference: ``tag_significance`` of the original condition (tag p on part p).
        swapped: ``tag_significance`` of the swapped condition, measured with the original design, so
            its row q is the frequency of tag q, now on part ``P - 1 - q``.

    Returns:
        ``{layer: {...}}`` with, averaged over parts, the Jaccard index between the units significant for
        a part in both conditions (``follow_part``) and between the units significant at a frequency in
        both (``follow_frequency``); ``*_exclusive`` use only units significant at one tag and not the
        others (units that see one part), where the two hypotheses disagree most.
    """
    out = {}
    for layer, ref in reference.items():
        if layer not in swapped:
            continue
        sw = swapped[layer]
        p = ref.shape[0]
        excl_ref = ref & (ref.sum(0, keepdims=True) == 1)
        excl_sw = sw & (sw.sum(0, keepdims=True) == 1)
        row = {}
        for key, r, s in (("", ref, sw), ("_exclusive", excl_ref, excl_sw)):
            row[f"follow_part{key}"] = float(np.nanmean([_jaccard(r[i], s[p - 1 - i]) for i in range(p)]))
            row[f"follow_frequency{key}"] = float(np.nanmean([_jaccard(r[i], s[i]) for i in range(p)]))
        row["exclusive_units"] = [int(excl_ref[i].sum()) for i in range(p)]
        out[layer] = row
    return out


__all__ = ["CONDITIONS", "CONDITION_DESCRIPTIONS", "Condition", "control_conditions", "part_following",
           "run_condition", "tag_significance"]
