"""One registry of every filter score, and one entry point for all of them: :func:`importance`.

``importance(method, model, variables, images, labels, ...)`` computes one score (or several, sharing the work)
for every filter of the named layers, higher = more important. :data:`SCORES` says, per method, how it is
computed (``family``), what it needs, whether it has per-image rows, and its reference (SCIENCE.md section 7):

============================ ============================================================== =========================
method                       score                                                          needs
============================ ============================================================== =========================
``random``                   uniform in [0, 1), ``numpy.random.default_rng(seed)``          (nothing)
``l1``                       L1 norm of the kernel (Li et al. 2017)                         (nothing)
``bn_scale``                 ``|gamma|`` of the batch norm (Liu et al. 2017)                (nothing)
``mean_activation``          mean ``|activation|`` (Torch-Pruning's ActivationImportance)   images
``hrank``                    feature-map rank (Lin et al. 2020)                             images
``taylor``                   first-order Taylor of the loss (Molchanov et al. 2019)         model, images, labels
``tag_harmonic``             BCA+ summed over the harmonic series (kind ``harmonic_series``) images, masks
``tag_intermodulation``      BCA+ summed over the intermodulation components                images, masks
``tag_significant``          BCA+ at every component, weighted by the responding share      images (>= 2), masks
``tag_all``                  BCA+ summed over every component                               images, masks
``tag1``, ``tag2``, ...      BCA+ summed over one tag's harmonic series                     images, masks
``amplitude_<kind>``         amplitude summed over the rows of ``<kind>`` (``fundamental``,  images, masks
                             ``higher_harmonic``, ``harmonic_series``, ``intermodulation``,
                             ``all``)
``tag_decision``             first-order change of the decision's tag amplitude when the    model, images, masks
                             filter is removed (targets: ``labels`` if given, else the
                             model's predictions)
============================ ============================================================== =========================

(The ``tag_*`` names are those of the stored pruning results; the kinds and measures are ``scores.tags``'s.)
Masks default to the left and right halves and the design to ``sj.Design()`` (6 and 7.5 Hz).

Layers: by default every conv layer (``weights.conv_layers``: ``params/<layer>/conv/kernel``, e.g. a
``sj.CifarResNet``), activations read where the model sows them (``site="post"`` or ``"pre"``); ``site="output"``
reads what each named conv or dense layer writes (``activity.layer_output_fn``: any Linen model, e.g. the layers of
``pruning.topology``). Given ``fn`` (a per-frame function ``[H, W, C] -> {layer: [..., c]}``, e.g. a module's
output with preprocessing), the activation scores read the ``layers`` it returns and need no model. The
data-free scores read the parameters under ``params/<layer>`` (``weights.layer_kernel``).

Several methods at once share the work: one tag probe per measure for every tag method, and one pass of the
image loop (``streaming.reduce_dataset``) for every activity score.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np

from ssvepjax.recording.adapters import linen_fn
from ssvepjax.scores import activity as A
from ssvepjax.scores import weights as W
from ssvepjax.scores.decision import decision_scores
from ssvepjax.scores.tags import tag_scores
from ssvepjax.spectral.design import Design
from ssvepjax.streaming.loop import reduce_dataset
from ssvepjax.tagging.masks import halves

__all__ = ["AMPLITUDE_METHODS", "BASELINES", "SCORES", "SITES", "TAG_METHODS", "Score", "importance", "methods",
           "score_info"]

#: Where the activation scores read a layer: its sown ``pre`` or ``post`` value, or the output it writes.
SITES = ("pre", "post", "output")


@dataclasses.dataclass(frozen=True)
class Score:
    """How one score is computed.

    Attributes:
        family: ``"weights"`` (data-free, ``scores.weights``), ``"activity"`` (a reduction of the image loop,
            ``scores.activity``), ``"tags"`` (``scores.tags.tag_scores``) or ``"decision"``
            (``scores.decision``).
        needs: what the caller gives beyond the variables: ``"model"``, ``"activations"`` (a model or ``fn``),
            ``"images"``, ``"labels"``, ``"masks"`` (defaulting to the halves).
        per_image: whether it has per-image rows (``importance(..., per_image=True)``).
        reference: where the score comes from, and its units.
        kind: a tag score's kind (``scores.tags``).
        measure: a tag score's measure (``scores.tags``).
    """

    family: str
    needs: tuple[str, ...]
    per_image: bool
    reference: str
    kind: str | None = None
    measure: str | None = None


_TAG = ("activations", "images", "masks")
_BCA = "BCA+ (activation units) at the design's components (Boege et al. 2024; SCIENCE.md sections 3, 7)"
_AMP = "amplitude (activation units) at the design's components (Boege et al., xAI 2025; SCIENCE.md sections 6, 7)"
#: Every score by name: how it is computed, what it needs, its reference and units.
SCORES: dict[str, Score] = {
    "tag_harmonic": Score("tags", _TAG, True, _BCA, "harmonic_series", "bca+"),
    "tag_intermodulation": Score("tags", _TAG, True, _BCA, "intermodulation", "bca+"),
    "tag_significant": Score("tags", _TAG, False, _BCA, "significant", "bca+"),
    "tag_all": Score("tags", _TAG, True, _BCA, "all", "bca+"),
    **{f"amplitude_{k}": Score("tags", _TAG, True, _AMP, k, "amplitude")
       for k in ("fundamental", "higher_harmonic", "harmonic_series", "intermodulation", "all")},
    "tag_decision": Score("decision", ("model", "images", "masks"), False,
                          "first-order change of the target's tag amplitude when the filter's gate closes "
                          "(Molchanov et al. 2019's gate on the decision's spectrum; output units per unit of gate)"),
    "random": Score("weights", (), True, "uniform in [0, 1): a uniformly random subset of each size (the "
                    "baseline of SCIENCE.md section 7; dimensionless)"),
    "l1": Score("weights", (), False, "L1 norm of the kernel (Li et al. 2017; kernel units)"),
    "taylor": Score("activity", ("model", "images", "labels"), True,
                    "first-order Taylor (Molchanov et al. 2019; squared loss units)"),
    "mean_activation": Score("activity", ("activations", "images"), True,
                             "mean |activation| (Torch-Pruning's ActivationImportance; activation units)"),
    "bn_scale": Score("weights", (), False, "|gamma| of the batch norm (Liu et al. 2017; dimensionless)"),
    "hrank": Score("activity", ("activations", "images"), True, "feature-map rank (Lin et al. 2020; dimensionless)"),
}
#: The BCA+ tag scores of the pruning experiments (one per tag as well: ``methods``).
TAG_METHODS = ("tag_harmonic", "tag_intermodulation", "tag_significant", "tag_all")
#: The amplitude tag scores, one per kind (``amplitude_<kind>``): the explanations' selectors.
AMPLITUDE_METHODS = tuple(m for m in SCORES if m.startswith("amplitude_"))
#: The scores a tag score must face (SCIENCE.md section 7).
BASELINES = ("random", "l1", "taylor", "mean_activation", "bn_scale", "hrank")


def methods(n_parts: int = 2) -> tuple[str, ...]:
    """Every method name for a design with ``n_parts`` tags."""
    return TAG_METHODS + tuple(f"tag{p + 1}" for p in range(n_parts)) + AMPLITUDE_METHODS + ("tag_decision",) \
        + BASELINES


def score_info(method: str) -> Score:
    """The :class:`Score` of a method name (``"tag<p>"`` included); ValueError if unknown."""
    if method in SCORES:
        return SCORES[method]
    if method.startswith("tag") and method[3:].isdigit() and int(method[3:]) >= 1:
        return Score("tags", _TAG, True, _BCA, method, "bca+")
    raise ValueError(f"unknown method {method!r}; available: {methods()} and tag<p> for every tag p")


def _check_inputs(names, model, fn, images, labels, per_image: bool) -> None:
    info = {m: score_info(m) for m in names}
    if per_image and images is None:
        raise ValueError("per_image needs images [N, H, W, C]: one row per image")
    if per_image:
        bad = [m for m in names if not info[m].per_image]
        if bad:
            raise ValueError(f"method(s) {bad} have no per-image rows (per_image=False)")
    needing = {need: [m for m in names if need in info[m].needs] for need in ("model", "activations", "images")}
    if needing["model"] and model is None:
        raise ValueError(f"method(s) {needing['model']} need the model")
    if needing["activations"] and model is None and fn is None:
        raise ValueError(f"method(s) {needing['activations']} need a model or fn to read activations from")
    if needing["images"]:
        if images is None or np.ndim(images) != 4 or len(images) == 0:
            raise ValueError(f"method(s) {needing['images']} need images [N, H, W, C] with N >= 1, got "
                             f"{None if images is None else np.shape(images)}")
        if not np.all(np.isfinite(images)):
            raise ValueError("images hold NaN or infinite values")
    if "taylor" in names and (labels is None or np.shape(labels) != (len(images),)):
        raise ValueError(f"taylor needs labels [N] = [{len(images)}] matching images, got "
                         f"{None if labels is None else np.shape(labels)}")


def _frame_fn(model, variables, fn, layers, site: str, image_shape) -> Callable:
    """The per-frame function ``[H, W, C] -> {layer: [..., c]}`` holding ``layers`` that the activation scores read.

    A given ``fn`` is probed as it is, every output (the probe's images per step, and so its rounding, depend on
    what it records); the scores keep ``layers``.
    """
    if fn is not None:
        if layers is not None:
            returned = jax.eval_shape(fn, jax.ShapeDtypeStruct(tuple(image_shape), np.float32))
            missing = [n for n in layers if n not in returned]
            if missing:
                raise ValueError(f"layers {missing} are not an output of fn; it returns {sorted(returned)}")
        return fn
    if site == "output":
        return A.layer_output_fn(model, variables, layers)
    inner = linen_fn(model, variables, capture_intermediates=False, train=False,
                     include=[f"{n}/{site}" for n in layers])
    return lambda frame: {k.removesuffix(f"/{site}"): v for k, v in inner(frame).items()}


def _activity(names, model, variables, images, labels, fn, layers, named: bool, site: str, per_image: bool,
              chunk_size: int, progress: bool) -> dict:
    """Every activity score of ``names`` in one pass of the image loop."""
    if fn is not None or site == "output":
        acts = A.frame_activations(_frame_fn(model, variables, fn, layers, site, np.shape(images)[1:]),
                                   layers if named else None)
    else:
        acts = A.sown_activations(model, variables, site=site, layers=layers if named else None)
    n = len(images) if per_image else None
    factories = {
        "taylor": lambda: A.taylor_reduction(model, variables, n_images=n),
        "mean_activation": lambda: A.mean_activation_reduction(acts, n_images=n),
        "hrank": lambda: A.hrank_reduction(acts, n_images=n),
    }
    batch = {"image": np.asarray(images, np.float32)}
    if labels is not None:
        batch["label"] = np.asarray(labels, np.int32)
    if per_image:
        batch["index"] = np.arange(len(images), dtype=np.int32)
    return reduce_dataset(batch, A.combine({m: factories[m]() for m in names}), chunk_size=chunk_size,
                          progress=progress)


def importance(
    method: str | Sequence[str],
    model,
    variables: dict | None,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    *,
    layers: Sequence[str] | None = None,
    fn: Callable | None = None,
    site: str = "post",
    per_image: bool = False,
    masks: np.ndarray | None = None,
    design=None,
    seed=0,
    chunk_size: int = 8,
    progress: bool = False,
) -> dict:
    """Importance of every filter of the named layers, by one method or several (module docstring).

    Args:
        method: a method name (:func:`methods`) or a sequence of them.
        model: a Flax Linen model (e.g. ``sj.CifarResNet``); None when ``fn`` is given and no method needs it.
        variables: its variables (the data-free scores read ``params``).
        images: ``[N, H, W, C]`` in [0, 1]; needed by the activity, tag and decision methods.
        labels: ``[N]`` int class labels; needed by ``"taylor"``; the targets of ``"tag_decision"`` (else predictions).
        layers: layer names (module paths); default every conv layer (``weights.conv_layers``), or every output
            of ``fn``.
        fn: per-frame function ``[H, W, C] -> {layer: [..., c]}`` the activation scores read instead of the model.
        site: where the activation scores read a layer without ``fn``: ``"post"`` (after the nonlinearity; for a
            block's second conv, after the residual addition), ``"pre"`` (both sown by the model) or ``"output"``
            (what the conv or dense layer writes).
        per_image: one row per image (``[N, c]``) for the methods that have them (:data:`SCORES`).
        masks: ``[P, H, W]`` part masks of the tag methods (default ``sj.halves(H, W)``).
        design: ``sj.Design`` of the tag methods (default ``sj.Design()``: 6 and 7.5 Hz).
        seed: seed of ``"random"``: an integer (NumPy) or a ``jax.random`` key (``weights.random_scores``).
        chunk_size: examples per step of the image loop.
        progress: progress bars.

    Returns:
        ``{layer: [c]}`` (``[N, c]`` per image) finite scores for one method; ``{method: {layer: ...}}`` for a
        sequence.
    """
    names = (method,) if isinstance(method, str) else tuple(method)
    if not names:
        raise ValueError("method must name at least one method")
    n_parts = 2 if masks is None else int(np.shape(masks)[0])
    known = methods(n_parts)
    bad = [m for m in names if m not in known]
    if bad:
        raise ValueError(f"unknown method(s) {bad}; available: {known}")
    if site not in SITES:
        raise ValueError(f"site must be one of {SITES}, got {site!r}")
    _check_inputs(names, model, fn, images, labels, per_image)
    named = layers is not None
    if named:
        layers = list(layers)
    elif fn is None:
        layers = W.conv_layers(variables)
    n = len(images) if per_image else None
    out = {}
    for m in names:
        if m == "random":
            out[m] = W.random_scores(W.layer_sizes(variables, layers), seed, n)
        elif m == "l1":
            out[m] = W.l1_scores(variables, layers)
        elif m == "bn_scale":
            out[m] = W.bn_scale_scores(variables, layers)
    tag = [m for m in names if score_info(m).family == "tags"]
    if tag:
        h, w = np.shape(images)[1:3]
        masks = halves(h, w) if masks is None else masks
        design = Design() if design is None else design
        frame_fn = _frame_fn(model, variables, fn, layers, site, np.shape(images)[1:])
        for measure in dict.fromkeys(score_info(m).measure for m in tag):  # one probe per measure
            group = [m for m in tag if score_info(m).measure == measure]
            res = tag_scores(frame_fn, np.asarray(images, np.float32), masks, design,
                             [score_info(m).kind for m in group], measure=measure, per_image=per_image,
                             chunk_size=chunk_size, progress=progress)
            out.update({m: res[score_info(m).kind] for m in group})
    if "tag_decision" in names:
        design = Design() if design is None else design
        out["tag_decision"] = decision_scores(model, variables, images, labels, masks=masks, tags=design.tags,
                                              max_order=design.max_order)
    activity = [m for m in names if score_info(m).family == "activity"]
    if activity:
        out.update(_activity(activity, model, variables, images, labels, fn, layers, named, site, per_image,
                             chunk_size, progress))
    for m, scores in out.items():
        if named and score_info(m).family != "weights":
            scores = out[m] = {k: scores[k] for k in layers if k in scores}
        for name, s in scores.items():
            if not np.all(np.isfinite(s)):
                raise ValueError(f"method {m!r} gave NaN or infinite scores for {name}")
    return out[names[0]] if isinstance(method, str) else {m: out[m] for m in names}
