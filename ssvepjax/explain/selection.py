"""Which filters enter a map: scores per filter, and the top-k or top-fraction of a layer by a score.

Scores are dicts ``{layer: [c]}`` (one score per filter, shared by every image) or, per image,
``{layer: [N, c]}``. :func:`top_k` and :func:`top_fraction` turn either into boolean masks of the
same shape, ready for ``cam_batch(..., filters=mask)``. Ties go to the lower filter index.

The tag score (Boege et al., xAI 2025, SCIENCE.md section 7) is a filter's response to a
frequency-tagged stimulus: the per-filter amplitude (mean over the filter's neurons of their
image-averaged amplitude spectra, in activation units) summed over the component bins of one kind:
``"fundamental"`` (the tags), ``"harmonic"`` (n f, n >= 2), ``"intermodulation"`` or ``"combined"``
(all three). A bin shared by components of different kinds counts only for ``"combined"``. Scores
are read at the tag, harmonic and intermodulation bins only, never averaged over all bins.

All spectral work goes through :func:`tag_component_amplitudes`, the one function that calls the
spectral API; everything else here reads its ``{layer: [m, c]}`` rows (``m`` = the design's component
bins, ``design.bins()[0]``).

Baselines a tag score must face: :func:`random_scores` (a uniformly random subset of each size),
:func:`l1_scores` (L1 norm of the filter's kernel, Li et al. 2017) and
:func:`mean_activation_scores` (mean absolute activation, as Torch-Pruning's ActivationImportance).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Bool

from ssvepjax.analysis.results import measure
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import probe_dataset

__all__ = [
    "TAG_KINDS",
    "component_rows",
    "l1_scores",
    "mean_activation_scores",
    "random_scores",
    "scores_from_amplitudes",
    "tag_component_amplitudes",
    "tag_filter_scores",
    "top_fraction",
    "top_k",
]

#: Which component bins a filter's tag score sums: one kind of component, or every component bin.
TAG_KINDS = ("fundamental", "harmonic", "intermodulation", "combined")


def _check_images(images) -> tuple[int, int, int, int]:
    shape = np.shape(images)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"images must have shape [N, H, W, C] with N >= 1, got shape {shape}")
    return shape


def tag_component_amplitudes(
    fn: Callable,
    images,
    masks,
    design=None,
    *,
    per_image: bool = False,
) -> dict[str, np.ndarray]:
    """Per-filter amplitude at every component bin of a tagging design.

    The only function of this module that calls the spectral API (``streaming.probe_dataset`` and
    ``analysis.measure``, per image or over the images), so a change of measure is made here alone.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation [..., c]}`` (``sj.linen_fn`` /
            ``sj.nnx_fn``, e.g. with ``include=[layer]``).
        images: ``[N, H, W, C]`` in [0, 1].
        masks: ``[P, H, W]`` part masks, one per tag of ``design``.
        design: an ``sj.Design`` (default ``sj.Design()``).
        per_image: one row block per image (``[N, m, c]``) instead of the image average.

    Returns:
        ``{layer: [m, c]}`` (or ``[N, m, c]``) amplitudes in activation units, rows in the order of
        ``design.bins()[0]``; the filter's amplitude is the mean of its neurons' amplitudes.
    """
    design = Design() if design is None else design
    n = _check_images(images)[0]
    if not per_image:
        spec = probe_dataset(fn, images, masks, design, progress=False, chunk_size=min(8, n))
        return {name: np.asarray(r.filter["amplitude"]) for name, r in measure(spec, design).items()}
    # One image at a time through the same loop (its compiled program is cached: one compilation).
    out: dict[str, list] = {}
    for i in range(n):
        spec = probe_dataset(fn, np.asarray(images[i : i + 1]), masks, design, progress=False, chunk_size=1)
        for k, r in measure(spec, design).items():
            out.setdefault(k, []).append(np.asarray(r.filter["amplitude"]))
    return {k: np.stack(v) for k, v in out.items()}


def component_rows(design, kind: str = "combined") -> np.ndarray:
    """Rows of ``design.bins()[0]`` that count for ``kind`` (one of :data:`TAG_KINDS`).

    A bin counts for a pure kind when every component on it is of that kind; ``"combined"`` takes
    every component bin.
    """
    if kind not in TAG_KINDS:
        raise ValueError(f"kind must be one of {TAG_KINDS}, got {kind!r}")
    bins = design.bins()[0]
    kinds_at: dict[int, set] = {}
    for c in design.components:
        kinds_at.setdefault(int(c.bin), set()).add(c.kind)
    keep = [i for i, b in enumerate(bins) if kind == "combined" or kinds_at[int(b)] == {kind}]
    if not keep:
        raise ValueError(f"the design has no component bin of kind {kind!r}")
    return np.asarray(keep, np.int64)


def scores_from_amplitudes(amplitudes: dict[str, np.ndarray], design, kind: str = "combined") -> dict[str, np.ndarray]:
    """Tag scores: amplitudes ``{layer: [..., m, c]}`` summed over the rows of ``kind``.

    Returns:
        ``{layer: [c]}`` (or ``[N, c]`` for per-image amplitudes).
    """
    rows = component_rows(design, kind)
    m = len(design.bins()[0])
    out = {}
    for name, a in amplitudes.items():
        a = np.asarray(a, np.float64)
        if a.ndim < 2 or a.shape[-2] != m:
            raise ValueError(f"amplitudes of {name} must have shape [..., {m}, c] (one row per component "
                             f"bin of the design), got shape {a.shape}")
        out[name] = np.nan_to_num(a[..., rows, :], nan=0.0).sum(-2)
    return out


def tag_filter_scores(fn: Callable, images, masks, design=None, *, kind: str = "combined",
                      per_image: bool = False) -> dict[str, np.ndarray]:
    """Tag score of every filter: :func:`tag_component_amplitudes` then :func:`scores_from_amplitudes`.

    Args:
        fn, images, masks, design, per_image: as :func:`tag_component_amplitudes`.
        kind: one of :data:`TAG_KINDS`.

    Returns:
        ``{layer: [c]}`` (or ``[N, c]`` with ``per_image``), non-negative.
    """
    design = Design() if design is None else design
    component_rows(design, kind)  # a bad kind fails before the probe runs
    return scores_from_amplitudes(tag_component_amplitudes(fn, images, masks, design, per_image=per_image),
                                  design, kind)


def _k_for(name: str, c: int, k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c:
        raise ValueError(f"k must be an integer in [1, {c}] (the filters of layer {name!r}), got {k!r}")
    return int(k)


def _mask_top(s: np.ndarray, k: int) -> np.ndarray:
    s = np.nan_to_num(np.asarray(s, np.float64), nan=-np.inf)
    order = np.argsort(-s, axis=-1, kind="stable")[..., :k]
    m = np.zeros(s.shape, bool)
    np.put_along_axis(m, order, True, axis=-1)
    return m


def top_k(scores, k: int) -> dict[str, Bool[np.ndarray, "... c"]] | np.ndarray:
    """Boolean masks of the ``k`` highest-scoring filters (NaN scores rank last).

    Args:
        scores: ``{layer: [..., c]}`` or one array ``[..., c]`` (e.g. ``[N, c]`` per image).
        k: filters to keep, in ``[1, c]`` for every layer.

    Returns:
        Masks of the shape of ``scores`` (a dict for a dict).
    """
    if isinstance(scores, dict):
        if not scores:
            raise ValueError("scores is empty")
        return {name: _mask_top(s, _k_for(name, np.shape(s)[-1], k)) for name, s in scores.items()}
    s = np.asarray(scores)
    if s.ndim < 1 or s.shape[-1] < 1:
        raise ValueError(f"scores must have a filter axis [..., c], got shape {s.shape}")
    return _mask_top(s, _k_for("scores", s.shape[-1], k))


def top_fraction(scores, fraction: float):
    """:func:`top_k` with ``k = max(1, round(fraction * c))`` per layer, ``fraction`` in (0, 1]."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")

    def k_of(s):
        return max(1, int(round(fraction * np.shape(s)[-1])))

    if isinstance(scores, dict):
        if not scores:
            raise ValueError("scores is empty")
        return {name: top_k(np.asarray(s), k_of(s)) for name, s in scores.items()}
    return top_k(scores, k_of(scores))


def random_scores(key: jax.Array, sizes: dict[str, int], n_images: int | None = None) -> dict[str, np.ndarray]:
    """Uniform random scores: their top-k is a uniformly random subset of k filters.

    Args:
        key: a ``jax.random`` key.
        sizes: ``{layer: c}`` filters per layer.
        n_images: None for one subset shared by every image, else one draw per image (``[N, c]``).

    Returns:
        ``{layer: [c]}`` or ``{layer: [N, c]}``.
    """
    if n_images is not None and (not isinstance(n_images, int) or n_images < 1):
        raise ValueError(f"n_images must be an integer >= 1 or None, got {n_images!r}")
    out = {}
    for i, (name, c) in enumerate(sizes.items()):
        if not isinstance(c, (int, np.integer)) or c < 1:
            raise ValueError(f"sizes[{name!r}] must be an integer >= 1, got {c!r}")
        shape = (int(c),) if n_images is None else (n_images, int(c))
        out[name] = np.asarray(jax.random.uniform(jax.random.fold_in(key, i), shape))
    return out


def _param_subtree(params, layer: str):
    node = params
    for part in layer.partition("#")[0].split("/"):
        if not hasattr(node, "keys") or part not in node:
            return None
        node = node[part]
    return node


def l1_scores(variables, layers: Iterable[str]) -> dict[str, np.ndarray]:
    """L1 norm of each filter's kernel (Li et al. 2017): ``{layer: [c_out]}``.

    A layer (a Linen submodule path, as in ``cams.linen_tap``) must hold exactly one ``kernel``
    parameter under ``variables["params"][path]`` (a conv ``[kh, kw, c_in, c_out]`` or dense
    ``[c_in, c_out]`` kernel), e.g. ``stage3_block0/conv2`` of a ``CifarResNet``. The norm runs over
    every axis but the last.
    """
    params = variables.get("params", variables) if hasattr(variables, "get") else variables
    out = {}
    for layer in layers:
        sub = _param_subtree(params, layer)
        if sub is None:
            raise ValueError(f"unknown layer {layer!r}: no parameters under params/{layer}")
        kernels = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(sub)[0]
                   if str(getattr(path[-1], "key", path[-1])) == "kernel"] if hasattr(sub, "keys") else []
        if len(kernels) != 1 or np.ndim(kernels[0]) < 2:
            raise ValueError(f"layer {layer!r} holds {len(kernels)} kernel parameters; l1_scores needs exactly one")
        k = np.asarray(kernels[0], np.float64)
        out[layer] = np.abs(k).sum(tuple(range(k.ndim - 1)))
    return out


def mean_activation_scores(
    fn: Callable,
    images,
    *,
    per_image: bool = False,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Mean absolute activation of each filter over positions (and images).

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: activation [..., c]}`` (as for the tag score).
        images: ``[N, H, W, C]``.
        per_image: keep one row per image (``[N, c]``).
        batch_size: images per jitted, vmapped step.

    Returns:
        ``{layer: [c]}`` or ``{layer: [N, c]}``.
    """
    n = _check_images(images)[0]
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")

    @jax.jit
    def batch(x):
        acts = jax.vmap(fn)(x)
        return {k: jnp.abs(v).reshape(v.shape[0], -1, v.shape[-1]).mean(1) for k, v in acts.items()
                if v.ndim >= 2}

    x = np.asarray(images, np.float32)
    parts: dict[str, list] = {}
    for i in range(0, n, batch_size):
        for k, v in batch(jnp.asarray(x[i:i + batch_size])).items():
            parts.setdefault(k, []).append(np.asarray(v))
    out = {k: np.concatenate(v) for k, v in parts.items()}
    return out if per_image else {k: v.mean(0) for k, v in out.items()}

