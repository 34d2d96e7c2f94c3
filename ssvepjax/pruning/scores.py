"""One interface for every filter-importance score: ``importance(method, model, variables, images)``.

Methods (higher = more important = kept longer):

- tag-based (``tag_scores``): ``"tag_harmonic"``, ``"tag_intermodulation"``, ``"tag_significant"``,
  ``"tag_all"``, and ``"tag1"``, ``"tag2"``, ... for one part's tag; the images are tagged with
  ``masks`` (default: left and right halves) at ``design``'s tags;
- from the decision's spectrum (``decision_scores``): ``"tag_decision"``, the first-order change of the target
  logit's amplitude at the tags' fundamentals when the filter is removed (targets: ``labels`` when given, else
  the model's predictions); same ``masks`` and ``design``;
- baselines: ``"random"`` (seeded), ``"l1"`` (Li et al. 2017), ``"bn_scale"`` (Liu et al. 2017),
  ``"mean_activation"``, ``"taylor"`` (Molchanov et al. 2019; needs labels) and ``"hrank"`` (Lin et al.
  2020). See ``baselines``.

Several methods at once (a sequence) share the work: one tag probe for every tag method and one
pass of the image loop for every data-dependent baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ssvepjax.pruning import baselines as B
from ssvepjax.pruning.decision_scores import decision_scores
from ssvepjax.pruning.tag_scores import tag_kinds, tag_scores
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import reduce_dataset
from ssvepjax.tagging.masks import halves

__all__ = ["BASELINES", "DATA_METHODS", "DECISION_METHODS", "TAG_METHODS", "importance", "methods"]

#: Importance methods from tag responses (``importance``).
TAG_METHODS = ("tag_harmonic", "tag_intermodulation", "tag_significant", "tag_all")
#: Importance baselines (``importance``): random, L1, Taylor, mean activation, batch-norm scale, HRank.
BASELINES = ("random", "l1", "taylor", "mean_activation", "bn_scale", "hrank")
#: Baselines that run images through the network (the others read the weights).
DATA_METHODS = ("taylor", "mean_activation", "hrank")
#: Importance from the decision's spectrum: the target logit's tag amplitude (``decision_scores``).
DECISION_METHODS = ("tag_decision",)


def methods(n_parts: int = 2) -> tuple[str, ...]:
    """Every method name for a design with ``n_parts`` tags."""
    return TAG_METHODS + tuple(f"tag{p + 1}" for p in range(n_parts)) + DECISION_METHODS + BASELINES


def _tag_kind(method: str) -> str:
    return method[4:] if method.startswith("tag_") else method


def importance(
    method: str | Sequence[str],
    model,
    variables: dict,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    masks: np.ndarray | None = None,
    design=None,
    seed: int = 0,
    site: str = "post",
    chunk_size: int = 8,
    progress: bool = False,
) -> dict:
    """Importance of every filter of every conv layer.

    Args:
        method: a method name (module docstring) or a sequence of them.
        model: a Flax Linen model whose conv layers sow ``pre``/``post`` (e.g. ``sj.CifarResNet``).
        variables: its variables.
        images: ``[N, H, W, C]`` in [0, 1]; needed by the tag methods and the data-dependent baselines.
        labels: ``[N]`` int class labels; needed by ``"taylor"``; the targets of ``"tag_decision"`` (else predictions).
        masks: ``[P, H, W]`` part masks for the tag methods (default ``sj.halves(H, W)``).
        design: ``sj.Design`` of the tag methods (default ``sj.Design()``: 6 and 7.5 Hz).
        seed: seed of ``"random"``.
        site: activation the tag methods, mean activation and HRank read: ``"post"`` (after the
            nonlinearity; for a block's second conv, after the residual addition) or ``"pre"``.
        chunk_size: examples per step of the image loop.
        progress: progress bars.

    Returns:
        ``{layer: [c]}`` finite non-negative scores for one method; ``{method: {layer: [c]}}`` for a sequence.
    """
    names = (method,) if isinstance(method, str) else tuple(method)
    if not names:
        raise ValueError("method must name at least one method")
    n_parts = 2 if masks is None else int(np.shape(masks)[0])
    known = methods(n_parts)
    bad = [m for m in names if m not in known]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; available: {known}")
    if site not in ("pre", "post"):
        raise ValueError(f"site must be 'pre' or 'post', got {site!r}")
    layers = B.conv_layers(variables)
    needs_images = [m for m in names if m in DATA_METHODS + DECISION_METHODS or _tag_kind(m) in tag_kinds(n_parts)]
    if needs_images:
        if images is None or np.ndim(images) != 4 or len(images) == 0:
            raise ValueError(f"method(s) {needs_images} need images [N, H, W, C] with N >= 1, got "
                             f"{None if images is None else np.shape(images)}")
        if not np.all(np.isfinite(images)):
            raise ValueError("images hold NaN or infinite values")
    if "taylor" in names:
        if labels is None or np.shape(labels) != (len(images),):
            raise ValueError(f"taylor needs labels [N] = [{len(images)}] matching images, got "
                             f"{None if labels is None else np.shape(labels)}")
    out = {}
    for m in names:
        if m == "random":
            out[m] = B.random_scores(variables, seed)
        elif m == "l1":
            out[m] = B.l1_scores(variables)
        elif m == "bn_scale":
            out[m] = B.bn_scale_scores(variables)
    tag = [m for m in names if _tag_kind(m) in tag_kinds(n_parts)]
    if tag:
        h, w = np.shape(images)[1:3]
        masks = halves(h, w) if masks is None else masks
        design = Design() if design is None else design
        fn = linen_fn(model, variables, capture_intermediates=False, train=False,
                         include=[f"{name}/{site}" for name in layers])
        res = tag_scores(fn, np.asarray(images, np.float32), masks, design, [_tag_kind(m) for m in tag])
        for m in tag:
            out[m] = {name.removesuffix(f"/{site}"): s for name, s in res[_tag_kind(m)].items()}
    if "tag_decision" in names:
        design = Design() if design is None else design
        out["tag_decision"] = decision_scores(model, variables, images, labels, masks=masks, tags=design.tags,
                                              max_order=design.max_order)
    data = [m for m in names if m in DATA_METHODS]
    if data:
        factories = {
            "taylor": lambda: B.taylor_reduction(model, variables),
            "mean_activation": lambda: B.mean_activation_reduction(model, variables, site=site),
            "hrank": lambda: B.hrank_reduction(model, variables, site=site),
        }
        batch = {"image": np.asarray(images, np.float32)}
        if labels is not None:
            batch["label"] = np.asarray(labels, np.int32)
        res = reduce_dataset(batch, B.combine({m: factories[m]() for m in data}), chunk_size=chunk_size,
                             progress=progress)
        out.update(res)
    for m, scores in out.items():
        for name, s in scores.items():
            if not np.all(np.isfinite(s)):
                raise ValueError(f"method {m!r} gave NaN or infinite scores for {name}")
    return out[names[0]] if isinstance(method, str) else {m: out[m] for m in names}
