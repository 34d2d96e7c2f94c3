"""Dependency-aware structured pruning of CIFAR ResNets: coupled channel groups, keep masks, smaller models.

A residual addition couples the channels it joins: in stage ``s`` the stem (stage 1) and the second
conv of every block write into one residual stream, so channel ``j`` of all of them is one channel,
and an option-A shortcut carries it on into the next stage's stream (channel ``j`` of stage 1 is
channel ``j + w1/2`` of stage 2 in the standard network). Removing the second conv's filter ``j``
alone silences only that conv's contribution: the shortcut keeps the channel alive. So:

- a :class:`Group` is the set of ``(layer, filter)`` pairs that are pruned together: one filter of a
  block's first conv (internal channel: pruned alone), or one residual-stream channel followed
  through every stage it reaches (the stem's or a stage's second convs, and the next stages'
  second convs at the channels its shortcut lands on);
- ``policy="grouped"`` prunes both kinds; ``policy="internal"`` prunes only first convs and leaves
  every residual stream alone (as Li et al. 2017 do for ResNet-56);
- :func:`keep_masks` turns per-filter scores into keep masks that respect the groups, with a per-set
  budget (every first conv and every stream family loses the same share) or a global one (all
  groups ranked together, by score divided by the layer's mean score);
- :func:`apply_masks` zeroes the removed filters (same shapes, for fast one-shot evaluation) and
  :func:`prune` builds the physically smaller ``CifarResNet`` and its variables. Both give the same
  outputs up to float rounding (tests check this).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import numpy as np

from ssvepjax.models.cifar_resnet import CifarResNet, conv_layer_names, layer_widths, resnet_blocks

__all__ = [
    "BUDGETS", "POLICIES", "Group", "Topology", "apply_masks", "channel_groups", "check_scores",
    "group_scores", "keep_masks", "prune", "removed_filters", "topology",
]

POLICIES = ("grouped", "internal")
BUDGETS = ("layer", "global")


@dataclasses.dataclass(frozen=True)
class Topology:
    """The channel structure of a CIFAR ResNet.

    Attributes:
        depth, num_classes, width, act: the ``CifarResNet`` settings.
        layers: conv layer names in forward order.
        widths: filters of each layer ``[len(layers)]``.
        shortcut_channels: for the stage transitions 1 -> 2 and 2 -> 3, the channel of the wider stream
            that each channel of the narrower one lands on.
    """

    depth: int
    num_classes: int
    width: int
    act: str
    layers: tuple[str, ...]
    widths: tuple[int, ...]
    shortcut_channels: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def n_blocks(self) -> int:
        return resnet_blocks(self.depth)

    def width_of(self, layer: str) -> int:
        return self.widths[self.layers.index(layer)]

    def stream_layers(self, stage: int) -> list[str]:
        """Layers that write into the residual stream of ``stage`` (0, 1, 2)."""
        out = ["stem"] if stage == 0 else []
        return out + [f"stage{stage + 1}_block{b}/conv2" for b in range(self.n_blocks)]

    def stream_width(self, stage: int) -> int:
        return self.width_of(self.stream_layers(stage)[-1])

    def input_stream(self, layer: str) -> int | None:
        """The stream a first conv reads (None for the stem, which reads the image, and second convs)."""
        if not layer.endswith("/conv1"):
            return None
        s, b = int(layer[5]) - 1, int(layer.split("_block")[1].split("/")[0])
        return s - 1 if (s > 0 and b == 0) else s

    def stream_of(self, layer: str) -> int | None:
        """The stream a layer writes into (None for first convs, whose channels are internal)."""
        if layer == "stem":
            return 0
        return int(layer[5]) - 1 if layer.endswith("/conv2") else None

    def build(self, widths=None, shortcut_channels=None) -> CifarResNet:
        """A ``CifarResNet`` with this topology's settings and the given (or this topology's) widths."""
        return CifarResNet(self.depth, self.num_classes, self.width, self.act,
                           tuple(widths or self.widths), tuple(tuple(c) for c in (shortcut_channels
                                                                                   or self.shortcut_channels)))


def topology(model) -> Topology:
    """The :class:`Topology` of a ``CifarResNet`` (standard or pruned); ValueError for any other model."""
    if not isinstance(model, CifarResNet):
        raise ValueError(f"structured pruning supports ssvepjax CifarResNet models, got {type(model).__name__}")
    widths = layer_widths(model.depth, model.width, model.widths)
    layers = tuple(conv_layer_names(model.depth))
    n = resnet_blocks(model.depth)
    streams = [widths[0], widths[2 + 2 * n], widths[2 + 4 * n]]
    if model.shortcut_channels is None:
        sc = []
        for s in range(2):
            pad = streams[s + 1] - streams[s]
            if pad < 0:
                raise ValueError(f"stage {s + 2} is narrower than stage {s + 1}: set shortcut_channels")
            sc.append(tuple(range(pad // 2, pad // 2 + streams[s])))
    else:
        sc = [tuple(int(c) for c in t) for t in model.shortcut_channels]
    return Topology(model.depth, model.num_classes, model.width, model.act, layers, widths, (sc[0], sc[1]))


@dataclasses.dataclass(frozen=True)
class Group:
    """Filters that are pruned together.

    Attributes:
        members: ``(layer, filter)`` pairs.
        family: the budget set the group belongs to: the first conv's layer name for an internal
            channel, ``"stream1"``, ``"stream2"`` or ``"stream3"`` for a residual channel that starts in
            that stage.
    """

    members: tuple[tuple[str, int], ...]
    family: str


def channel_groups(model, policy: str = "grouped") -> list[Group]:
    """Every prunable :class:`Group` of a ``CifarResNet`` under ``policy`` (``"grouped"`` or ``"internal"``)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    topo = topology(model)
    groups = [Group(((layer, j),), layer) for layer in topo.layers if layer.endswith("/conv1")
              for j in range(topo.width_of(layer))]
    if policy == "internal":
        return groups
    reached = [set(), set(), set()]
    for start in range(3):
        for j in range(topo.stream_width(start)):
            if j in reached[start]:
                continue
            members, c = [], j
            for s in range(start, 3):
                reached[s].add(c)
                members += [(layer, c) for layer in topo.stream_layers(s)]
                if s < 2:
                    c = topo.shortcut_channels[s][c]
            groups.append(Group(tuple(members), f"stream{start + 1}"))
    return groups


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
        model: the ``CifarResNet``.
        fraction: share to remove, in [0, 1). With ``budget="layer"`` every budget set (each first
            conv, and each stream family ``"stream1"``, ``"stream2"``, ``"stream3"``) loses
            ``floor(fraction * its groups)``; a mapping ``{set: fraction}`` gives each set its own
            share (sets not named lose nothing). With ``budget="global"`` it is the share of all conv
            filters of the model to remove; groups are ranked together by :func:`group_scores` and
            removed lowest first while they fit, every set keeping at least one group.
        budget: ``"layer"`` or ``"global"``.
        policy: ``"grouped"`` or ``"internal"`` (:func:`channel_groups`).

    Returns:
        ``{layer: bool [c]}`` for every conv layer, True = keep. Ties go by group order, so the
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


def _check_masks(keep: Mapping[str, np.ndarray], topo: Topology) -> dict[str, np.ndarray]:
    """Complete and validate keep masks: known layers, right shapes, no empty layer, coupled channels agree."""
    out = {layer: np.ones(w, bool) for layer, w in zip(topo.layers, topo.widths)}
    for name, m in keep.items():
        name = name.removesuffix("/pre").removesuffix("/post")
        if name not in out:
            raise ValueError(f"keep: unknown layer {name!r}; the model's conv layers are {list(topo.layers)}")
        m = np.asarray(m)
        if m.shape != out[name].shape or m.dtype != bool:
            raise ValueError(f"keep[{name!r}] must be a bool array of shape {out[name].shape}, got {m.dtype} "
                             f"{m.shape}")
        if not m.any():
            raise ValueError(f"keep[{name!r}] removes every filter of the layer; keep at least one")
        out[name] = m
    for s in range(3):
        layers = topo.stream_layers(s)
        ref = out[layers[0]]
        for layer in layers[1:]:
            if not np.array_equal(out[layer], ref):
                raise ValueError(f"keep: {layers[0]} and {layer} write into one residual stream (stage {s + 1}) and "
                                 f"must keep the same channels (a filter added to a shortcut cannot be removed "
                                 f"alone; use keep_masks with policy='grouped')")
        if s < 2:
            nxt = out[topo.stream_layers(s + 1)[0]]
            lost = [j for j in np.flatnonzero(ref) if not nxt[topo.shortcut_channels[s][j]]]
            if lost:
                raise ValueError(f"keep: stream channels {lost} of stage {s + 1} are kept but the channels their "
                                 f"shortcut lands on in stage {s + 2} are removed; coupled channels go together")
    return out


def removed_filters(keep: Mapping[str, np.ndarray], model) -> float:
    """Share of the model's conv filters that ``keep`` removes."""
    topo = topology(model)
    masks = _check_masks(keep, topo)
    return float(sum(int((~m).sum()) for m in masks.values()) / sum(topo.widths))


def _layer_of(path) -> tuple[str, str, str]:
    keys = [str(getattr(p, "key", p)) for p in path]
    return "/".join(keys[1:-2]), keys[-2], keys[-1]


def apply_masks(variables: dict, keep: Mapping[str, np.ndarray], model) -> dict:
    """Zero the removed filters: conv kernel columns and batch-norm scale and bias.

    A removed filter then outputs exactly 0 before any residual addition; with coupled channels
    removed together (checked) the whole stream channel is 0, so the network computes what
    :func:`prune`'s smaller network computes. Shapes are unchanged (one compiled program serves
    every mask).
    """
    masks = _check_masks(keep, topology(model))

    def visit(path, leaf):
        layer, module, leaf_name = _layer_of(path)
        if layer in masks and module in ("conv", "bn") and leaf_name in ("kernel", "scale", "bias"):
            return leaf * masks[layer].astype(np.asarray(leaf).dtype)
        return leaf

    return jax.tree_util.tree_map_with_path(visit, variables)


def prune(model, variables: dict, keep: Mapping[str, np.ndarray]) -> tuple[CifarResNet, dict]:
    """The physically smaller network: a ``CifarResNet`` with explicit widths and its sliced variables.

    Args:
        model: the ``CifarResNet`` (standard or already pruned).
        variables: its variables (``params``, ``batch_stats``).
        keep: ``{layer: bool [c]}`` (layers not named keep every filter); coupled channels must agree.

    Returns:
        ``(smaller_model, smaller_variables)``; parameter tree names are those of ``model``.
    """
    topo = topology(model)
    masks = _check_masks(keep, topo)
    stream = [masks[topo.stream_layers(s)[0]] for s in range(3)]
    in_keep = {}
    for i, layer in enumerate(topo.layers):
        if layer == "stem":
            in_keep[layer] = None
        elif layer.endswith("/conv1"):
            in_keep[layer] = stream[topo.input_stream(layer)]
        else:
            in_keep[layer] = masks[topo.layers[i - 1]]
    new_sc = []
    for s in range(2):
        rank = np.cumsum(stream[s + 1]) - 1
        new_sc.append(tuple(int(rank[topo.shortcut_channels[s][j]]) for j in np.flatnonzero(stream[s])))
    small = topo.build([int(masks[layer].sum()) for layer in topo.layers], new_sc)

    def visit(path, leaf):
        layer, module, leaf_name = _layer_of(path)
        a = np.asarray(leaf)
        if layer in masks and module == "conv" and leaf_name == "kernel":
            a = a[..., masks[layer]]
            return a if in_keep[layer] is None else a[:, :, in_keep[layer], :]
        if layer in masks and module == "bn":
            return a[masks[layer]]
        if layer == "" and module == "head" and leaf_name == "kernel":
            return a[stream[2]]
        return a

    return small, jax.tree_util.tree_map_with_path(visit, variables)
