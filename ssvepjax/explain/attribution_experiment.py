"""Does tag attribution find the informative part? Two tasks with a known answer, and a pruning ground truth.

:func:`run_attribution` trains (or restores) a small CIFAR ResNet per seed on each task and compares the part
attributions of ``part_baselines.part_attributions`` on test images, for the true class's logit:

- ``"two_part"``: ``pruning.ground_truth.two_part_dataset`` (the class digit in the left half, a digit of
  another class in the right); parts are the halves, the informative part is the left one.
- ``"canvas"``: ``data.canvas.canvas_dataset`` (one digit among clutter fragments); parts are the quadrants,
  the informative part is the quadrant that holds most of the digit's box.

Tag attribution runs twice: at the library's default contrast range (gain 0.5..1, ``"tag"``) and over the full
range (gain 0..1, ``"tag_full_contrast"``, whose trough occludes the part as occlusion does). Per method: top-part
accuracy (the part with the largest attribution is the informative one), agreement of
its top part with every other method's, the Spearman correlation of its values with every other method's
(pooled over images and parts, and per image across parts for four parts), and its cost (forward and
backward passes per image, measured seconds per image).

:func:`run_filter_ground_truth` prunes the two-part model by each filter score of ``scores.importance``
(``"tag_decision"`` against Taylor, L1, random and the harmonic tag score), lowest first at each fraction,
re-estimates batch norm, and measures test accuracy. :func:`summarize_attribution` gives means, standard
deviations over seeds and paired differences over seeds with a paired t-test (scipy's ``ttest_rel``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
from scipy import stats

from ssvepjax.data.canvas import CanvasConfig, canvas_dataset
from ssvepjax.data.datasets import load_dataset
from ssvepjax.explain.attribution import attribution_tags
from ssvepjax.explain.part_baselines import PART_METHODS, part_attributions
from ssvepjax.models.cifar_resnet import ModelConfig
from ssvepjax.pruning.finetune import accuracy, recalibrate_bn
from ssvepjax.pruning.ground_truth import two_part_dataset
from ssvepjax.pruning.structure import apply_masks, keep_masks, removed_filters
from ssvepjax.report.io import write_json
from ssvepjax.scores.registry import importance
from ssvepjax.tagging.masks import halves, quadrants
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["TASKS", "AttributionConfig", "informative_quadrant", "run_attribution", "run_filter_ground_truth",
           "summarize_attribution"]

#: The attribution experiment's tasks: two image halves, or the boxed digit on a canvas of quadrants.
TASKS = ("two_part", "canvas")
FILTER_METHODS = ("tag_decision", "taylor", "l1", "random", "tag_harmonic")
_METHODS = PART_METHODS + ("tag_full_contrast",)
TAG_VARIANTS = ("tag", "tag_full_contrast")


@dataclasses.dataclass(frozen=True)
class AttributionConfig:
    """Settings of the attribution evaluation (static).

    Attributes:
        dataset: digits (``sj.load_dataset`` name).
        model, train: the network trained per task and seed.
        seeds: one dataset draw and one model per seed.
        canvas: the boxed-digit task's settings.
        eval_images: test images attributed per task and seed.
        ig_steps: integrated-gradients steps.
        batch_size: images per attribution call.
        filter_methods: the filter scores of the pruning ground truth.
        fractions: shares of filters removed in every budget set.
        score_images, recal_images: training images that the filter scores read, and that re-estimate batch norm.
        max_train, max_test: dataset limits.
    """

    dataset: str = "mnist5k"
    model: ModelConfig = ModelConfig(depth=8, width=8)
    train: TrainConfig = TrainConfig(epochs=5, batch_size=32)
    seeds: tuple[int, ...] = (0, 1, 2)
    canvas: CanvasConfig = CanvasConfig(size=48, n_fragments=4, fragment_size=10)
    eval_images: int = 40
    ig_steps: int = 16
    batch_size: int = 8
    filter_methods: tuple[str, ...] = FILTER_METHODS
    fractions: tuple[float, ...] = (0.25, 0.5)
    score_images: int = 16
    recal_images: int = 256
    max_train: int | None = None
    max_test: int | None = 400

    @staticmethod
    def quick() -> AttributionConfig:
        """CI size: a ResNet-8 of width 4 trained one epoch on 300 images, two seeds, 4 images."""
        return AttributionConfig(model=ModelConfig(depth=8, width=4), train=TrainConfig(epochs=1, batch_size=32),
                                 seeds=(0, 1), canvas=CanvasConfig(size=32, n_fragments=2, fragment_size=8),
                                 eval_images=4, ig_steps=2, batch_size=4, fractions=(0.5,), score_images=2,
                                 filter_methods=("tag_decision", "taylor", "random"),
                                 recal_images=32, max_train=300, max_test=40)


def informative_quadrant(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the quadrant (as ``sj.quadrants``) holding most of each box ``(y0, x0, y1, x1)``, and that share."""
    q = quadrants(size, size)
    areas = np.zeros((len(boxes), 4))
    for i, (y0, x0, y1, x1) in enumerate(np.asarray(boxes)):
        box = np.zeros((size, size), bool)
        box[y0:y1, x0:x1] = True
        areas[i] = (q & box).sum((1, 2))
    return areas.argmax(1), areas.max(1) / np.maximum(areas.sum(1), 1)


def _task(config: AttributionConfig, task: str, seed: int):
    """``(dataset, masks, informative part per test image [N])``."""
    source = load_dataset(config.dataset, max_train=config.max_train, max_test=config.max_test)
    if task == "two_part":
        data = two_part_dataset(source, seed=seed)
        h, w = data.image_shape[:2]
        return data, halves(h, w), np.zeros(len(data.test_images), np.int64), np.ones(len(data.test_images))
    if task == "canvas":
        cd = canvas_dataset(source, config.canvas, seed=seed)
        gt, share = informative_quadrant(cd.test_boxes, config.canvas.size)
        return cd.dataset, quadrants(config.canvas.size, config.canvas.size), gt, share
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def _evaluate(res: dict, gt: np.ndarray) -> dict:
    """Top-part accuracy, agreement and rank correlations between methods, costs per image."""
    n = len(gt)
    out = {}
    for m, r in res.items():
        v = r["values"]
        top = v.argmax(1)
        row = {"top_part_accuracy": float((top == gt).mean()), "forward_passes": r["forward_passes"],
               "backward_passes": r["backward_passes"], "seconds_per_image": r["seconds"] / n}
        for o, ro in res.items():
            if o == m:
                continue
            w = ro["values"]
            row[f"top_agreement_{o}"] = float((top == w.argmax(1)).mean())
            row[f"spearman_pooled_{o}"] = _spearman(v.ravel(), w.ravel())
            if v.shape[1] > 2:
                row[f"spearman_per_image_{o}"] = float(np.nanmean([_spearman(v[i], w[i]) for i in range(n)]))
        if "attribution" in r:
            row["im_share_mean"] = float(np.mean(r["attribution"].im_share))
        out[m] = row
    return out


def run_attribution(config: AttributionConfig, out_dir, *, tasks=TASKS, progress: bool = False) -> dict:
    """Every task and seed (resumable: one JSON per task and seed in ``out_dir``); returns the per-run records."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for task in tasks:
        for seed in config.seeds:
            path = out / f"{task}_s{seed}.json"
            old = json.loads(path.read_text()) if path.exists() else None
            if old is not None and set(_METHODS) <= set(old["methods"]):
                records.append(old)
                continue
            data, masks, gt, share = _task(config, task, seed)
            t0 = time.perf_counter()
            tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=progress)
            train_s = time.perf_counter() - t0
            model, v = tm.module, tm.variables
            idx = np.random.default_rng([seed, 7]).choice(len(data.test_images),
                                                          min(config.eval_images, len(data.test_images)), False)
            x, y = data.test_images[idx], data.test_labels[idx]
            fn = jax.jit(lambda xb, model=model, v=v: model.apply(v, xb, train=False))
            res = part_attributions(PART_METHODS, fn, x, masks, y, steps=config.ig_steps,
                                    batch_size=config.batch_size)
            # The same tags over the full contrast range (gain 0..1: at its trough the part is occluded).
            full = dataclasses.replace(attribution_tags(len(masks)), min_gain=0.0)
            res["tag_full_contrast"] = part_attributions(("tag",), fn, x, masks, y, tags=full,
                                                         batch_size=config.batch_size)["tag"]
            rec = {"task": task, "seed": seed, "n_images": len(x), "n_parts": int(len(masks)),
                   "test_accuracy": accuracy(model, v, data.test_images, data.test_labels), "train_s": train_s,
                   "informative_share_mean": float(np.mean(share[idx])), "methods": _evaluate(res, gt[idx]),
                   "example": {"image": x[0, ..., 0], "label": int(y[0]), "informative": int(gt[idx][0]),
                               **{m: res[m]["values"][0] for m in res}}}
            if old is not None and "pruning" in old:  # an earlier run's pruning stays valid
                rec["pruning"] = old["pruning"]
            elif task == "two_part" and config.filter_methods:
                rec["pruning"] = run_filter_ground_truth(config, model, v, data, seed)
            write_json(path, rec)
            records.append(rec)
    return records


def run_filter_ground_truth(config: AttributionConfig, model, variables, data, seed: int) -> dict:
    """``{method: {fraction: {"recal": accuracy, "filters_removed": n}}}`` plus ``"score_s"`` per method."""
    rng = np.random.default_rng([seed, 1])
    idx = rng.choice(len(data.train_images), config.score_images, replace=False)
    recal_x = data.train_images[np.random.default_rng([seed, 2]).choice(len(data.train_images),
                                                                          config.recal_images, replace=False)]
    out = {}
    for m in config.filter_methods:
        t0 = time.perf_counter()
        scores = importance(m, model, variables, data.train_images[idx], data.train_labels[idx], seed=seed)
        row = {"score_s": time.perf_counter() - t0}
        for f in config.fractions:
            keep = keep_masks(scores, model, f)
            masked = recalibrate_bn(model, apply_masks(variables, keep, model), recal_x)
            row[f"{f:.2f}"] = {"recal": accuracy(model, masked, data.test_images, data.test_labels),
                               "filters_removed": removed_filters(keep, model)}
        out[m] = row
    return out


def _paired(a: list[float], b: list[float]) -> dict:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    row = {"diff_mean": float(d.mean()), "diff_std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
           "diff_per_seed": d.tolist(), "n_seeds": len(d)}
    if len(d) > 1 and d.std() > 0:
        t = stats.ttest_rel(a, b)
        row["t"], row["p"] = float(t.statistic), float(t.pvalue)
    else:
        row["t"], row["p"] = None, None
    row["verdict"] = ("inconclusive" if row["p"] is None or row["p"] >= 0.05 else
                      ("better" if d.mean() > 0 else "worse"))
    return row


def summarize_attribution(config: AttributionConfig, records: list[dict], path=None) -> dict:
    """Means, spreads and paired differences (tag against each method) over seeds; writes ``path`` (JSON)."""
    summary: dict = {"config": dataclasses.asdict(config), "tasks": {}, "pruning": {},
                     "test": "paired t-test over seeds (scipy.stats.ttest_rel), two-sided, p < 0.05"}
    for task in sorted({r["task"] for r in records}):
        rs = sorted((r for r in records if r["task"] == task), key=lambda r: r["seed"])
        methods = list(rs[0]["methods"])
        table = {}
        for m in methods:
            keys = [k for k in rs[0]["methods"][m] if isinstance(rs[0]["methods"][m][k], (int, float))]
            table[m] = {}
            for k in keys:
                vals = np.array([r["methods"][m].get(k, np.nan) for r in rs], np.float64)
                table[m][k] = {"mean": float(np.nanmean(vals)),
                               "std": float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else 0.0,
                               "per_seed": vals.tolist()}
        paired = {f"{t}-{m}": _paired([r["methods"][t]["top_part_accuracy"] for r in rs],
                                      [r["methods"][m]["top_part_accuracy"] for r in rs])
                  for t in TAG_VARIANTS if t in methods for m in methods if m not in TAG_VARIANTS}
        summary["tasks"][task] = {"n_seeds": len(rs), "n_parts": rs[0]["n_parts"],
                                  "images_per_seed": rs[0]["n_images"],
                                  "test_accuracy": [r["test_accuracy"] for r in rs],
                                  "informative_share_mean": float(np.mean([r["informative_share_mean"] for r in rs])),
                                  "methods": table, "tag_minus_method_top_part_accuracy": paired}
        prs = [r for r in rs if "pruning" in r]
        if prs:
            ms = list(prs[0]["pruning"])
            fr = [k for k in prs[0]["pruning"][ms[0]] if k != "score_s"]
            acc = {m: {f: [r["pruning"][m][f]["recal"] for r in prs] for f in fr} for m in ms}
            summary["pruning"] = {
                "accuracy": {m: {f: {"mean": float(np.mean(a)), "std": float(np.std(a, ddof=1)) if len(a) > 1
                                     else 0.0, "per_seed": a} for f, a in acc[m].items()} for m in ms},
                "score_seconds": {m: float(np.mean([r["pruning"][m]["score_s"] for r in prs])) for m in ms},
                "tag_decision_minus": {b: {f: _paired(acc["tag_decision"][f], acc[b][f]) for f in fr}
                                       for b in ms if b != "tag_decision"} if "tag_decision" in ms else {},
            }
    if path is not None:
        write_json(path, summary)
    return summary
