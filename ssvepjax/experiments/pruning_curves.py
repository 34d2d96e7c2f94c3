"""Experiment 7a: pruning curves, accuracy against filters and FLOPs removed, every score, over seeds
(``experiments/pruning_curves.py``).

Prunes a trained CIFAR ResNet at every fraction of :class:`Config` with every method of ``scores.importance`` and
records three accuracies per configuration:

- ``oneshot``: the masked network as it is (``pruning.apply_masks``; equal to the smaller network);
- ``recal``: the same with batch-norm statistics re-estimated on training images (no weight change);
- ``finetuned`` (at ``finetune_fractions`` only): the physically smaller network (``pruning.prune``) after
  ``FinetuneConfig.steps`` optax steps, with its measured forward time.

A seed sets the trained model (``TrainConfig.seed``; seed 0 is the library's default cached model), the images the
scores see, the random baseline and the fine-tuning order. Every configuration is a store piece (``s<seed>_<method>
_f<fraction>``), the scores of a seed an array file (``scores_s<seed>``), so a killed run resumes where it stopped.
The summary holds a table (mean, spread over seeds), the verdict of every tag method against every baseline at every
fraction (``stats.verdicts``: paired over seeds, Holm-corrected within each condition, "matches" within the
equivalence ``margin``), the published anchors and the timings.

Writes ``pruning_curves.json``, ``results.csv`` (the table), ``verdicts.csv`` and ``pruning_curves.png``.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from ssvepjax.data.datasets import load_dataset
from ssvepjax.experiments.seed_verdicts import VerdictConfig, condition_verdicts, verdict_settings
from ssvepjax.experiments.store import Store
from ssvepjax.models.cifar_resnet import ModelConfig
from ssvepjax.models.random_init import param_count
from ssvepjax.pruning.costs import compare_forward_times, flops, forward_time
from ssvepjax.pruning.retraining import FinetuneConfig, accuracy, finetune, predictions, recalibrate_bn
from ssvepjax.pruning.structure import apply_masks, keep_masks, prune, removed_filters
from ssvepjax.report import plots
from ssvepjax.scores.registry import BASELINES, importance, methods
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["ANCHORS", "CONDITIONS", "Config", "report", "run", "summarize"]

#: When a pruned network is evaluated: one-shot, after batch-norm recalibration, after fine-tuning.
CONDITIONS = ("oneshot", "recal", "finetuned")
_TAG_CURVE_METHODS = ("tag_harmonic", "tag_intermodulation", "tag_significant")

#: Published pruning results on CIFAR-10 ResNet-56, shown beside the curves for scale.
ANCHORS = (
    {"source": "Li et al. 2017 (L1, arXiv 1608.08710)", "model": "ResNet-56", "dataset": "CIFAR-10",
     "flops_removed": 0.276, "accuracy_change_points": 0.02, "note": "error 6.94% vs 6.96%, after retraining"},
    {"source": "Lin et al. 2020 (HRank)", "model": "ResNet-56", "dataset": "CIFAR-10",
     "flops_removed": 0.50, "accuracy_change_points": -0.09, "note": "93.17% vs 93.26%, after fine-tuning"},
)


@dataclasses.dataclass(frozen=True)
class Config(VerdictConfig):
    """Settings of the pruning-curve experiment (``--quick``: a ResNet-8 trained one epoch on 1,000 images, five
    methods, two seeds, two fractions).

    Attributes:
        dataset: ``sj.load_dataset`` name.
        model: the network.
        train: its training (``seed`` is replaced by each seed).
        seeds: one trained model per seed (at least two: the verdicts are paired over seeds).
        methods: ``scores.importance`` methods; those whose name starts with ``tag`` are compared with the others.
        fractions: shares removed in every budget set (``pruning.keep_masks``).
        finetune_fractions: the fractions that are also fine-tuned (a subset of ``fractions``).
        finetune_methods: the methods that are fine-tuned (None: all).
        finetune: fine-tuning settings (``seed`` is replaced by each seed).
        tag_images: training images the tag methods probe.
        data_images: training images of the data-dependent baselines (the tag images are among them).
        recal_images: training images for batch-norm recalibration.
        budget: as in ``pruning.keep_masks``.
        policy: as in ``pruning.keep_masks``.
        max_train: training images kept (None: all).
        max_test: test images kept (None: all).
        time_batch: batch size of the forward-time measurement.

    The verdicts' level, equivalence margin (in accuracy) and correction are :class:`VerdictConfig`'s fields.
    """

    QUICK: ClassVar[dict[str, Any]] = {
        "model": ModelConfig(depth=8, width=8), "train": TrainConfig(epochs=1, batch_size=32), "seeds": (0, 1),
        "methods": ("tag_harmonic", "tag_intermodulation", "random", "l1", "taylor"),
        "fractions": (0.2, 0.5), "finetune_fractions": (0.5,), "finetune": FinetuneConfig(steps=5),
        "finetune_methods": ("tag_harmonic", "random"), "tag_images": 4, "data_images": 32, "recal_images": 64,
        "max_train": 1000, "max_test": 100, "time_batch": 32}

    dataset: str = "mnist5k"
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = _TAG_CURVE_METHODS + BASELINES
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
    finetune_fractions: tuple[float, ...] = (0.3, 0.5)
    finetune_methods: tuple[str, ...] | None = None
    finetune: FinetuneConfig = FinetuneConfig(steps=40)
    tag_images: int = 32
    data_images: int = 256
    recal_images: int = 256
    budget: str = "layer"
    policy: str = "grouped"
    max_train: int | None = None
    max_test: int | None = None
    time_batch: int = 256

    def __post_init__(self):
        super().__post_init__()
        unknown = [m for m in self.methods if m not in methods()]
        if unknown or not self.methods:
            raise ValueError(f"methods must be among {', '.join(methods())}, got {list(self.methods)}")
        missing = [f for f in self.finetune_fractions if f not in self.fractions]
        if missing:
            raise ValueError(f"finetune_fractions {missing} must be among fractions {self.fractions}")
        if self.tag_images > self.data_images:
            raise ValueError(f"tag_images ({self.tag_images}) must be <= data_images ({self.data_images})")


def _key(seed: int, method: str, fraction: float) -> str:
    return f"s{seed}_{method}_f{fraction:.2f}"


def _subset(n: int, k: int, seed: int, salt: int) -> np.ndarray:
    return np.random.default_rng([seed, salt]).choice(n, size=min(k, n), replace=False)


def run(config: Config, store: Store) -> dict:
    """Run (or resume) every configuration, summarise, draw the figure; returns the stored result."""
    data = load_dataset(config.dataset, max_train=config.max_train, max_test=config.max_test)
    shape = data.image_shape
    for seed in config.seeds:
        todo = [(m, f) for m in config.methods for f in config.fractions if not store.has(_key(seed, m, f))]
        if not todo and store.has(f"s{seed}_base"):
            continue
        t0 = time.perf_counter()
        tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=config.progress)
        model, v = tm.module, tm.variables
        if not store.has(f"s{seed}_base"):
            store.put(f"s{seed}_base", {
                "seed": seed, "accuracy": accuracy(model, v, data.test_images, data.test_labels),
                "params": param_count(model, shape), "flops": flops(model, shape),
                "forward_s": forward_time(model, v, shape, batch_size=config.time_batch, repeats=3),
                "train_s": time.perf_counter() - t0, "restored": tm.restored})
        base = store.get(f"s{seed}_base")
        scores = store.load_arrays(f"scores_s{seed}")
        if scores is None or set(config.methods) - set(scores):
            t1 = time.perf_counter()
            idx = _subset(len(data.train_images), config.data_images, seed, 1)
            tag = [m for m in config.methods if m.startswith("tag")]
            other = [m for m in config.methods if not m.startswith("tag")]
            scores = {}
            if tag:  # one probe serves every tag method
                scores.update(importance(tag, model, v, data.train_images[idx[:config.tag_images]]))
            if other:  # one pass of the image loop serves every data-dependent baseline
                scores.update(importance(other, model, v, data.train_images[idx], data.train_labels[idx], seed=seed))
            store.save_arrays(f"scores_s{seed}", scores)
            store.put(f"s{seed}_scores_time", {"seconds": time.perf_counter() - t1})
        recal_x = data.train_images[_subset(len(data.train_images), config.recal_images, seed, 2)]
        costs: dict[tuple, dict] = {}
        ft_opt = dataclasses.replace(config.finetune.optimizer, seed=seed)
        ft_cfg = dataclasses.replace(config.finetune, optimizer=ft_opt)
        for m, f in tqdm(todo, desc=f"prune seed {seed}", disable=not config.progress, leave=False):
            keep = keep_masks(scores[m], model, f, budget=config.budget, policy=config.policy)
            masked = apply_masks(v, keep, model)
            recal = recalibrate_bn(model, masked, recal_x)
            small, small_v = prune(model, recal, keep)
            widths = small.widths
            if widths not in costs:
                costs[widths] = {"params": param_count(small, shape), "flops": flops(small, shape)}
            rec = {
                "seed": seed, "method": m, "fraction": f, "filters_removed": removed_filters(keep, model),
                "params_removed": 1 - costs[widths]["params"] / base["params"],
                "flops_removed": 1 - costs[widths]["flops"] / base["flops"],
                "oneshot": accuracy(model, masked, data.test_images, data.test_labels),
                "recal": accuracy(model, recal, data.test_images, data.test_labels),
            }
            if f in config.finetune_fractions and (config.finetune_methods is None or m in config.finetune_methods):
                t2 = time.perf_counter()
                tuned = finetune(small, small_v, data.train_images, data.train_labels, ft_cfg)
                rec["finetuned"] = accuracy(small, tuned, data.test_images, data.test_labels)
                rec["finetune_s"] = time.perf_counter() - t2
                if "forward_s" not in costs[widths]:
                    costs[widths]["forward_s"] = forward_time(small, tuned, shape, batch_size=config.time_batch,
                                                              repeats=3)
                    # The smaller network computes what the masked one computes (tests check outputs);
                    # recorded once per width pattern as a check on the trained network.
                    rec["recal_physical"] = accuracy(small, small_v, data.test_images, data.test_labels)
                    rec["physical_agrees"] = float(np.mean(predictions(small, small_v, data.test_images)
                                                           == predictions(model, recal, data.test_images)))
                rec["forward_s"] = costs[widths]["forward_s"]
            store.put(_key(seed, m, f), rec)
    if not store.has("speed"):
        store.put("speed", _speed(config, data, store))
    summary = summarize(config, store)
    title = (f"ResNet-{config.model.depth} on {config.dataset}: accuracy against pruning "
             f"(mean +- std over {len(config.seeds)} seeds)")
    plots.plot_pruning_curves(summary, str(store.path("pruning_curves.png")), title=title)
    summary["figures"] = {"curves": "pruning_curves.png"}
    return store.write(summary, tables={"results": summary["table"], "verdicts": summary["verdicts"]})


def _speed(config: Config, data, store: Store) -> dict:
    """Forward time of the unpruned and the pruned networks of the first seed, timed in turns."""
    seed = config.seeds[0]
    tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=False)
    scores = store.load_arrays(f"scores_s{seed}")
    method = config.methods[0]
    pairs, rows = [(tm.module, tm.variables)], [{"fraction": 0.0}]
    for f in config.fractions:
        keep = keep_masks(scores[method], tm.module, f, budget=config.budget, policy=config.policy)
        small, small_v = prune(tm.module, tm.variables, keep)
        pairs.append((small, small_v))
        rows.append({"fraction": f, "filters_removed": removed_filters(keep, tm.module)})
    times = compare_forward_times(pairs, data.image_shape, batch_size=config.time_batch)
    for r, t, (m, _) in zip(rows, times, pairs):
        r.update({"forward_s": t, "speedup": times[0] / t, "flops": flops(m, data.image_shape),
                  "params": param_count(m, data.image_shape)})
    return {"seed": seed, "method": method, "batch_size": config.time_batch, "rows": rows}


def _paired_rows(acc: dict, tags, baselines, config: Config) -> tuple[list[dict], dict]:
    """Every tag method against every baseline, per condition and fraction, paired over seeds (same model); one
    family per condition. Each row keeps the spread of the differences (``diff_*``) beside the verdict's fields."""
    fractions = sorted({k[1] for k in acc})
    order = [(t, b, c, f) for t, b, c, f in itertools.product(tags, baselines, CONDITIONS, fractions)
             if (t, f, c) in acc and (b, f, c) in acc]
    families: dict[str, dict] = {}
    for t, b, c, f in order:
        families.setdefault(c, {})[(t, b, c, f)] = (acc[(t, f, c)], acc[(b, f, c)])
    verdicts, rules = condition_verdicts(families, config)
    rows = []
    for t, b, c, f in (k for k in order if k in verdicts):
        a, z = acc[(t, f, c)], acc[(b, f, c)]
        d = np.array([a[s] - z[s] for s in sorted(set(a) & set(z))])
        rows.append({"tag_method": t, "baseline": b, "condition": c, "fraction": f, "n_seeds": len(d),
                     "diff_mean": float(d.mean()), "diff_std": float(d.std(ddof=1)), "diff_min": float(d.min()),
                     "diff_max": float(d.max()), **verdicts[(t, b, c, f)]})
    return rows, rules


def summarize(config: Config, store: Store) -> dict:
    """Table (mean and spread over seeds), verdicts, anchors and timings from the stored pieces."""
    recs = [r for r in store.records() if "fraction" in r and r.get("method") in config.methods
            and r["fraction"] in config.fractions and r["seed"] in config.seeds]
    bases = {s: store.get(f"s{s}_base") for s in config.seeds if store.has(f"s{s}_base")}
    acc: dict[tuple, dict] = {}
    for r in recs:
        for c in CONDITIONS:
            if c in r:
                acc.setdefault((r["method"], r["fraction"], c), {})[r["seed"]] = r[c]
    table = []
    for m in config.methods:
        for f in config.fractions:
            rs = [r for r in recs if r["method"] == m and r["fraction"] == f]
            if not rs:
                continue
            for c in CONDITIONS:
                vals = np.array([r[c] for r in rs if c in r])
                if not len(vals):
                    continue
                row = {"method": m, "fraction": f, "condition": c, "n_seeds": len(vals),
                       "accuracy_mean": float(vals.mean()), "accuracy_std": float(vals.std(ddof=1)) if len(vals) > 1
                       else 0.0, "accuracy_min": float(vals.min()), "accuracy_max": float(vals.max())}
                for k in ("filters_removed", "params_removed", "flops_removed"):
                    row[k] = float(np.mean([r[k] for r in rs]))
                fw = [r["forward_s"] / bases[r["seed"]]["forward_s"] for r in rs if "forward_s" in r
                      and r["seed"] in bases]
                row["forward_time_ratio"] = float(np.mean(fw)) if fw and c == "finetuned" else None
                table.append(row)
    tags = [m for m in config.methods if m.startswith("tag")]
    base_methods = [m for m in config.methods if not m.startswith("tag")]
    verdicts, families = _paired_rows(acc, tags, base_methods, config)
    tally = {}
    for v in verdicts:
        k = f"{v['tag_method']} vs {v['baseline']} ({v['condition']})"
        tally.setdefault(k, {"beats": 0, "matches": 0, "loses": 0, "inconclusive": 0})[v["verdict"]] += 1
    base_acc = [b["accuracy"] for b in bases.values()]
    ours = []
    for anchor in ANCHORS:
        for m in config.methods:
            rows = [r for r in table if r["method"] == m and r["condition"] == "finetuned"]
            if not rows or not base_acc:
                continue
            r = min(rows, key=lambda r: abs(r["flops_removed"] - anchor["flops_removed"]))
            ours.append({"anchor": anchor["source"], "method": m, "flops_removed": r["flops_removed"],
                         "filters_removed": r["filters_removed"],
                         "accuracy_change_points": 100 * (r["accuracy_mean"] - float(np.mean(base_acc))),
                         "accuracy_std_points": 100 * r["accuracy_std"]})
    timing = {k: float(np.sum([store.get(f"s{s}_{k}")["seconds"] for s in config.seeds
                               if store.has(f"s{s}_{k}")])) for k in ("scores_time",)}
    timing["train_s"] = float(np.sum([b.get("train_s", 0.0) for b in bases.values()]))
    timing["finetune_s"] = float(np.sum([r.get("finetune_s", 0.0) for r in recs]))
    return {
        "experiment": "pruning_curves",
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in config.RUNTIME},
        "base": list(bases.values()),
        "speed": store.get("speed") if store.has("speed") else None,
        "base_accuracy_mean": float(np.mean(base_acc)) if base_acc else None,
        "table": table, "verdicts": verdicts, "verdict_tally": tally,
        "verdict_rule": verdict_settings(config, families, values="test accuracy of a tag method against a "
                                         "baseline at one fraction, paired by seed (the same trained model)"),
        "anchors": list(ANCHORS), "ours_at_anchors": ours, "timing": timing,
        "caveat": ("Published anchors are ResNet-56 on CIFAR-10 with long retraining; ours are a ResNet-"
                   f"{config.model.depth} on {config.dataset} with {config.finetune.steps} fine-tuning steps. "
                   "The datasets and budgets differ, so only the shape of the trade-off compares."),
    }


def report(result: dict) -> str:
    """What the command line prints: the unpruned accuracy and the verdicts per comparison and condition."""
    lines = [f"unpruned accuracy {result['base_accuracy_mean']:.4f}; verdicts "
             f"(alpha {result['verdict_rule']['alpha']}, {result['verdict_rule']['correction']} within each "
             f"condition, margin {result['verdict_rule']['margin']}, {result['verdict_rule']['n_seeds']} seeds):"]
    lines += [f"  {k}: {v}" for k, v in result["verdict_tally"].items()]
    return "\n".join(lines)
