"""Tag responses as filter importance, baselines, and filter masks for pruning.

A filter that responds strongly at the tags, their harmonics or their intermodulation components
carries the stimulus forward; one that does not is a pruning candidate. ``tag_importance`` scores
every filter of every recorded layer from its image-averaged amplitude spectrum (see
``analysis.measure``): the summed baseline-corrected amplitude (BCA) over the chosen components
where the filter's z exceeds the threshold. ``l1_importance`` is the L1 filter-norm baseline (Li et al.
2017). ``keep_masks`` turns scores into per-layer keep masks and ``apply_masks`` zeroes the pruned
filters of a ``models.CifarResNet`` (conv kernel, batch-norm scale and bias), so the pruned network
runs unchanged through ``probe`` and the accuracy code.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import numpy as np

from ssvepjax.analysis.results import LayerResult
from ssvepjax.spectral.design import Design
from ssvepjax.tagging import frequency_components as C

SCORES = ("bca", "z", "snr", "amplitude")


def tag_importance(
    results: dict[str, LayerResult],
    design: Design = Design(),
    *,
    kinds: Iterable[str] = (C.FUNDAMENTAL, C.HARMONIC, C.INTERMODULATION),
    score: str = "bca",
    significant_only: bool = True,
) -> dict[str, np.ndarray]:
    """Importance ``[c]`` of every filter of every layer from its tag responses.

    Args:
        results: ``analysis.measure`` output.
        design: the analysis design (components, noise, threshold).
        kinds: component kinds that count (shared bins are left out when more than one kind is
            asked for only if they belong to none of them).
        score: ``"bca"`` (default; in activation units), ``"z"``, ``"snr"`` or ``"amplitude"``.
        significant_only: count a component only where the filter's z exceeds the threshold.

    Returns:
        ``{layer: [c]}`` non-negative scores (NaN and infinite values count as 0 and as the layer's
        largest finite score respectively).
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in C.KINDS]
    if bad or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {C.KINDS}, got {kinds!r}")
    cb, _, _ = design.bins()
    rows = [i for i, b in enumerate(cb) if any(c.bin == b and c.kind in kinds for c in design.components)]
    out = {}
    for name, res in results.items():
        vals = np.asarray(res.filter[score], np.float64)[rows]
        if significant_only:
            vals = np.where(np.nan_to_num(res.filter["z"][rows], nan=-np.inf) > design.noise.z_threshold, vals, 0.0)
        finite = vals[np.isfinite(vals)]
        cap = finite.max() if finite.size else 0.0
        vals = np.nan_to_num(vals, nan=0.0, posinf=cap, neginf=0.0)
        out[name] = np.maximum(vals, 0.0).sum(0)
    return out


def conv_kernels(variables: dict) -> dict[str, np.ndarray]:
    """``{layer: kernel [kh, kw, c_in, c_out]}`` of a ``CifarResNet``, keyed like the probe's layer names."""
    out = {}
    flat = jax.tree_util.tree_flatten_with_path(variables["params"])[0]
    for path, leaf in flat:
        keys = [str(getattr(p, "key", p)) for p in path]
        if keys[-2:] == ["conv", "kernel"]:
            out["/".join(keys[:-2])] = np.asarray(leaf)
    return out


def l1_importance(variables: dict) -> dict[str, np.ndarray]:
    """L1 norm of each filter's kernel (Li et al. 2017), ``{layer: [c_out]}``."""
    return {name: np.abs(k).sum((0, 1, 2)) for name, k in conv_kernels(variables).items()}


def keep_masks(importance: dict[str, np.ndarray], fraction: float, *, scope: str = "layer") -> dict[str, np.ndarray]:
    """Boolean keep masks that remove the ``fraction`` least important filters.

    Args:
        importance: ``{layer: [c]}`` scores.
        fraction: share of filters to remove, in [0, 1).
        scope: ``"layer"`` removes that share in every layer; ``"global"`` ranks all filters together
            (every layer keeps at least one filter).

    Returns:
        ``{layer: bool [c]}``, True = keep. Ties are broken by filter index, so the result is deterministic.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction!r}")
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    if not importance:
        raise ValueError("importance is empty")
    masks = {}
    if scope == "layer":
        for name, s in importance.items():
            n_drop = int(np.floor(fraction * len(s)))
            order = np.argsort(np.asarray(s), kind="stable")
            m = np.ones(len(s), bool)
            m[order[:n_drop]] = False
            masks[name] = m
        return masks
    names = list(importance)
    scores = np.concatenate([np.asarray(importance[n], np.float64) for n in names])
    owner = np.concatenate([np.full(len(importance[n]), i) for i, n in enumerate(names)])
    n_drop = int(np.floor(fraction * len(scores)))
    keep = np.ones(len(scores), bool)
    left = {i: len(importance[n]) for i, n in enumerate(names)}
    for j in np.argsort(scores, kind="stable"):
        if n_drop == 0:
            break
        if left[owner[j]] > 1:
            keep[j] = False
            left[owner[j]] -= 1
            n_drop -= 1
    offsets = np.cumsum([0] + [len(importance[n]) for n in names])
    return {n: keep[offsets[i]:offsets[i + 1]] for i, n in enumerate(names)}


def apply_masks(variables: dict, masks: dict[str, np.ndarray]) -> dict:
    """Zero the pruned filters of a ``CifarResNet``: conv kernel columns and batch-norm scale and bias.

    A pruned filter then outputs exactly 0 before its residual addition. Layer names are those of
    ``conv_kernels`` (``stem``, ``stage1_block0/conv1``, ...); a ``/pre`` or ``/post`` suffix is accepted.
    """
    masks = {k.removesuffix("/pre").removesuffix("/post"): np.asarray(v, bool) for k, v in masks.items()}
    known = conv_kernels(variables)
    unknown = sorted(set(masks) - set(known))
    if unknown:
        raise ValueError(f"unknown layer names {unknown}; available: {sorted(known)}")
    for name, m in masks.items():
        if m.shape != (known[name].shape[-1],):
            raise ValueError(f"mask of {name} has shape {m.shape}, the layer has {known[name].shape[-1]} filters")

    def visit(path, leaf):
        keys = [str(getattr(p, "key", p)) for p in path]
        layer = "/".join(keys[1:-2])
        if layer in masks and keys[-2] in ("conv", "bn") and keys[-1] in ("kernel", "scale", "bias"):
            return leaf * masks[layer].astype(np.asarray(leaf).dtype)
        return leaf

    return jax.tree_util.tree_map_with_path(visit, variables)


def pruned_fraction(masks: dict[str, np.ndarray], variables: dict) -> dict[str, float]:
    """Share of filters and of conv parameters removed by ``masks``."""
    kernels = conv_kernels(variables)
    m = {k.removesuffix("/pre").removesuffix("/post"): v for k, v in masks.items()}
    n_f = sum(len(v) for v in m.values())
    removed_f = sum(int((~v).sum()) for v in m.values())
    total_p = sum(k.size for k in kernels.values())
    removed_p = sum(int(np.prod(kernels[n].shape[:3])) * int((~v).sum()) for n, v in m.items())
    return {"filters": removed_f / max(n_f, 1), "conv_params": removed_p / max(total_p, 1)}
