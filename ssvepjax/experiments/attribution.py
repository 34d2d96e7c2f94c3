"""Experiment 11: does tag attribution find the informative part? Two tasks with a known answer, and a pruning
ground truth.

:func:`run` trains (or restores) a small CIFAR ResNet per seed on each task and compares the part attributions of
``explain.part_attributions`` on test images, for the true class's logit:

- ``"two_part"``: ``pruning.ground_truth.two_part_dataset`` (the class digit in the left half, a digit of another
  class in the right); parts are the halves, the informative part is the left one.
- ``"canvas"``: ``data.canvas.canvas_dataset`` (one digit among clutter fragments); parts are the quadrants, the
  informative part is the quadrant that holds most of the digit's box (:func:`informative_quadrant`).

Tag attribution runs twice: at the library's default contrast range (gain 0.5..1, ``"tag"``) and over the full range
(gain 0..1, ``"tag_full_contrast"``, whose trough occludes the part as occlusion does). Per method: top-part accuracy
(the part with the largest attribution is the informative one), agreement of its top part with every other
method's, the Spearman correlation of its values with every other method's (pooled over images and parts, and per
image across parts for four parts), and its cost (forward and backward passes per image, measured seconds per image).

:func:`run_filter_ground_truth` prunes the two-part model by each filter score of ``scores.importance``
(``"tag_decision"`` against Taylor, L1, random and the harmonic tag score), lowest first at each fraction,
re-estimates batch norm, and measures test accuracy. :func:`summarize` gives means, standard deviations over seeds
and paired differences over seeds with the project's verdict (``stats.verdicts``: paired t-test, Holm-corrected
within each task's comparisons and within the pruning comparisons; "matches" within ``margin``).

Writes ``attribution.json``, ``attribution.png`` (top-part accuracy against cost, pruning accuracy) and
``attribution_two_part.png`` / ``attribution_canvas.png`` (one example per task); each task and seed is a step of
the store (``steps/``), so a rerun resumes after the last finished one.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
from scipy import stats

from ssvepjax.data.canvas import CanvasConfig, canvas_dataset
from ssvepjax.data.datasets import load_dataset
from ssvepjax.experiments.seed_verdicts import VerdictConfig, condition_verdicts, verdict_settings
from ssvepjax.experiments.store import Store
from ssvepjax.explain.attribution import attribution_tags
from ssvepjax.explain.part_baselines import PART_METHODS, part_attributions
from ssvepjax.models.cifar_resnet import ModelConfig
from ssvepjax.pruning.ground_truth import two_part_dataset
from ssvepjax.pruning.retraining import accuracy, recalibrate_bn
from ssvepjax.pruning.structure import apply_masks, keep_masks, removed_filters
from ssvepjax.report import plots
from ssvepjax.scores.registry import importance
from ssvepjax.tagging.masks import halves, quadrants
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["FILTER_METHODS", "TASKS", "TAG_VARIANTS", "Config", "informative_quadrant", "report", "run",
           "run_filter_ground_truth", "run_task", "seed_comparisons", "summarize"]

#: The attribution experiment's tasks: two image halves, or the boxed digit on a canvas of quadrants.
TASKS = ("two_part", "canvas")
#: The filter scores of the pruning ground truth (``scores.importance`` names).
FILTER_METHODS = ("tag_decision", "taylor", "l1", "random", "tag_harmonic")
#: The tag attributions compared with every other method.
TAG_VARIANTS = ("tag", "tag_full_contrast")


@dataclasses.dataclass(frozen=True)
class Config(VerdictConfig):
    """Settings of the attribution evaluation (``QUICK``: the CI size, a ResNet-8 of width 4 trained one epoch on 300
    images, two seeds, 4 images; about 2 minutes).

    Attributes:
        dataset: digits (``load_dataset`` name).
        model, train: the network trained per task and seed.
        seeds: one dataset draw and one model per seed (at least two: the comparisons are paired over seeds).
        tasks: the tasks run (:data:`TASKS`).
        canvas: the boxed-digit task's settings.
        eval_images: test images attributed per task and seed.
        ig_steps: integrated-gradients steps.
        batch_size: images per attribution call.
        filter_methods: the filter scores of the pruning ground truth (empty: no pruning).
        fractions: shares of filters removed in every budget set.
        score_images, recal_images: training images that the filter scores read, and that re-estimate batch norm.
        max_train, max_test: dataset limits.
        alpha, margin, correction: the verdict rule's level, equivalence margin (accuracy units: 0.02, less than one
            image of the default 40) and correction (:class:`~ssvepjax.experiments.seed_verdicts.VerdictConfig`).
    """

    QUICK = dict(model=ModelConfig(depth=8, width=4), train=TrainConfig(epochs=1, batch_size=32), seeds=(0, 1),
                 canvas=CanvasConfig(size=32, n_fragments=2, fragment_size=8), eval_images=4, ig_steps=2,
                 batch_size=4, fractions=(0.5,), score_images=2, filter_methods=("tag_decision", "taylor", "random"),
                 recal_images=32, max_train=300, max_test=40)

    dataset: str = "mnist5k"
    model: ModelConfig = ModelConfig(depth=8, width=8)
    train: TrainConfig = TrainConfig(epochs=5, batch_size=32)
    tasks: tuple[str, ...] = TASKS
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
    margin: float = 0.02

    def __post_init__(self):
        super().__post_init__()
        bad = set(self.tasks) - set(TASKS)
        if bad or not self.tasks:
            raise ValueError(f"tasks must be some of {TASKS}, got {self.tasks!r}")


def informative_quadrant(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the quadrant (as ``sj.quadrants``) holding most of each box ``(y0, x0, y1, x1)``, and that share."""
    q = quadrants(size, size)
    areas = np.zeros((len(boxes), 4))
    for i, (y0, x0, y1, x1) in enumerate(np.asarray(boxes)):
        box = np.zeros((size, size), bool)
        box[y0:y1, x0:x1] = True
        areas[i] = (q & box).sum((1, 2))
    return areas.argmax(1), areas.max(1) / np.maximum(areas.sum(1), 1)


def _task(config: Config, task: str, seed: int):
    """``(dataset, masks, informative part per test image [N], its share of the box [N])``."""
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


def run_task(config: Config, task: str, seed: int) -> dict:
    """One task and seed: train (or restore) its model, attribute its test images, prune it (two-part task)."""
    data, masks, gt, share = _task(config, task, seed)
    t0 = time.perf_counter()
    tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=config.progress)
    train_s = time.perf_counter() - t0
    model, v = tm.module, tm.variables
    idx = np.random.default_rng([seed, 7]).choice(len(data.test_images),
                                                  min(config.eval_images, len(data.test_images)), False)
    x, y = data.test_images[idx], data.test_labels[idx]
    fn = jax.jit(lambda xb: model.apply(v, xb, train=False))
    res = part_attributions(PART_METHODS, fn, x, masks, y, steps=config.ig_steps, batch_size=config.batch_size)
    # The same tags over the full contrast range (gain 0..1: at its trough the part is occluded).
    full = dataclasses.replace(attribution_tags(len(masks)), min_gain=0.0)
    res["tag_full_contrast"] = part_attributions(("tag",), fn, x, masks, y, tags=full,
                                                 batch_size=config.batch_size)["tag"]
    rec = {"task": task, "seed": seed, "n_images": len(x), "n_parts": int(len(masks)),
           "test_accuracy": accuracy(model, v, data.test_images, data.test_labels), "train_s": train_s,
           "informative_share_mean": float(np.mean(share[idx])), "methods": _evaluate(res, gt[idx]),
           "example": {"image": x[0, ..., 0], "label": int(y[0]), "informative": int(gt[idx][0]),
                       **{m: res[m]["values"][0] for m in res}}}
    if task == "two_part" and config.filter_methods:
        rec["pruning"] = run_filter_ground_truth(config, model, v, data, seed)
    return rec


def run_filter_ground_truth(config: Config, model, variables, data, seed: int) -> dict:
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


def seed_comparisons(pairs: dict, config: Config, family: str) -> tuple[dict, dict]:
    """One family of comparisons paired over seeds, ``{name: ({seed: value}, {seed: reference})}``: ``({name: row},
    the family's rule and tally)``; a row holds the differences (``diff_mean``, ``diff_std``, ``diff_per_seed`` in
    seed order, ``n_seeds``) and the fields of ``stats.paired_verdict``, its p Holm-corrected over the family
    (``seed_verdicts.condition_verdicts``)."""
    verdicts, rules = condition_verdicts({family: pairs}, config)
    out = {}
    for name, (a, b) in pairs.items():
        d = np.array([a[s] - b[s] for s in sorted(set(a) & set(b))], np.float64)
        out[name] = {"diff_mean": float(d.mean()), "diff_std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                     "diff_per_seed": d.tolist(), "n_seeds": len(d), **verdicts.get(name, {})}
    return out, rules.get(family, {})


def summarize(config: Config, records: list[dict]) -> dict:
    """Means, spreads and paired differences (tag against each method; ``tag_decision`` against each filter score)
    over seeds, with their verdicts: one family per task, and one for the pruning comparisons."""
    summary: dict = {"tasks": {}, "pruning": {}}
    rules = {}
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
        top = {m: {r["seed"]: r["methods"][m]["top_part_accuracy"] for r in rs} for m in methods}
        paired, rules[task] = seed_comparisons({f"{t}-{m}": (top[t], top[m]) for t in TAG_VARIANTS if t in methods
                                                for m in methods if m not in TAG_VARIANTS}, config, task)
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
            by_seed = {m: {f: {r["seed"]: r["pruning"][m][f]["recal"] for r in prs} for f in fr} for m in ms}
            pairs = {(b, f): (by_seed["tag_decision"][f], by_seed[b][f]) for b in ms if b != "tag_decision"
                     for f in fr if "tag_decision" in ms}
            versus, rules["pruning"] = seed_comparisons(pairs, config, "pruning")
            summary["pruning"] = {
                "accuracy": {m: {f: {"mean": float(np.mean(a)), "std": float(np.std(a, ddof=1)) if len(a) > 1
                                     else 0.0, "per_seed": a} for f, a in acc[m].items()} for m in ms},
                "score_seconds": {m: float(np.mean([r["pruning"][m]["score_s"] for r in prs])) for m in ms},
                "tag_decision_minus": {b: {f: versus[(b, f)] for f in fr} for b in ms if b != "tag_decision"}
                if pairs else {},
            }
    summary["verdict_rule"] = verdict_settings(
        config, {k: v for k, v in rules.items() if v}, values="top-part accuracy of a tag attribution against "
        "another method (per task), and test accuracy after pruning by tag_decision against another score, paired "
        "by seed (the same trained model)", family="one per task (its tag-against-method comparisons), and one for "
        "the pruning comparisons (tag_decision against every other score at every fraction)")
    return summary


def run(config: Config, store: Store) -> dict:
    """Every task and seed (each a resumable step of ``store``), the summary and the figures."""
    key = config.piece_key()
    records = [store.step(f"{task}_s{seed}_{key}", lambda task=task, seed=seed: run_task(config, task, seed))
               for task in config.tasks for seed in config.seeds]
    summary = summarize(config, records)
    figures = {"summary": plots.plot_attribution_summary(summary, str(store.path("attribution.png")))}
    for task in config.tasks:
        rec = next(r for r in records if r["task"] == task)
        ex = rec["example"]
        h, w = np.shape(ex["image"])
        masks = halves(h, w) if task == "two_part" else quadrants(h, w)
        shown = {m: ex[m] for m in (*PART_METHODS, "tag_full_contrast") if m in ex}
        figures[task] = plots.plot_part_attribution(
            ex["image"], masks, shown, str(store.path(f"attribution_{task}.png")), informative=ex["informative"],
            title=f"{task.replace('_', ' ')}: label {ex['label']}, attribution of its logit (seed {rec['seed']})")
    return store.write({"experiment": "attribution", **summary,
                        "figures": {k: str(v).rsplit("/", 1)[-1] for k, v in figures.items()}})


def report(result: dict) -> str:
    """Top-part accuracy per task and method, and the verdicts of the tag attributions and of ``tag_decision``."""
    lines = []
    for task, t in result["tasks"].items():
        accs = ", ".join(f"{m} {row['top_part_accuracy']['mean']:.3f}" for m, row in t["methods"].items())
        verdicts = ", ".join(f"{k} {v['verdict']}" for k, v in t["tag_minus_method_top_part_accuracy"].items())
        lines += [f"{task} ({t['n_seeds']} seeds): top-part accuracy {accs}", f"  tag against method: {verdicts}"]
    for b, by_f in (result.get("pruning") or {}).get("tag_decision_minus", {}).items():
        lines.append(f"pruning, tag_decision against {b}: " + ", ".join(f"{f} {v['verdict']}" for f, v in by_f.items()))
    v = result["verdict_rule"]
    lines.append(f"verdicts paired over {v['n_seeds']} seeds: alpha {v['alpha']}, margin {v['margin']}, "
                 f"{v['correction']} within each family ({v['family']})")
    return "\n".join(lines)
