"""Dependency-aware structured pruning of any model: coupled channel groups, keep masks, smaller models.

The groups come from the model's own program (``pruning.dependency``): a residual addition couples the
channels it joins, so in a CIFAR ResNet the stem and the second conv of every block of a stage write into
one residual stream, and an option-A shortcut carries channel ``j`` on into the next stage's stream
(channel ``j + w1/2`` of stage 2 in the standard network); removing the second conv's filter ``j`` alone
would silence only that conv's contribution while the shortcut keeps the channel alive. A ResNet-50's
projection shortcuts, a ViT's residual stream, its attention heads and its MLP units, grouped and
depthwise convolutions and concatenations are followed the same way. So:

- a :class:`Group` is the set of ``(layer, filter)`` pairs that are pruned together: one filter of a
  layer whose outputs no other kernel shares (a block's first conv, an MLP hidden unit, an attention
  head's ``qkv`` columns), or one residual-stream channel followed through every layer it reaches;
- ``policy="grouped"`` prunes both kinds; ``policy="internal"`` prunes only groups inside one layer and
  leaves every residual stream alone (as Li et al. 2017 do for ResNet-56);
- :func:`keep_masks` turns per-filter scores into keep masks that respect the groups, with a per-set
  budget (every layer and every stream family loses the same share) or a global one (all groups
  ranked together, by score divided by the layer's mean score);
- :func:`apply_masks` zeroes the removed groups (same shapes, for fast one-shot evaluation) and
  :func:`prune` builds the physically smaller model: a ``CifarResNet`` with explicit widths for the
  CIFAR ResNets (trainable as before), otherwise a :class:`~ssvepjax.pruning.dependency.PrunedModel`
  that re-runs the traced program with the smaller arrays. Both give the same outputs up to float
  rounding (tests check this), except through a layer norm over a pruned stream (its mean counts the
  zeroed channels of the masked model).

``model`` is a library model (``CifarResNet``, ``ImageNetResNet``, ``VisionTransformer``: traced on a
small input), or, for any other Linen or NNX model, the :class:`DependencyGraph` of
``pruning.trace(model, variables, input_shape)``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.models.cifar_resnet import CifarResNet, resnet_blocks
from ssvepjax.models.resnet import ImageNetResNet
from ssvepjax.models.vggnet import VGG
from ssvepjax.models.vit import VisionTransformer
from ssvepjax.pruning.dependency import DependencyGraph, Group, trace

__all__ = [
    "BUDGETS", "POLICIES", "Group", "apply_masks", "channel_groups", "check_scores", "group_scores",
    "keep_masks", "prune", "removed_filters", "topology",
]

#: Which groups may be removed: every group (residual-stream channels included), or only groups inside one layer.
POLICIES = ("grouped", "internal")
#: How the pruning fraction is spent: the same share in every budget set, or all groups ranked together.
BUDGETS = ("layer", "global")


def _input_channels(variables, *path) -> int:
    try:
        node = variables["params"]
        for k in path:
            node = node[k]
        return int(np.shape(node)[-2])
    except (KeyError, TypeError, IndexError):
        return 3


@functools.lru_cache(maxsize=64)
def _traced(model, input_shape) -> DependencyGraph:
    graph = trace(model, None, input_shape)
    if isinstance(model, CifarResNet):
        graph.shortcut_channels = _cifar_shortcuts(graph, model)
    return graph


def topology(model, variables=None) -> DependencyGraph:
    """The traced :class:`DependencyGraph` of a model (``layers``, ``widths``, ``groups``, ``width_of``).

    Args:
        model: a ``CifarResNet``, ``ImageNetResNet``, ``VGG`` or ``VisionTransformer`` (traced on a small
            input: 8 x 8, 32 x 32, one pixel after the last max-pool, two patches square), or a graph from
            ``pruning.trace`` (returned as is).
        variables: optional variables, to read the number of input channels from.
    """
    if isinstance(model, DependencyGraph):
        return model
    if isinstance(model, CifarResNet):
        shape = (8, 8, _input_channels(variables, "stem", "conv", "kernel"))
    elif isinstance(model, ImageNetResNet):
        shape = (32, 32, _input_channels(variables, "stem", "conv", "kernel"))
    elif isinstance(model, VGG):
        shape = (2 ** len(model.stages),) * 2 + (_input_channels(variables, "conv1_1", "conv", "kernel"),)
    elif isinstance(model, VisionTransformer):
        p, side = model.patch_size, 2
        if variables is not None and "pos_embedding" in variables.get("params", {}):
            # The position embeddings fix the number of patches the variables were made for.
            side = int(round(np.sqrt(np.shape(variables["params"]["pos_embedding"])[1] - int(model.class_token))))
        shape = (side * p, side * p, _input_channels(variables, "patch_embed", "kernel"))
    else:
        raise ValueError(f"model must be a CifarResNet, ImageNetResNet, VGG or VisionTransformer, or the graph of "
                         f"pruning.trace(model, variables, input_shape) for any other Linen or NNX model; got "
                         f"{type(model).__name__}")
    return _traced(model, shape)


def _cifar_shortcuts(graph: DependencyGraph, model: CifarResNet) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Where each stream channel of stages 1 and 2 lands in the next stage, read from the traced groups."""
    n = resnet_blocks(model.depth)
    where = {m: g for g in graph.groups for m in g.members}
    out = []
    for s in (1, 2):
        last, nxt = f"stage{s}_block{n - 1}/conv2", f"stage{s + 1}_block0/conv2"
        sc = []
        for j in range(graph.width_of(last)):
            lands = [c for layer, c in where[(last, j)].members if layer == nxt]
            if len(lands) != 1:
                raise ValueError(f"stream channel {j} of stage {s} lands on {len(lands)} channels of stage {s + 1}")
            sc.append(lands[0])
        out.append(tuple(sc))
    return out[0], out[1]


def channel_groups(model, policy: str = "grouped") -> list[Group]:
    """Every prunable :class:`Group` of a model under ``policy`` (``"grouped"`` or ``"internal"``)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    groups = topology(model).groups
    if policy == "internal":
        return [g for g in groups if not g.family.startswith("stream")]
    return list(groups)


def check_scores(scores: Mapping[str, np.ndarray], model) -> dict[str, np.ndarray]:
    """Validate ``{layer: [c]}`` scores against a model: known layers, right lengths, finite values."""
    topo = topology(model)
    out = {}
    for name, s in scores.items():
        if name not in topo.layers:
            raise ValueError(f"scores: unknown layer {name!r}; the model's conv layers are {list(topo.layers)}")
        s = np.asarray(s, np.float64)
        if s.shape != (topo.width_of(name),):
            raise ValueError(f"scores of {name} have shape {s.shape}, the layer has {topo.width_of(name)} filters")
        if not np.all(np.isfinite(s)):
            raise ValueError(f"scores of {name} hold NaN or infinite values; every score must be finite")
        out[name] = s
    return out


def group_scores(scores: Mapping[str, np.ndarray], groups: list[Group]) -> np.ndarray:
    """Score of each group: the mean over its members of the filter's score divided by its layer's mean.

    Dividing by the layer mean puts layers of different activation scales on one footing (needed
    for global ranking and for groups that span layers); a layer whose scores are all 0 keeps 0s.
    A member whose layer has no score counts as the group's other members (a group with no scored
    member gets 0).
    """
    norm = {}
    for name, s in scores.items():
        m = np.abs(s).mean()
        norm[name] = s / m if m > 0 else s
    out = np.zeros(len(groups))
    for i, g in enumerate(groups):
        vals = [norm[layer][j] for layer, j in g.members if layer in norm]
        out[i] = np.mean(vals) if vals else 0.0
    return out


def _check_fraction(name: str, f) -> float:
    if isinstance(f, bool) or not isinstance(f, (int, float, np.floating)) or not 0.0 <= float(f) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {f!r}")
    return float(f)


def keep_masks(
    scores: Mapping[str, np.ndarray],
    model,
    fraction: float | Mapping[str, float],
    *,
    budget: str = "layer",
    policy: str = "grouped",
) -> dict[str, np.ndarray]:
    """Keep masks that remove the least important groups of filters.

    Args:
        scores: ``{layer: [c]}`` importance of each filter (higher = keep); layers without scores
            count as described in :func:`group_scores`.
        model: as in :func:`topology`.
        fraction: share to remove, in [0, 1). With ``budget="layer"`` every budget set (the groups
            inside each layer, e.g. a first conv, and each stream family ``"stream1"``, ...) loses
            ``floor(fraction * its groups)``; a mapping ``{set: fraction}`` gives each set its own
            share (sets not named lose nothing). With ``budget="global"`` it is the share of all conv
            filters of the model to remove; groups are ranked together by :func:`group_scores` and
            removed lowest first while they fit, every set keeping at least one group.
        budget: ``"layer"`` or ``"global"``.
        policy: ``"grouped"`` or ``"internal"`` (:func:`channel_groups`).

    Returns:
        ``{layer: bool [c]}`` for every prunable layer, True = keep. Ties go by group order, so the
        result is deterministic.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    scores = check_scores(scores, model)
    topo = topology(model)
    groups = channel_groups(model, policy)
    gs = group_scores(scores, groups)
    families: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        families.setdefault(g.family, []).append(i)
    drop = np.zeros(len(groups), bool)
    if isinstance(fraction, Mapping):
        if budget != "layer":
            raise ValueError("a per-set fraction mapping needs budget='layer'")
        unknown = sorted(set(fraction) - set(families))
        if unknown:
            raise ValueError(f"fraction names unknown budget sets {unknown}; with policy={policy!r} they are "
                             f"{sorted(families)}")
        per_set = {k: _check_fraction(f"fraction[{k!r}]", v) for k, v in fraction.items()}
    else:
        f = _check_fraction("fraction", fraction)
        per_set = dict.fromkeys(families, f)
    if budget == "layer":
        for fam, idx in families.items():
            n_drop = int(np.floor(per_set.get(fam, 0.0) * len(idx) + 1e-9))
            order = np.asarray(idx)[np.argsort(gs[idx], kind="stable")]
            drop[order[:n_drop]] = True
    else:
        target = int(np.floor(f * sum(topo.widths) + 1e-9))
        left = {fam: len(idx) for fam, idx in families.items()}
        removed = 0
        for i in np.argsort(gs, kind="stable"):
            size = len(groups[i].members)
            if removed + size <= target and left[groups[i].family] > 1:
                drop[i] = True
                left[groups[i].family] -= 1
                removed += size
        largest = max((len(g.members) for g in groups), default=0)
        if removed < target - largest:
            most = sum((len(idx) - 1) * len(groups[idx[0]].members) for idx in families.values())
            raise ValueError(f"fraction={f} asks for {target} of {sum(topo.widths)} filters, but policy={policy!r} "
                             f"can remove about {most} at most (every budget set keeps one group)")
    masks = {layer: np.ones(w, bool) for layer, w in zip(topo.layers, topo.widths)}
    for i in np.flatnonzero(drop):
        for layer, j in groups[i].members:
            masks[layer][j] = False
    return masks


def _check_masks(keep: Mapping[str, np.ndarray], topo: DependencyGraph) -> dict[str, np.ndarray]:
    """Complete and validate keep masks: known layers, right shapes, no empty layer, coupled channels agree."""
    if not isinstance(keep, Mapping):
        raise ValueError(f"keep must be a mapping {{layer: bool [c]}}, got {type(keep).__name__}")
    out = {layer: np.ones(w, bool) for layer, w in zip(topo.layers, topo.widths)}
    for name, m in keep.items():
        name = name.removesuffix("/pre").removesuffix("/post")
        if name not in out:
            raise ValueError(f"keep: unknown layer {name!r}; the model's prunable layers are {list(topo.layers)}")
        m = np.asarray(m)
        if m.shape != out[name].shape or m.dtype != bool:
            raise ValueError(f"keep[{name!r}] must be a bool array of shape {out[name].shape}, got {m.dtype} "
                             f"{m.shape}")
        if not m.any():
            raise ValueError(f"keep[{name!r}] removes every filter of the layer; keep at least one")
        out[name] = m
    covered = {layer: np.zeros(w, bool) for layer, w in zip(topo.layers, topo.widths)}
    for g in topo.groups:
        states = {bool(out[layer][j]) for layer, j in g.members}
        for layer, j in g.members:
            covered[layer][j] = True
        if len(states) > 1:
            a = next(m for m in g.members if out[m[0]][m[1]])
            b = next(m for m in g.members if not out[m[0]][m[1]])
            raise ValueError(f"keep: filter {a[1]} of {a[0]} and filter {b[1]} of {b[0]} are coupled (a residual "
                             f"stream, a shortcut, a concatenation or a grouped convolution joins them) and must be "
                             f"kept or removed together (a filter added to a shortcut cannot be removed alone; use "
                             f"keep_masks with policy='grouped')")
    for layer, m in out.items():
        if (~m & ~covered[layer]).any():
            j = int(np.flatnonzero(~m & ~covered[layer])[0])
            raise ValueError(f"keep: filter {j} of {layer} cannot be removed (it reaches the model's input or output)")
    return out


def removed_filters(keep: Mapping[str, np.ndarray], model) -> float:
    """Share of the model's prunable filters (units) that ``keep`` removes."""
    topo = topology(model)
    masks = _check_masks(keep, topo)
    return float(sum(int((~m).sum()) for m in masks.values()) / sum(topo.widths))


def apply_masks(variables, keep: Mapping[str, np.ndarray], model):
    """Zero the removed groups: every parameter entry tied to them (kernel columns and the next kernels' rows,
    batch- or layer-norm scale and bias, biases).

    A removed filter then outputs exactly 0 before any residual addition; with coupled channels removed
    together (checked) the whole stream channel is 0, so the network computes what :func:`prune`'s
    smaller network computes. Shapes are unchanged (one compiled program serves every mask).

    Args:
        variables: the model's variables (Linen: only the ``params`` collection is changed; NNX: its state).
        keep: ``{layer: bool [c]}`` (layers not named keep every filter).
        model: as in :func:`topology`.
    """
    topo = topology(model, variables)
    masks = _check_masks(keep, topo)
    return topo.mask(variables, topo.removed_components(masks))


def prune(model, variables, keep: Mapping[str, np.ndarray]):
    """The physically smaller network and its sliced variables.

    Args:
        model: as in :func:`topology` (a ``CifarResNet`` standard or already pruned).
        variables: its variables (``params``, ``batch_stats``; an NNX model's state).
        keep: ``{layer: bool [c]}`` (layers not named keep every filter); coupled channels must agree.

    Returns:
        ``(smaller_model, smaller_variables)`` with the tree structure of ``variables``: a ``CifarResNet``
        with explicit widths for a CIFAR ResNet; otherwise a ``PrunedModel`` whose ``apply(variables, x)``
        re-runs the traced program (inference: batch norm with running statistics).
    """
    topo = topology(model, variables)
    masks = _check_masks(keep, topo)
    if not isinstance(model, CifarResNet):
        return topo.shrink(variables, masks)
    _, small_v = topo.shrink(variables, masks)
    stream = [masks["stem"]] + [masks[f"stage{s}_block0/conv2"] for s in (2, 3)]
    new_sc = []
    for s in range(2):
        rank = np.cumsum(stream[s + 1]) - 1
        new_sc.append(tuple(int(rank[topo.shortcut_channels[s][j]]) for j in np.flatnonzero(stream[s])))
    small = CifarResNet(model.depth, model.num_classes, model.width, model.act,
                        tuple(int(masks[layer].sum()) for layer in topo.layers), tuple(new_sc))
    return small, jax.tree.map(jnp.asarray, small_v)
