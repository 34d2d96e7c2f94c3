"""Filter selections scored against object boxes, image by image: the follow-up paper's measurement.

Böge et al. (xAI 2025) restrict class-activation maps to the filters with the largest SSVEP
response and measure how the maps sit on the object. This module measures it for any Linen model
and layer on images with boxes (``ssvepjax.data.load_box_folder``), and keeps every image's value so
that a difference between two selections is tested over images (the weights are fixed: the
population sampled is the images).

- :func:`selection_scores`: every selector's filter scores at one layer (``scores.importance``):
  ``tag:<label>`` (tag amplitude over calibration images, one subset for every image; the labels of
  :data:`TAG_SELECTORS`), ``tag-image:<label>`` (the explained image's own tag amplitude), ``l1`` (the
  layer's kernel norm), ``activation`` / ``activation-image`` (mean absolute activation: the control a tag
  score must beat, as tag amplitudes scale with activation).
- :func:`evaluate_selections`: for every CAM method, selector and k, each image's energy in the box,
  energy concentration (top 20 %), localisation (IoU >= 0.5) and IoU, and on request deletion and
  insertion AUC; ``random`` is the mean over ``n_random`` uniformly random subsets of each size.
- :func:`summarize`: mean and standard error over images, and each selector minus random of the
  same size, paired by image, with the project's verdict (``stats.verdicts``: paired t-test, Holm-corrected
  over ``FAMILY``, "matches" within a stated margin).

Values are keyed ``"method|selector|k|metric"`` (``k`` = the number of filters; the ``all`` map
has ``k = c``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.explain import cams as C
from ssvepjax.explain import metrics as M
from ssvepjax.explain.selection import top_k
from ssvepjax.scores.registry import importance
from ssvepjax.scores.weights import random_scores
from ssvepjax.stats.verdicts import verdict_table

__all__ = ["BOX_METRICS", "CURVE_METRICS", "FAMILY", "LOWER_IS_BETTER", "TAG_SELECTORS", "evaluate_selections",
           "selection_scores", "summarize"]

#: Per-image metrics of a map against the object box.
BOX_METRICS = ("energy_in_box", "concentration", "localisation", "iou")
#: Per-image areas under the deletion and insertion curves.
CURVE_METRICS = ("deletion", "insertion")
#: Metrics where a lower value is the better map (the probability falls fast as salient pixels are removed).
LOWER_IS_BETTER = ("deletion",)
#: The comparisons one Holm correction runs over in :func:`summarize` (one panel of ``plot_selection_metrics``).
FAMILY = "one CAM method and one metric: every selector at every k against random"
#: The follow-up paper's tag selectors, as stored results label them (``tag:<label>``), and the kind of
#: ``scores.tags`` each one sums the amplitude over: its "harmonic" is n f with n >= 2 only, its "combined"
#: every component.
TAG_SELECTORS = {"fundamental": "fundamental", "harmonic": "higher_harmonic", "intermodulation": "intermodulation",
                 "combined": "all"}


def selection_scores(
    fn: Callable,
    variables,
    layer: str,
    images,
    masks,
    design,
    *,
    per_image: bool,
    kinds: Sequence[str] = tuple(TAG_SELECTORS),
    l1_layer: str | None = None,
) -> dict[str, np.ndarray]:
    """Scores of the filters of ``layer`` for every selector: ``{selector: [c]}`` or ``{selector: [N, c]}``.

    Args:
        fn: per-frame function ``[H, W, C] -> {layer: [..., c]}`` holding ``layer`` (``sj.linen_fn(...,
            include=[layer], preprocess=...)``).
        variables: the model's variables (for ``l1``).
        layer: the layer's name in ``fn``'s output.
        images: ``[N, H, W, C]`` in [0, 1]: the explained images (``per_image``) or calibration images.
        masks: ``[P, H, W]`` part masks, one per tag of ``design``.
        design: an ``sj.Design``.
        per_image: True: ``tag-image:<kind>`` and ``activation-image``, one row per image ``[N, c]``; False:
            ``tag:<kind>``, ``activation`` and ``l1``, one score per filter ``[c]`` shared by every image.
        kinds: tag selector labels (:data:`TAG_SELECTORS`) to score.
        l1_layer: the parameter path of the kernel that writes ``layer``'s channels (default ``layer``).
    """
    suffix = "-image" if per_image else ""
    method = {f"tag{suffix}:{label}": f"amplitude_{TAG_SELECTORS[label]}" for label in kinds}
    method[f"activation{suffix}"] = "mean_activation"
    res = importance(tuple(method.values()), None, variables, images, layers=[layer], fn=fn, per_image=per_image,
                     masks=masks, design=design)
    out = {name: res[m][layer] for name, m in method.items()}
    if not per_image:
        out["l1"] = importance("l1", None, variables, layers=[l1_layer or layer])[l1_layer or layer]
    c = out[f"activation{suffix}"].shape[-1]
    for name, v in out.items():
        if np.shape(v)[-1] != c:
            raise ValueError(f"selector {name} scores {np.shape(v)[-1]} filters, the layer {layer} has {c}")
    return out


def _subsets(scores: dict[str, np.ndarray], c: int, ks: Iterable[int], n_random: int, key, n: int):
    yield "all", c, [None]
    for k in ks:
        for name, s in scores.items():
            yield name, k, [top_k(np.asarray(s), k)]
        if n_random:
            yield "random", k, [top_k(random_scores({"x": c}, jax.random.fold_in(key, 1000 * k + r), n)["x"], k)
                                for r in range(n_random)]


def evaluate_selections(
    tap: C.LayerTap,
    images,
    boxes,
    targets,
    scores: dict[str, np.ndarray],
    ks: Sequence[int],
    *,
    key: jax.Array,
    n_random: int = 10,
    methods: Sequence[str] = C.METHODS,
    prob_fn: Callable | None = None,
    curve_ks: Sequence[int] = (),
    curve_selectors: Sequence[str] | None = None,
    curve_steps: int = 16,
    curve_key: jax.Array | None = None,
    batch_size: int = 16,
) -> dict[str, np.ndarray]:
    """Each image's metrics for every method, selector and k.

    Args:
        tap: ``linen_tap`` / ``nnx_tap`` at the layer the scores are for.
        images: ``[N, H, W, C]`` in [0, 1].
        boxes: ``[N, 4]`` half-open ``(y0, x0, y1, x1)``.
        targets: ``[N]`` classes to explain (labels or the model's predictions).
        scores: ``{selector: [c] or [N, c]}`` (:func:`selection_scores`).
        ks: numbers of filters kept (each in ``1..c``).
        key: random subsets' key (one draw per image and k).
        n_random: random subsets per k (their metrics are averaged per image); 0: no ``random`` selector (a
            caller with its own random draws passes them in ``scores``).
        methods: CAM methods (``sj.explain.METHODS``).
        prob_fn: ``images [B, H, W, C] -> probabilities [B, K]``; with it, deletion and insertion AUC
            (black baseline) for the ks in ``curve_ks`` and the ``all`` map.
        curve_selectors: the selectors that get curves (None: every one); each curve costs ``2 (curve_steps
            + 1)`` forward passes per image and subset.
        curve_steps: steps of the deletion / insertion curves.
        curve_key: breaks ties of equal saliency in the curves (``metrics.deletion_insertion``); None: drawn
            from ``key``.
        batch_size: images per gradient step and per ``prob_fn`` call.

    Returns:
        ``{"method|selector|k|metric": [N]}``.
    """
    x = np.asarray(images, np.float32)
    n, size = x.shape[0], x.shape[1:3]
    b = np.asarray(boxes)
    y = np.asarray(targets)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"targets must be {n} integers, got {y.dtype} of shape {y.shape}")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be an integer >= 0, got {n_random!r}")
    c = tap.layer_shape[-1]
    for k in (*ks, *curve_ks):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= c:
            raise ValueError(f"ks and curve_ks must be integers in 1..{c} (the layer's filters), got {k!r}")
    if not set(curve_ks) <= set(ks):
        raise ValueError(f"curve_ks {tuple(curve_ks)} must be a subset of ks {tuple(ks)}")
    for name, s in scores.items():
        if np.shape(s) not in ((c,), (n, c)):
            raise ValueError(f"scores[{name!r}] must have shape [{c}] or [{n}, {c}], got {np.shape(s)}")
    a, g, _ = C.layer_gradients(tap, x, y, batch_size=batch_size)
    out: dict[str, np.ndarray] = {}
    curves = []
    subsets = list(_subsets(scores, c, ks, n_random, key, n))  # the same masks for every method
    for method in methods:
        for sel, k, draws in subsets:
            vals: dict[str, list] = {m: [] for m in BOX_METRICS}
            for mask in draws:
                maps = C.upsample(C.cam_batch(a, g, method, mask), size)
                loc = M.localisation(maps, b)
                vals["energy_in_box"].append(np.asarray(M.energy_in_box(maps, b)))
                vals["concentration"].append(np.asarray(M.energy_concentration(maps)))
                vals["localisation"].append(np.asarray(loc["correct"], np.float64))
                vals["iou"].append(np.asarray(loc["iou"], np.float64))
                if prob_fn is not None and (sel == "all" or (k in curve_ks and (
                        curve_selectors is None or sel in curve_selectors))):
                    curves.append((f"{method}|{sel}|{k}", len(draws), maps))
            for m, v in vals.items():
                out[f"{method}|{sel}|{k}|{m}"] = np.mean(v, axis=0)
    if curves:
        di = M.deletion_insertion(prob_fn, np.concatenate([x] * len(curves)),
                                  jnp.concatenate([m for *_, m in curves]), np.tile(y, len(curves)),
                                  steps=curve_steps, batch_size=batch_size,
                                  key=jax.random.fold_in(key, 2**31 - 1) if curve_key is None else curve_key)
        for i, (name, n_draws, _) in enumerate(curves):
            for m in CURVE_METRICS:
                key_m = f"{name}|{m}"
                out[key_m] = out.get(key_m, 0.0) + di[m][i * n:(i + 1) * n] / n_draws
    return out


def _interval(d: np.ndarray) -> tuple[float, float]:
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return mean, se


def summarize(values: dict[str, np.ndarray], *, alpha: float = 0.05, margin: float | None = None,
              correction: str = "holm") -> tuple[list[dict], list[dict]]:
    """Table of means over images and each selector's paired difference from random, with its verdict.

    Args:
        values: ``{"method|selector|k|metric": [N]}`` (:func:`evaluate_selections`, chunks concatenated).
        alpha, margin, correction: the verdict rule's level, equivalence margin (in the metric's units; None: no
            "matches") and correction over each family (``FAMILY``; ``stats.verdict_table``).

    Returns:
        ``(table, versus_random)``: rows ``{method, selector, k, n_images, <metric>, <metric>_se}``, and rows
        ``{method, selector, k, metric, minus_random, se, n_images}`` with the fields of ``stats.paired_verdict``
        (paired over images; ``"beats"`` / ``"loses"`` / ``"matches"`` / ``"inconclusive"``, deletion AUC lower is
        better; with one image no test is possible: ``"inconclusive"``).
    """
    groups: dict[tuple, dict[str, np.ndarray]] = {}
    for name, v in values.items():
        method, sel, k, metric = name.split("|")
        groups.setdefault((method, sel, int(k)), {})[metric] = np.asarray(v, np.float64)
    table, versus, families = [], [], {}
    for (method, sel, k), ms in groups.items():
        row = {"method": method, "selector": sel, "k": k, "n_images": len(next(iter(ms.values())))}
        for m, v in ms.items():
            row[m], row[f"{m}_se"] = _interval(v)
        table.append(row)
        rnd = groups.get((method, "random", k))
        if sel in ("all", "random") or rnd is None:
            continue
        for m, v in ms.items():
            if m in rnd:
                mean, se = _interval(v - rnd[m])
                versus.append({"method": method, "selector": sel, "k": k, "metric": m, "minus_random": mean,
                               "se": se, "n_images": len(v)})
                if len(v) > 1:
                    families.setdefault((method, m), {})[(sel, k)] = (v, rnd[m])
    verdicts = {(method, m): verdict_table(pairs, alpha=alpha, margin=margin, correction=correction,
                                           higher_is_better=m not in LOWER_IS_BETTER)["comparisons"]
                for (method, m), pairs in families.items()}
    for row in versus:
        family = verdicts.get((row["method"], row["metric"]), {})
        row.update(family.get((row["selector"], row["k"]), {"verdict": "inconclusive"}))
    return table, versus
