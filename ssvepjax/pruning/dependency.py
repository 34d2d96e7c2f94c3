"""Channel dependencies traced from a model's own program: which filters, units and heads go together.

A model is a JAX program. :func:`trace` writes the forward pass of one example as a jaxpr (with
``jax.make_jaxpr``, nothing is computed) whose inputs are the parameter arrays and the image, and
follows every axis of every array through it. Each position along an axis gets an id; an operation
that makes two positions one (an elementwise operation or a residual addition of two arrays, a
batch- or layer-norm scale multiplying a channel, a matrix product contracting a layer's outputs
with the next layer's kernel rows, a concatenation, which shifts the ids of its later operands by the
earlier ones' sizes, a grouped or depthwise convolution, a reshape into heads and back, pooling,
flattening into a dense layer) unites their ids. Connected ids form a *component*: the positions of
every parameter and activation axis that must be removed together.

- A *source* is the output axis of a kernel: a conv's output channels, a dense layer's output units
  (any operand of a matrix product that is a parameter contributes its free axes). A component that
  holds sources is a prunable :class:`Group`, unless it reaches the model's input or output (the
  image channels, the logits), which cannot change.
- A reshape keeps the ids of every element, so a ``[3 * dim]`` query-key-value output split into
  ``[3, heads, head_dim]`` stays exact; the attention products tie a head's queries, keys and values,
  and their batch axis over heads ties all of a head's dimensions, so an attention head is one group
  (its ``qkv`` columns and its ``proj`` rows). A grouped convolution ties the i-th channel of every
  group (groups keep equal sizes); a depthwise one ties input channel ``g`` to the filters of group
  ``g`` (the number of groups shrinks).
- An operation the analysis does not know marks the ids it touches; a group that holds such an id is
  refused with a ``ValueError`` naming the operation and the parameter, never returned silently.

Layer names are the kernel's module path (``stage1_block0/conv1``; a ``conv`` module inside a probed
block is named by its block, as the recorded units are). A traced :class:`DependencyGraph` serves
the masked model (:meth:`DependencyGraph.mask`), the physically smaller one
(:meth:`DependencyGraph.shrink`, which re-runs the traced program with smaller arrays) and the
multiply-accumulate count (:func:`program_macs`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["DependencyGraph", "Group", "PrunedModel", "program_costs", "program_macs", "trace"]

FREE = -1  # a position without identity (a broadcast, padding, a spatial output): it ties nothing

_UNARY = {
    "neg", "exp", "exp2", "log", "log1p", "expm1", "tanh", "logistic", "sin", "cos", "tan", "abs", "sign",
    "floor", "ceil", "round", "is_finite", "not", "sqrt", "rsqrt", "cbrt", "square", "erf", "erfc", "erf_inv",
    "integer_pow", "convert_element_type", "copy", "copy_p", "stop_gradient", "reduce_precision", "real", "imag",
    "optimization_barrier",
}
_NARY = {
    "add", "add_any", "sub", "mul", "div", "max", "min", "pow", "atan2", "rem", "and", "or", "xor", "eq", "ne",
    "lt", "le", "gt", "ge", "nextafter", "select_n", "clamp",
}
_REDUCE = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin"}
_WINDOW = {"reduce_window_max", "reduce_window_min", "reduce_window_sum", "reduce_window"}


@dataclasses.dataclass(frozen=True)
class Group:
    """Filters (units, heads) that are pruned together.

    Attributes:
        members: ``(layer, index)`` pairs: the output channels or units of every kernel in the group.
        family: the budget set: the layer's name for a group inside one layer, ``"stream1"``,
            ``"stream2"``, ... for groups that span layers (a residual stream), numbered in program order
            of their first layer; groups spanning the same layers share a family.
    """

    members: tuple[tuple[str, int], ...]
    family: str


# ----------------------------------------------------------------------------------------------- labels
# A label gives every element of an array an id. It is a list of segments (axes, ids): the axes (ascending)
# and an id array of their sizes. Separate one-axis segments mean the identity of an element is the tuple of
# its per-axis ids (a product); a segment over several axes holds ids per element (after a reshape).


class _Ids:
    """The id store: fresh ids, ties (edges) between them, and ids marked fixed or blocked."""

    def __init__(self):
        self.n = 0
        self.edges: list[tuple[np.ndarray, np.ndarray]] = []
        self.fixed: list[np.ndarray] = []
        self.blocked: list[tuple[np.ndarray, str]] = []
        self.joined: list[np.ndarray] = []  # ids where two activations are added (a residual stream)

    def fresh(self, shape) -> np.ndarray:
        k = int(np.prod(shape, dtype=np.int64))
        out = np.arange(self.n, self.n + k, dtype=np.int64).reshape(shape)
        self.n += k
        return out

    def tie(self, a: np.ndarray, b: np.ndarray):
        a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
        m = (a >= 0) & (b >= 0)
        if m.any():
            self.edges.append((a[m].ravel(), b[m].ravel()))


def _separate(ids: _Ids, shape) -> list:
    return [((a,), ids.fresh((d,))) for a, d in enumerate(shape)]


def _free(shape) -> list:
    return [((a,), np.full(d, FREE, np.int64)) for a, d in enumerate(shape)]


def _all_ids(lab) -> np.ndarray:
    return np.concatenate([s.ravel() for _, s in lab]) if lab else np.zeros(0, np.int64)


def _spread(axes, seg_ids, part, shape) -> np.ndarray:
    """A segment's ids broadcast over the axes ``part`` (a superset, ascending) of an array of ``shape``."""
    idx = [part.index(a) for a in axes]
    order = np.argsort(idx)
    x = np.transpose(seg_ids, order)
    full = [1] * len(part)
    for k in sorted(idx):
        full[k] = shape[part[k]]
    return np.broadcast_to(x.reshape(full), [shape[a] for a in part])


def _joint(ids: _Ids, lab, part, shape) -> np.ndarray:
    """Ids over the axes ``part`` (a union of ``lab``'s segments), one per element."""
    segs = [(a, s) for a, s in lab if set(a) <= set(part)]
    if len(segs) == 1 and segs[0][0] == tuple(part):
        return segs[0][1]
    live = [(a, s) for a, s in segs if (s >= 0).any()]
    if not live:
        return np.full([shape[a] for a in part], FREE, np.int64)
    if len(live) == 1:
        return np.array(_spread(*live[0], part, shape))
    # Several axes with identity meet in one element: a fresh id per element, tied to each (coarser, safe).
    out = ids.fresh([shape[a] for a in part])
    for a, s in live:
        ids.tie(out, _spread(a, s, part, shape))
    return out


def _partition(labs, ndim) -> list[tuple[int, ...]]:
    """The finest partition of the axes that every label's segments refine."""
    parent = list(range(ndim))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for lab in labs:
        for axes, _ in lab:
            for a in axes[1:]:
                parent[find(a)] = find(axes[0])
    parts: dict[int, list[int]] = {}
    for a in range(ndim):
        parts.setdefault(find(a), []).append(a)
    return sorted(tuple(p) for p in parts.values())


def _regroup(ids: _Ids, lab, parts, shape) -> list:
    return [(p, _joint(ids, lab, p, shape)) for p in parts]


def _simplify(lab, shape) -> list:
    """Split off axes of a multi-axis segment along which its ids do not change (no identity there)."""
    out = []
    for axes, s in lab:
        if len(axes) == 1:
            out.append((axes, s))
            continue
        keep = list(range(len(axes)))
        for k in range(len(axes) - 1, -1, -1):
            if len(keep) == 1:
                break
            pos = keep.index(k)
            first = np.take(s, [0], axis=pos)
            if s.shape[pos] == 1 or np.array_equal(np.broadcast_to(first, s.shape), s):
                s = first.squeeze(pos)
                keep.pop(pos)
                out.append(((axes[k],), np.full(shape[axes[k]], FREE, np.int64)))
        out.append((tuple(axes[k] for k in keep), s))
    return sorted(out, key=lambda t: t[0])


def _broadcast(lab, in_shape, out_shape, dims) -> list:
    """The label of a broadcast (``broadcast_in_dim``): axis ``i`` moves to ``dims[i]``; size 1 -> n and new axes
    have no identity."""
    out = []
    for axes, s in lab:
        for a in [a for a in axes if in_shape[a] != out_shape[dims[a]]]:
            k = axes.index(a)
            s, axes = s.take(0, axis=k), axes[:k] + axes[k + 1:]
        if axes:
            out.append((tuple(dims[a] for a in axes), s))
    covered = {a for axes, _ in out for a in axes}
    out += [((a,), np.full(out_shape[a], FREE, np.int64)) for a in range(len(out_shape)) if a not in covered]
    return sorted(out, key=lambda t: t[0])


def _project(ids: _Ids, axes, s, keep) -> tuple[tuple[int, ...], np.ndarray] | None:
    """The segment ``(axes, s)`` seen on a subset of its axes: each kept position unites all it covers."""
    keep = tuple(a for a in axes if a in keep)
    if not keep:
        return None
    if keep == axes:
        return keep, s
    if not (s >= 0).any():
        return keep, np.full([s.shape[axes.index(a)] for a in keep], FREE, np.int64)
    p = ids.fresh([s.shape[axes.index(a)] for a in keep])
    full = [s.shape[k] if a in keep else 1 for k, a in enumerate(axes)]
    ids.tie(s, p.reshape(full))
    return keep, p


def _axis_ids(ids: _Ids, lab, ax) -> np.ndarray:
    for axes, s in lab:
        if ax in axes:
            return _project(ids, axes, s, (ax,))[1]
    raise AssertionError(ax)


def _renumber(lab, mapping) -> list:
    """Segments with axes renamed by ``mapping`` (old -> new; missing = dropped), ids transposed to sorted order."""
    out = []
    for axes, s in lab:
        new = [mapping[a] for a in axes]
        order = np.argsort(new)
        out.append((tuple(new[k] for k in order), np.transpose(s, order)))
    return sorted(out, key=lambda t: t[0])


def _slice_axis(lab, ax, sl) -> list:
    out = []
    for axes, s in lab:
        if ax in axes:
            index = [slice(None)] * len(axes)
            index[axes.index(ax)] = sl
            s = s[tuple(index)]
        out.append((axes, s))
    return out


# ---------------------------------------------------------------------------------------------- the walk


@dataclasses.dataclass
class _Eqn:
    """What the walk learned about one equation: its output labels, and those of an inner program."""

    outs: list
    ins: list
    inner: list | None = None


def _inner_jaxpr(eqn):
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        j = eqn.params.get(key)
        if isinstance(j, jcore.ClosedJaxpr):
            return j.jaxpr, j.consts
        if isinstance(j, jcore.Jaxpr):
            return j, ()
    return None


class _Walker:
    def __init__(self, ids: _Ids, names: dict):
        self.ids = ids
        self.names = names  # param index -> name
        self.sources: list[tuple[int, int]] = []  # (param index, axis)
        self.param_labels: dict[int, list] = {}

    def walk(self, jaxpr, in_labels, in_origin, const_labels=None, in_static=None) -> tuple[list, list]:
        env, origin, static = {}, {}, {}
        for k, (v, lab, o) in enumerate(zip(jaxpr.invars, in_labels, in_origin)):
            env[v], origin[v] = lab, o
            static[v] = in_static[k] if in_static is not None else o is not None
        for k, v in enumerate(jaxpr.constvars):
            env[v] = const_labels[k] if const_labels is not None else _separate(self.ids, v.aval.shape)
            static[v] = True

        def read(v):
            if isinstance(v, jcore.Literal):
                return _free(np.shape(v.val))
            return env[v]

        records = []
        for eqn in jaxpr.eqns:
            labs = [read(v) for v in eqn.invars]
            origins = [None if isinstance(v, jcore.Literal) else origin.get(v) for v in eqn.invars]
            # "static": computed from parameters and constants only (a norm's scale, a bias), not from the image.
            statics = [isinstance(v, jcore.Literal) or static.get(v, False) for v in eqn.invars]
            self.statics = statics
            rec = self.eqn(eqn, labs, origins)
            rec.ins = labs
            records.append(rec)
            for v, lab in zip(eqn.outvars, rec.outs):
                env[v], static[v] = lab, all(statics)
            if eqn.primitive.name in ("convert_element_type", "copy", "copy_p") and origins[0] is not None:
                origin[eqn.outvars[0]] = origins[0]
        return [read(v) for v in jaxpr.outvars], records

    def block(self, eqn, labs, what="") -> _Eqn:
        name = eqn.primitive.name + what
        for lab in labs:
            self.ids.blocked.append((_all_ids(lab), name))
        outs = []
        for v in eqn.outvars:
            lab = _separate(self.ids, v.aval.shape)
            self.ids.blocked.append((_all_ids(lab), name))
            outs.append(lab)
        return _Eqn(outs, [])

    def eqn(self, eqn, labs, origins) -> _Eqn:
        ids, p, name = self.ids, eqn.params, eqn.primitive.name
        out_shape = tuple(eqn.outvars[0].aval.shape) if eqn.outvars and hasattr(eqn.outvars[0].aval, "shape") \
            else ()
        inner = _inner_jaxpr(eqn)
        if inner is not None:
            j, _ = inner
            n = len(j.invars)
            outs, recs = self.walk(j, labs[-n:], origins[-n:], None, self.statics[-n:])
            return _Eqn(outs, [], recs)
        if name in _UNARY:
            return _Eqn([labs[0]], [])
        if name in _NARY:
            # Operands of the output's rank (size-1 axes broadcast, as lax allows); scalars tie nothing.
            same = [(_broadcast(lab, v.aval.shape, out_shape, tuple(range(len(out_shape)))), st)
                    for lab, v, st in zip(labs, eqn.invars, self.statics) if len(v.aval.shape) == len(out_shape)]
            full = [lab for lab, _ in same if out_shape]
            if not full:
                return _Eqn([_free(out_shape)], [])
            dynamic = [lab for lab, st in same if not st]
            if name in ("add", "add_any") and len(dynamic) > 1:
                ids.joined += [_all_ids(lab) for lab in dynamic]
            parts = _partition(full, len(out_shape))
            merged = None
            for lab in full:
                segs = _regroup(ids, lab, parts, out_shape)
                if merged is None:
                    merged = segs
                    continue
                new = []
                for (a, x), (_, y) in zip(merged, segs):
                    ids.tie(x, y)
                    new.append((a, np.where(x >= 0, x, y)))
                merged = new
            return _Eqn([_simplify(merged, out_shape)], [])
        if name == "broadcast_in_dim":
            return _Eqn([_broadcast(labs[0], eqn.invars[0].aval.shape, out_shape, p["broadcast_dimensions"])], [])
        if name == "reshape":
            return _Eqn([self.reshape(labs[0], tuple(eqn.invars[0].aval.shape), out_shape)], [])
        if name == "squeeze":
            dims = {d % len(eqn.invars[0].aval.shape) for d in p["dimensions"]}
            lab = []
            for axes, s in labs[0]:
                pos = tuple(k for k, a in enumerate(axes) if a in dims)
                s = s.reshape([n for k, n in enumerate(s.shape) if k not in pos])
                axes = tuple(a for a in axes if a not in dims)
                if axes:
                    lab.append((axes, s))
            mapping = {a: a - sum(d < a for d in dims) for a in range(len(eqn.invars[0].aval.shape)) if a not in dims}
            return _Eqn([_renumber(lab, mapping)], [])
        if name == "transpose":
            perm = p["permutation"]
            return _Eqn([_renumber(labs[0], {old: new for new, old in enumerate(perm)})], [])
        if name == "slice":
            lab = labs[0]
            strides = p["strides"] or (1,) * len(out_shape)
            for ax, (a, b, st) in enumerate(zip(p["start_indices"], p["limit_indices"], strides)):
                lab = _slice_axis(lab, ax, slice(a, b, st))
            return _Eqn([lab], [])
        if name == "split":
            ax, outs, start = p["axis"], [], 0
            for size in p["sizes"]:
                outs.append(_slice_axis(labs[0], ax, slice(start, start + size)))
                start += size
            return _Eqn(outs, [])
        if name == "rev":
            lab = labs[0]
            for ax in p["dimensions"]:
                lab = _slice_axis(lab, ax, slice(None, None, -1))
            return _Eqn([lab], [])
        if name == "pad":
            lab = labs[0]
            for ax, (lo, hi, interior) in enumerate(p["padding_config"]):
                if interior:
                    if (_axis_ids(ids, lab, ax) >= 0).any():
                        return self.block(eqn, labs, " (interior padding)")
                    lab = [(a, s) if ax not in a else None for a, s in lab]
                    lab = [t for t in lab if t is not None] + [((ax,), np.full(out_shape[ax], FREE, np.int64))]
                    lab = sorted(lab, key=lambda t: t[0])
                    continue
                out = []
                for axes, s in lab:
                    if ax in axes:
                        k = axes.index(ax)
                        if lo < 0:
                            s = np.take(s, np.arange(-lo, s.shape[k]), axis=k)
                        if hi < 0:
                            s = np.take(s, np.arange(0, s.shape[k] + hi), axis=k)
                        width = [(0, 0)] * s.ndim
                        width[k] = (max(lo, 0), max(hi, 0))
                        s = np.pad(s, width, constant_values=FREE)
                    out.append((axes, s))
                lab = out
            return _Eqn([lab], [])
        if name == "concatenate":
            dim = p["dimension"]
            parts = _partition(labs, len(out_shape))
            segs = [_regroup(ids, lab, parts, v.aval.shape) for lab, v in zip(labs, eqn.invars)]
            out = []
            for k, part in enumerate(parts):
                arrays = [s[k][1] for s in segs]
                if dim in part:
                    out.append((part, np.concatenate(arrays, axis=part.index(dim))))
                    continue
                x = arrays[0]
                for y in arrays[1:]:
                    ids.tie(x, y)
                    x = np.where(x >= 0, x, y)
                out.append((part, x))
            return _Eqn([_simplify(out, out_shape)], [])
        if name in _REDUCE:
            axes_red = set(p["axes"])
            kept = [a for a in range(len(eqn.invars[0].aval.shape)) if a not in axes_red]
            lab = [t for axes, s in labs[0] if (t := _project(ids, axes, s, set(kept))) is not None]
            return _Eqn([_renumber(lab, {a: k for k, a in enumerate(kept)})], [])
        if name in _WINDOW:
            lab = labs[0]
            in_shape = eqn.invars[0].aval.shape
            moved = [ax for ax in range(len(in_shape)) if p["window_dimensions"][ax] != 1 or
                     p["window_strides"][ax] != 1 or tuple(p["padding"][ax]) != (0, 0)]
            for ax in moved:
                if (_axis_ids(ids, lab, ax) >= 0).any() and ax != 0:
                    return self.block(eqn, labs, f" (a window over axis {ax}, which carries channels)")
            keep = set(range(len(in_shape))) - set(moved)
            out = [t for axes, s in lab if (t := _project(ids, axes, s, keep)) is not None]
            out += [((a,), np.full(out_shape[a], FREE, np.int64)) for a in moved]
            return _Eqn([sorted(out, key=lambda t: t[0])], [])
        if name == "iota":
            return _Eqn([_free(out_shape)], [])
        if name == "dot_general":
            return _Eqn([self.dot(eqn, labs, origins, out_shape)], [])
        if name == "conv_general_dilated":
            return self.conv(eqn, labs, origins, out_shape)
        return self.block(eqn, labs)

    def reshape(self, lab, in_shape, out_shape) -> list:
        ids = self.ids
        pin = np.cumprod((1,) + in_shape)
        pout = np.cumprod((1,) + out_shape)
        ends = sorted(set(pin[1:].tolist()) & set(pout[1:].tolist())) or [1]
        bin_ = [int(np.searchsorted(ends, pin[k + 1])) for k in range(len(in_shape))]
        bout = [int(np.searchsorted(ends, pout[k + 1])) for k in range(len(out_shape))]
        # A segment spanning two blocks merges them (row-major order keeps merged blocks consistent).
        block_of = list(range(len(ends)))
        for axes, _ in lab:
            bs = sorted({bin_[a] for a in axes})
            for b in range(bs[0], bs[-1] + 1):
                block_of[b] = block_of[bs[0]]
        out = []
        for b in sorted(set(block_of)):
            members = [k for k in range(len(ends)) if block_of[k] == b]
            ia = tuple(a for a in range(len(in_shape)) if bin_[a] in members)
            oa = tuple(a for a in range(len(out_shape)) if bout[a] in members)
            if not oa:
                continue
            if not ia:
                out += [((a,), np.full(out_shape[a], FREE, np.int64)) for a in oa]
                continue
            j = _joint(ids, [t for t in lab if set(t[0]) <= set(ia)], ia, in_shape)
            out.append((oa, j.reshape([out_shape[a] for a in oa])))
        return _simplify(out, out_shape)

    def dot(self, eqn, labs, origins, out_shape) -> list:
        ids = self.ids
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        L, R = labs
        lpair = dict(zip(list(lc) + list(lb), list(rc) + list(rb)))
        done = set()
        for axes, s in L:  # a segment paired as a whole with one segment: exact, element by element
            if len(axes) > 1 and all(a in lpair for a in axes):
                target = tuple(lpair[a] for a in axes)
                for raxes, rs in R:
                    if set(raxes) == set(target):
                        order = [raxes.index(t) for t in target]
                        ids.tie(s, np.transpose(rs, order))
                        done.update(axes)
        for la, ra in lpair.items():
            if la not in done:
                ids.tie(_axis_ids(ids, L, la), _axis_ids(ids, R, ra))
        lfree = [a for a in range(len(eqn.invars[0].aval.shape)) if a not in lc and a not in lb]
        rfree = [a for a in range(len(eqn.invars[1].aval.shape)) if a not in rc and a not in rb]
        for o, free in zip(origins, (lfree, rfree)):
            if o is not None and free:
                self.sources += [(o, a) for a in free]
        nb = len(lb)
        lmap = {a: i for i, a in enumerate(lb)} | {a: nb + i for i, a in enumerate(lfree)}
        rmap = {a: i for i, a in enumerate(rb)} | {a: nb + len(lfree) + i for i, a in enumerate(rfree)}
        rseg = {a: axes for axes, _ in R for a in axes}
        rhs_owns = {i for i, a in enumerate(rb) if any(x in rfree for x in rseg[a])}
        out = []
        for lab, mapping, skip in ((L, lmap, {lb[i] for i in rhs_owns}),
                                   (R, rmap, {rb[i] for i in range(nb) if i not in rhs_owns})):
            for axes, s in lab:
                t = _project(ids, axes, s, set(mapping) - skip)
                if t is not None:
                    out += _renumber([t], mapping)
        return _simplify(sorted(out, key=lambda t: t[0]), out_shape)

    def conv(self, eqn, labs, origins, out_shape) -> _Eqn:
        ids, p = self.ids, eqn.params
        if p["batch_group_count"] != 1:
            return self.block(eqn, labs, " (batch_group_count > 1)")
        dn = p["dimension_numbers"]
        L, R = labs
        rshape = eqn.invars[1].aval.shape
        x_in = _axis_ids(ids, L, dn.lhs_spec[1])
        k_in = _axis_ids(ids, R, dn.rhs_spec[1])
        k_out = _axis_ids(ids, R, dn.rhs_spec[0])
        g = p["feature_group_count"]
        if g == 1:
            ids.tie(x_in, k_in)
        elif rshape[dn.rhs_spec[1]] == 1:  # depthwise: input channel g feeds (only) the filters of group g
            ids.tie(np.repeat(x_in, len(k_out) // g), k_out)
        else:  # grouped: the i-th channel of every group goes together, so groups keep equal sizes
            ids.tie(x_in.reshape(g, -1), k_in[None])
            ko = k_out.reshape(g, -1)
            ids.tie(ko, ko[:1])
        if origins[1] is not None:
            self.sources.append((origins[1], dn.rhs_spec[0]))
        batch = _axis_ids(ids, L, dn.lhs_spec[0])
        out = [((dn.out_spec[0],), batch), ((dn.out_spec[1],), k_out)]
        out += [((a,), np.full(out_shape[a], FREE, np.int64)) for a in dn.out_spec[2:]]
        return _Eqn([sorted(out, key=lambda t: t[0])], [])


# ------------------------------------------------------------------------------------------ the graph


def _keys(path) -> list[str]:
    out = []
    for p in path:
        k = getattr(p, "key", getattr(p, "name", getattr(p, "idx", p)))
        out.append(str(k))
    return out


def _layer_name(keys: list[str]) -> str:
    mod = keys[:-1]
    if len(mod) > 1 and mod[-1] == "conv":
        mod = mod[:-1]
    return "/".join(mod) if mod else keys[-1]


class PrunedModel:
    """A traced program re-run with smaller arrays: ``apply(variables, x)`` as a Linen module's.

    ``variables`` are those :meth:`DependencyGraph.shrink` returns; ``x`` is ``[N, ...]`` (any N: the
    program of one example is mapped over the batch). An input of another shape than the traced one is
    traced afresh (the program's reshapes and means depend on it) and pruned by the same keep masks.
    Extra keyword arguments are accepted and ignored (they were fixed when the model was traced).
    """

    def __init__(self, graph: DependencyGraph, keep: dict):
        self._keep = {k: np.asarray(m) for k, m in keep.items()}
        self._graphs = {tuple(graph.example.shape[1:]): graph}

    def _graph(self, shape) -> tuple[DependencyGraph, np.ndarray]:
        shape = tuple(int(d) for d in shape)
        if shape not in self._graphs:
            self._graphs[shape] = next(iter(self._graphs.values())).retrace(shape)
        g = self._graphs[shape]
        return g, g._kept_ids(g.removed_components(self._keep))

    def apply(self, variables, x, **_):
        x = jnp.asarray(x)
        g, kept = self._graph(x.shape[1:])
        leaves = jax.tree.leaves(variables)
        if len(leaves) != len(g.leaf_names):
            raise ValueError(f"variables must hold the {len(g.leaf_names)} arrays that shrink returned, got "
                             f"{len(leaves)}")

        def one(xi):
            consts = [jnp.asarray(c)[g._index(lab, kept)] for c, lab in zip(g.jaxpr.consts, g.const_labels)]
            return _run(g.jaxpr.jaxpr, consts, [*leaves, xi[None]], g.records, kept)[0][0]

        return jax.vmap(one)(x)

    def __call__(self, variables, x, **kw):
        return self.apply(variables, x, **kw)


class DependencyGraph:
    """The traced channel structure of a model (build it with :func:`trace`).

    Attributes:
        layers: source layers with at least one prunable group, in program order.
        widths: output channels (units) of each layer.
        groups: every prunable :class:`Group` (groups inside one layer first, in layer order).
        leaf_names: ``"/"``-joined path of every variable leaf, in tree order.
    """

    def __init__(self, fn, variables, example, *, maskable, linen_model=None):
        self.fn, self.linen_model, self.example, self._maskable = fn, linen_model, example, maskable
        leaves, self.treedef = jax.tree_util.tree_flatten_with_path(variables)
        self.leaf_keys = [_keys(path) for path, _ in leaves]
        self.leaf_names = ["/".join(k) for k in self.leaf_keys]
        self.maskable = [maskable(k) for k in self.leaf_keys]
        shapes = [jax.ShapeDtypeStruct(np.shape(v), jnp.result_type(v)) for _, v in leaves]
        self._shapes = shapes
        self.jaxpr = jax.make_jaxpr(lambda ls, x: fn(jax.tree_util.tree_unflatten(self.treedef, ls), x))(
            shapes, example)
        ids = _Ids()
        leaf_labels = [_separate(ids, s.shape) for s in shapes]
        x_label = _separate(ids, example.shape)
        ids.fixed.append(_all_ids(x_label))
        names = {}
        for k, keys in enumerate(self.leaf_keys):
            names[k] = _layer_name([q for q in keys if q != "value"][1:] if linen_model is not None else
                                   [q for q in keys if q != "value"])
        walker = _Walker(ids, names)
        self.const_labels = [_separate(ids, np.shape(c)) for c in self.jaxpr.consts]
        outs, self.records = walker.walk(self.jaxpr.jaxpr, [*leaf_labels, x_label], [*range(len(shapes)), None],
                                         self.const_labels)
        self._ids, self.leaf_labels = ids, leaf_labels
        for lab in outs:
            ids.fixed.append(_all_ids(lab))
        self._components()
        self._groups(walker, names)

    def _components(self):
        ids = self._ids
        if ids.edges:
            a = np.concatenate([e[0] for e in ids.edges])
            b = np.concatenate([e[1] for e in ids.edges])
        else:
            a = b = np.zeros(0, np.int64)
        m = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(ids.n, ids.n))
        _, self.comp = connected_components(m, directed=False)
        fixed = np.concatenate(ids.fixed) if ids.fixed else np.zeros(0, np.int64)
        self.fixed_comps = set(self.comp[fixed[fixed >= 0]].tolist())
        joined = np.concatenate(ids.joined) if ids.joined else np.zeros(0, np.int64)
        self.joined_comps = set(self.comp[joined[joined >= 0]].tolist())
        self.blocked = {}
        for arr, op in ids.blocked:
            for c in set(self.comp[arr[arr >= 0]].tolist()):
                self.blocked.setdefault(c, op)

    def _groups(self, walker, names):
        seen, layers, widths, self.layer_param = set(), [], [], {}
        members: dict[int, list[tuple[str, int]]] = {}
        for leaf, ax in walker.sources:
            if (leaf, ax) in seen:
                continue
            seen.add((leaf, ax))
            name = names[leaf]
            src = self.leaf_labels[leaf][ax][1]
            live = False
            for j, c in enumerate(self.comp[src].tolist()):
                if c in self.fixed_comps:
                    continue
                if c in self.blocked:
                    raise ValueError(f"the dependency analysis cannot follow operation {self.blocked[c]!r} on the "
                                     f"output channels of parameter {self.leaf_names[leaf]} (layer {name}); "
                                     f"this model cannot be pruned structurally there")
                members.setdefault(c, []).append((name, j))
                live = True
            if live and name not in self.layer_param:
                layers.append(name)
                widths.append(len(src))
                self.layer_param[name] = (leaf, ax)
        self.layers, self.widths = tuple(layers), tuple(widths)
        order = {name: k for k, name in enumerate(layers)}
        single, families = [], {}
        for c, ms in members.items():
            ms = sorted(set(ms), key=lambda t: (order[t[0]], t[1]))
            lays = tuple(dict.fromkeys(m[0] for m in ms))
            if len(lays) == 1 and c not in self.joined_comps:
                single.append((order[lays[0]], ms[0][1], Group(tuple(ms), lays[0]), c))
            else:
                families.setdefault(lays, []).append((ms, c))
        self.groups, self.group_comp = [], []
        for _, _, g, c in sorted(single, key=lambda t: (t[0], t[1])):
            self.groups.append(g)
            self.group_comp.append(c)
        for k, lays in enumerate(sorted(families, key=lambda ls: (order[ls[0]], len(ls)))):
            for ms, c in sorted(families[lays], key=lambda t: t[0][0][1]):
                self.groups.append(Group(tuple(ms), f"stream{k + 1}"))
                self.group_comp.append(c)

    def retrace(self, input_shape) -> DependencyGraph:
        """The same model traced for one example of another shape (same parameter shapes)."""
        example = jax.ShapeDtypeStruct((1, *input_shape), self.example.dtype)
        return DependencyGraph(self.fn, jax.tree_util.tree_unflatten(self.treedef, self._shapes), example,
                               maskable=self._maskable, linen_model=self.linen_model)

    def width_of(self, layer: str) -> int:
        return self.widths[self.layers.index(layer)]

    def removed_components(self, keep) -> np.ndarray:
        """Components whose sources ``keep`` (complete, checked masks) removes."""
        out = [c for g, c in zip(self.groups, self.group_comp) if not keep[g.members[0][0]][g.members[0][1]]]
        return np.asarray(out, np.int64)

    def _kept_ids(self, removed) -> np.ndarray:
        kept = np.ones(self._ids.n + 1, bool)
        kept[:-1] = ~np.isin(self.comp, removed)
        return kept  # kept[-1] (index FREE) is True: positions without identity always stay

    def _index(self, lab, kept):
        """Per-axis kept positions of an array with label ``lab``; ValueError if they are not a rectangle."""
        index = [None] * sum(len(a) for a, _ in lab)
        for axes, s in lab:
            m = kept[s]
            rect = np.ones(m.shape, bool)
            for k, a in enumerate(axes):
                along = m.any(axis=tuple(q for q in range(len(axes)) if q != k))
                index[a] = np.flatnonzero(along)
                rect = rect & along.reshape([m.shape[k] if q == k else 1 for q in range(len(axes))])
            if not np.array_equal(rect, m):
                raise ValueError("keep: the removed channels do not leave a rectangular array (a reshape mixes "
                                 "them); remove whole groups")
        return np.ix_(*index) if index else ()

    def _leaves(self, variables):
        leaves, treedef = jax.tree.flatten(variables)
        shapes = [tuple(np.shape(v)) for v in leaves]
        if shapes != [tuple(s.shape) for s in self._shapes]:
            bad = next(k for k, (a, b) in enumerate(zip(shapes, self._shapes)) if a != tuple(b.shape)) \
                if len(shapes) == len(self._shapes) else None
            where = f" ({self.leaf_names[bad]}: {shapes[bad]} vs {tuple(self._shapes[bad].shape)})" \
                if bad is not None else ""
            raise ValueError(f"variables do not have the arrays of the traced model{where}")
        return leaves, treedef

    def mask(self, variables, removed):
        """``variables`` with every maskable element of the removed components set to 0 (same shapes)."""
        kept = self._kept_ids(removed)
        leaves, treedef = self._leaves(variables)
        out = []
        for leaf, lab, ok in zip(leaves, self.leaf_labels, self.maskable):
            if ok:
                m = np.ones(np.shape(leaf), bool)
                for axes, s in lab:
                    m &= kept[s].reshape([m.shape[a] if a in axes else 1 for a in range(m.ndim)])
                if not m.all():
                    leaf = leaf * m.astype(jnp.result_type(leaf))
            out.append(leaf)
        return jax.tree.unflatten(treedef, out)

    def shrink(self, variables, keep) -> tuple[PrunedModel, object]:
        """The physically smaller model: ``(PrunedModel, smaller variables)`` without the groups ``keep`` removes.

        ``keep``: complete, checked ``{layer: bool [c]}`` masks (``structure._check_masks``).
        """
        kept = self._kept_ids(self.removed_components(keep))
        leaves, treedef = self._leaves(variables)
        small = [jnp.asarray(np.asarray(leaf)[self._index(lab, kept)]) for leaf, lab in zip(leaves, self.leaf_labels)]
        return PrunedModel(self, keep), jax.tree.unflatten(treedef, small)


# ------------------------------------------------------------------------------ re-running with smaller arrays


def _kept_along(lab, ax, kept) -> np.ndarray:
    for axes, s in lab:
        if ax in axes:
            m = kept[s]
            return m.any(axis=tuple(q for q in range(len(axes)) if q != axes.index(ax)))
    raise AssertionError(ax)


def _new_params(eqn, rec: _Eqn, in_labels, kept, vals) -> dict:
    p, name = dict(eqn.params), eqn.primitive.name
    shape_of = [tuple(int(_kept_along(lab, a, kept).sum()) for a in range(sum(len(x) for x, _ in lab)))
                for lab in rec.outs]
    if name == "reshape":
        p["new_sizes"] = shape_of[0]
        p["dimensions"] = None
    elif name in ("broadcast_in_dim", "iota"):
        p["shape"] = shape_of[0]
    elif name == "slice":
        starts, limits = list(p["start_indices"]), list(p["limit_indices"])
        for ax in range(len(starts)):
            m = _kept_along(in_labels[0], ax, kept)
            if m.all():
                continue
            if p["strides"] and p["strides"][ax] != 1:
                raise ValueError(f"prune: a strided slice (operation 'slice') cuts across pruned axis {ax}")
            new = int(m[:starts[ax]].sum())
            limits[ax], starts[ax] = new + int(m[starts[ax]:limits[ax]].sum()), new
        p["start_indices"], p["limit_indices"] = tuple(starts), tuple(limits)
    elif name == "split":
        m = _kept_along(in_labels[0], p["axis"], kept)
        sizes, start = [], 0
        for size in p["sizes"]:
            sizes.append(int(m[start:start + size].sum()))
            start += size
        p["sizes"] = tuple(sizes)
    elif name == "pad":
        cfg = []
        for ax, (lo, hi, interior) in enumerate(p["padding_config"]):
            mo = _kept_along(rec.outs[0], ax, kept)
            mi = _kept_along(in_labels[0], ax, kept)
            # Added positions count as kept output positions; cut ones as kept input positions.
            nlo = int(mo[:lo].sum()) if lo >= 0 else -int(mi[:-lo].sum())
            nhi = int(mo[len(mo) - hi:].sum()) if hi > 0 else (-int(mi[len(mi) + hi:].sum()) if hi < 0 else 0)
            cfg.append((nlo, nhi, interior))
        p["padding_config"] = tuple(cfg)
    elif name == "conv_general_dilated" and p["feature_group_count"] > 1:
        dn = p["dimension_numbers"]
        if eqn.invars[1].aval.shape[dn.rhs_spec[1]] == 1:
            p["feature_group_count"] = int(vals[0].shape[dn.lhs_spec[1]])
    return p


def _run(jaxpr, consts, args, records, kept):
    env = {}
    for v, a in zip(jaxpr.constvars, consts):
        env[v] = a
    for v, a in zip(jaxpr.invars, args):
        env[v] = a

    def read(v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    for eqn, rec in zip(jaxpr.eqns, records):
        vals = [read(v) for v in eqn.invars]
        inner = _inner_jaxpr(eqn)
        if inner is not None:
            j, cs = inner
            outs = _run(j, [jnp.asarray(c) for c in cs], vals[-len(j.invars):], rec.inner, kept)
        else:
            params = eqn.params
            if eqn.primitive.name in ("reshape", "broadcast_in_dim", "iota", "slice", "split", "pad",
                                      "conv_general_dilated"):
                params = _new_params(eqn, rec, rec.ins, kept, vals)
            outs = eqn.primitive.bind(*vals, **params)
            if not eqn.primitive.multiple_results:
                outs = [outs]
        for v, o in zip(eqn.outvars, outs):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


# ------------------------------------------------------------------------------------------------ tracing


def _is_nnx(model) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, nnx.Module)


def trace(model, variables=None, input_shape=None, **apply_kwargs) -> DependencyGraph:
    """Trace the channel dependencies of a model's forward pass on one example.

    Args:
        model: a Flax Linen module (with ``variables``), a Flax NNX module (its own state), or a
            function ``fn(variables, x)`` (with ``variables``).
        variables: the Linen variables (arrays or ``jax.ShapeDtypeStruct``; None: ``model.init``
            shapes from ``jax.eval_shape``, nothing is computed).
        input_shape: one example's shape, e.g. ``(H, W, C)``.
        **apply_kwargs: fixed keyword arguments of ``apply`` (e.g. ``train=False``).

    Returns:
        The :class:`DependencyGraph`. ValueError if a prunable group passes through an operation the
        analysis cannot follow (module docstring).
    """
    if input_shape is None or not all(isinstance(d, (int, np.integer)) and d >= 1 for d in tuple(input_shape)):
        raise ValueError(f"input_shape must be one example's shape of positive integers, got {input_shape!r}")
    example = jax.ShapeDtypeStruct((1, *map(int, input_shape)), jnp.float32)
    if _is_nnx(model):
        from flax import nnx
        graphdef, state = nnx.split(model)
        if variables is not None:
            state = variables

        def fn(s, x):
            return nnx.merge(graphdef, s)(x, **apply_kwargs)

        return DependencyGraph(fn, state, example, maskable=lambda keys: True)
    if hasattr(model, "apply") and hasattr(model, "init"):
        if variables is None:
            variables = jax.eval_shape(model.init, jax.random.key(0), example)

        def fn(v, x):
            return model.apply(v, x, **apply_kwargs)

        return DependencyGraph(fn, variables, example, maskable=lambda keys: keys[0] == "params", linen_model=model)
    if callable(model) and variables is not None:
        return DependencyGraph(lambda v, x: model(v, x, **apply_kwargs), variables, example,
                               maskable=lambda keys: True)
    raise ValueError(f"model must be a Flax Linen or NNX module or a function fn(variables, x), got "
                     f"{type(model).__name__}")


# ---------------------------------------------------------------------------------------------------- costs


def _macs(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        inner = _inner_jaxpr(eqn)
        if inner is not None:
            total += _macs(inner[0])
        elif name == "conv_general_dilated":
            dn = eqn.params["dimension_numbers"]
            k = eqn.invars[1].aval.shape
            per_out = int(np.prod([k[a] for a in dn.rhs_spec[1:]]))
            total += int(np.prod(eqn.outvars[0].aval.shape)) * per_out
        elif name == "dot_general":
            (lc, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[a] for a in lc]))
    return total


def program_macs(fn: Callable, *args) -> int:
    """Multiply-accumulates of ``fn(*args)`` read from its program: every convolution and matrix product.

    A convolution costs ``output elements * kernel elements per output`` (``kh * kw * c_in / groups``),
    a ``dot_general`` ``output elements * contracted size`` (dense layers and attention products
    alike). Elementwise operations, norms and pooling are not counted. ``args`` may be
    ``jax.ShapeDtypeStruct`` values (nothing is computed).
    """
    return _macs(jax.make_jaxpr(fn)(*args).jaxpr)


def program_costs(model, input_shape, variables=None, **apply_kwargs) -> dict:
    """``{"params", "macs"}`` of one example through a Linen or NNX ``model`` (or ``fn(variables, x)``).

    ``params`` counts the ``params`` collection of a Linen model (every ``nnx.Param`` of an NNX one,
    every leaf of ``variables`` for a function); ``macs`` is :func:`program_macs` of one example.
    """
    shape = tuple(input_shape)
    example = jax.ShapeDtypeStruct((1, *shape), jnp.float32)
    if _is_nnx(model):
        from flax import nnx
        graphdef, state = nnx.split(model)
        params = nnx.state(model, nnx.Param)
        macs = program_macs(lambda s, x: nnx.merge(graphdef, s)(x, **apply_kwargs), state, example)
        return {"params": int(sum(np.size(v) for v in jax.tree.leaves(params))), "macs": macs}
    if hasattr(model, "apply") and hasattr(model, "init"):
        v = variables if variables is not None else jax.eval_shape(model.init, jax.random.key(0), example)
        macs = program_macs(lambda v, x: model.apply(v, x, **apply_kwargs), v, example)
        return {"params": int(sum(np.prod(np.shape(a)) for a in jax.tree.leaves(v.get("params", {})))), "macs": macs}
    if callable(model) and variables is not None:
        macs = program_macs(lambda v, x: model(v, x, **apply_kwargs), variables, example)
        return {"params": int(sum(np.prod(np.shape(a)) for a in jax.tree.leaves(variables))), "macs": macs}
    raise ValueError(f"model must be a Flax Linen or NNX module or a function fn(variables, x), got "
                     f"{type(model).__name__}")
