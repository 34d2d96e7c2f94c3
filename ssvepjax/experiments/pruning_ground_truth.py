"""Experiment 7b: ground truth for tag importance, pruning the filters that follow the informative or the
uninformative half (``experiments/pruning_ground_truth.py``).

Trains a CIFAR ResNet from scratch on ``pruning.ground_truth.two_part_dataset`` (the class digit in the left half,
a distractor in the right), tags the left half at f1 and the right half at f2, and removes, in every budget set, the
same number of filters chosen four ways:

- ``informative``: the highest share of their tag response at the informative half's tag;
- ``uninformative``: the highest share at the uninformative half's tag;
- ``integrating``: the highest intermodulation relative to their harmonics (they combine the halves);
- ``random``: uniformly (``random_draws`` draws per model, averaged).

The removal is done in three settings: ``"internal"`` (every first conv of a block, residual streams left alone),
``"grouped"`` (every budget set, coupled residual channels together) and ``"last_stage"`` (grouped, but only the
last stage's first convs and the residual channels that start there: the stage whose filters prefer one half, see
the interpretability figure). Accuracies are one-shot (``oneshot``) and with batch-norm statistics re-estimated on
training images (``recal``). Every setting and fraction of a seed is a store piece (``s<seed>_<setting>
_f<fraction>``), the scores of a seed an array file, so a killed run resumes.

Every group is compared with random filters, and the informative with the uninformative followers, on the accuracy
left after the removal, paired over seeds (``stats.verdicts``: Holm-corrected within each condition, "matches"
within the equivalence ``margin``): "informative loses to random" says that removing the informative half's
followers costs more accuracy than removing as many random filters. :func:`interpretability` collects, for one
model, every filter's share of response following the informative half and its intermodulation ratio, and for a
few images the spatial maps of the responses at f1, f2 and the intermodulation components.

Writes ``pruning_ground_truth.json``, ``results.csv`` (the table), ``verdicts.csv``, ``ground_truth.png`` and
``interpretability.png``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from ssvepjax.data.datasets import load_dataset
from ssvepjax.experiments.seed_verdicts import VerdictConfig, condition_verdicts, verdict_settings
from ssvepjax.experiments.store import Store
from ssvepjax.models.cifar_resnet import ModelConfig, resnet_blocks
from ssvepjax.pruning.ground_truth import DISTRACTORS, part_keep_masks, part_shares, top_keep_masks, two_part_dataset
from ssvepjax.pruning.retraining import accuracy, recalibrate_bn
from ssvepjax.pruning.structure import apply_masks, keep_masks, removed_filters, topology
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.scores.registry import importance
from ssvepjax.scores.tags import tag_scores
from ssvepjax.scores.weights import layer_sizes, random_scores
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.masks import halves
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["COMPARISONS", "GROUPS", "SETTINGS", "Config", "interpretability", "report", "run", "summarize"]

#: Filter groups of the ground-truth experiment, by the image half they respond to (and random).
GROUPS = ("informative", "uninformative", "integrating", "random")
#: The comparisons every setting, fraction and condition reports: ``(group, reference group)``.
COMPARISONS = (("informative", "random"), ("uninformative", "random"), ("integrating", "random"),
               ("informative", "uninformative"))
#: Where the ground-truth experiment removes filters: first convs only, every budget set, or the last stage.
SETTINGS = ("internal", "grouped", "last_stage")
_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class Config(VerdictConfig):
    """Settings of the ground-truth experiment (``--quick``: a ResNet-8 trained two epochs on 1,000 images, two
    seeds, two fractions).

    Attributes:
        dataset: source of the digits (``sj.load_dataset`` name).
        distractor: ``"digit"`` or ``"clutter"`` in the uninformative (right) half.
        model: the network trained from scratch.
        train: its training (``seed`` replaced by each seed).
        seeds: one dataset draw and one trained model per seed (at least two: the verdicts are paired over seeds).
        score_images: training images the tag scores probe.
        recal_images: training images for batch-norm recalibration.
        policy: the setting of the first headline comparison (``"internal"``, ``"grouped"``, ``"last_stage"``).
        fraction: share removed in every budget set for the headline comparisons.
        fractions: the sweep of ``policy``.
        grouped_fractions: a sweep of ``"grouped"`` as well (empty to skip).
        last_stage_fractions: a sweep of ``"last_stage"`` as well (empty to skip); it is the second headline
            setting when it holds ``fraction``.
        random_draws: random prunings per model.
        view_images: test images in the interpretability figure.
        max_train: training images kept (None: all).
        max_test: test images kept (None: all).

    The verdicts' level, equivalence margin (in accuracy) and correction are :class:`VerdictConfig`'s fields.
    """

    QUICK: ClassVar[dict[str, Any]] = {
        "model": ModelConfig(depth=8, width=8), "train": TrainConfig(epochs=2, batch_size=32), "seeds": (0, 1),
        "score_images": 4, "recal_images": 64, "fraction": 0.5, "fractions": (0.25, 0.5), "grouped_fractions": (0.5,),
        "last_stage_fractions": (0.5,), "random_draws": 2, "view_images": 2, "max_train": 1000, "max_test": 200}

    dataset: str = "mnist5k"
    distractor: str = "digit"
    model: ModelConfig = ModelConfig(depth=14)
    train: TrainConfig = TrainConfig(epochs=3)
    seeds: tuple[int, ...] = (0, 1, 2)
    score_images: int = 16
    recal_images: int = 256
    policy: str = "internal"
    fraction: float = 0.5
    fractions: tuple[float, ...] = (0.1, 0.25, 0.5)
    grouped_fractions: tuple[float, ...] = (0.25, 0.5)
    last_stage_fractions: tuple[float, ...] = (0.25, 0.5)
    random_draws: int = 3
    view_images: int = 3
    max_train: int | None = None
    max_test: int | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.fraction not in self.fractions:
            raise ValueError(f"fraction {self.fraction} must be among fractions {self.fractions}")
        if self.distractor not in DISTRACTORS:
            raise ValueError(f"distractor must be one of {DISTRACTORS}, got {self.distractor!r}")
        if self.policy not in SETTINGS:
            raise ValueError(f"policy must be one of {SETTINGS}, got {self.policy!r}")


def _budget(setting: str, fraction: float, model):
    """``(policy, fraction)`` for ``structure.keep_masks`` of a setting (module docstring)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    if setting != "last_stage":
        return setting, fraction
    topo = topology(model)
    last = [n for n in topo.layers if n.startswith("stage3_") and n.endswith("/conv1")]
    return "grouped", {**dict.fromkeys(last, fraction), "stream3": fraction}


def _masks_for(group: str, scores: dict, model, fraction: float, setting: str, draw: int = 0) -> dict:
    policy, fraction = _budget(setting, fraction, model)
    parts = {"tag1": scores["tag1"], "tag2": scores["tag2"]}
    if group == "informative":
        return part_keep_masks(parts, "tag1", model, fraction, policy=policy)
    if group == "uninformative":
        return part_keep_masks(parts, "tag2", model, fraction, policy=policy)
    if group == "integrating":
        ratio = {k: scores["tag_intermodulation"][k] / (scores["tag_harmonic"][k] + _EPS) for k in scores["tag1"]}
        return top_keep_masks(ratio, model, fraction, policy=policy)
    return keep_masks(scores[f"random{draw}"], model, fraction, policy=policy)


def _data(config: Config, seed: int):
    base = load_dataset(config.dataset, max_train=config.max_train, max_test=config.max_test)
    return two_part_dataset(base, distractor=config.distractor, informative="left", seed=seed)


def run(config: Config, store: Store) -> dict:
    """Train (or restore), score, prune and evaluate every seed (resumable per configuration), summarise, and draw
    the figures (the interpretability figure from the first seed); returns the stored result."""
    sweeps = [(config.policy, f) for f in config.fractions]
    sweeps += [("grouped", f) for f in config.grouped_fractions if ("grouped", f) not in sweeps]
    sweeps += [("last_stage", f) for f in config.last_stage_fractions if ("last_stage", f) not in sweeps]
    for seed in config.seeds:
        keys = [f"s{seed}_{p}_f{f:.2f}" for p, f in sweeps]
        if all(store.has(k) for k in keys) and store.has(f"s{seed}_base"):
            continue
        data = _data(config, seed)
        t0 = time.perf_counter()
        tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=config.progress)
        model, v = tm.module, tm.variables
        if not store.has(f"s{seed}_base"):
            half = data.test_images.copy()
            half[:, :, data.image_shape[1] // 2:] = 0.0  # distractor removed: the informative half alone decides
            store.put(f"s{seed}_base", {
                "seed": seed, "accuracy": accuracy(model, v, data.test_images, data.test_labels),
                "accuracy_informative_half_only": accuracy(model, v, half, data.test_labels),
                "train_s": time.perf_counter() - t0, "restored": tm.restored})
        scores = store.load_arrays(f"scores_s{seed}")
        if scores is None:
            rng = np.random.default_rng([seed, 1])
            idx = rng.choice(len(data.train_images), config.score_images, replace=False)
            scores = importance(("tag1", "tag2", "tag_intermodulation", "tag_harmonic"), model, v,
                                data.train_images[idx])
            for r in range(config.random_draws):
                scores[f"random{r}"] = random_scores(layer_sizes(v), 1000 * seed + r)
            store.save_arrays(f"scores_s{seed}", scores)
        recal_x = data.train_images[np.random.default_rng([seed, 2]).choice(len(data.train_images),
                                                                              config.recal_images, replace=False)]
        for (policy, f), key in tqdm(list(zip(sweeps, keys)), desc=f"ground truth seed {seed}",
                                     disable=not config.progress, leave=False):
            if store.has(key):
                continue
            rec = {"seed": seed, "policy": policy, "fraction": f}
            for g in GROUPS:
                draws = range(config.random_draws) if g == "random" else [0]
                res = []
                for d in draws:
                    keep = _masks_for(g, scores, model, f, policy, d)
                    masked = apply_masks(v, keep, model)
                    res.append({"oneshot": accuracy(model, masked, data.test_images, data.test_labels),
                                "recal": accuracy(model, recalibrate_bn(model, masked, recal_x), data.test_images,
                                                  data.test_labels),
                                "filters_removed": removed_filters(keep, model)})
                rec[g] = {k: float(np.mean([r[k] for r in res])) for k in res[0]}
                if g == "random":
                    rec[g]["draws"] = res
            store.put(key, rec)
    summary = summarize(config, store)
    plots.plot_ground_truth(summary, str(store.path("ground_truth.png")))
    view = interpretability(config, config.seeds[0], store)
    plots.plot_interpretability(view, summary, str(store.path("interpretability.png")))
    summary["figures"] = {"ground_truth": "ground_truth.png", "interpretability": "interpretability.png"}
    return store.write(summary, tables={"results": summary["table"], "verdicts": summary["verdicts"]})


def summarize(config: Config, store: Store) -> dict:
    """Mean and spread over seeds of every group's accuracy per setting and fraction, the headline rows, and the
    verdicts of :data:`COMPARISONS` (one family per condition)."""
    recs = [r for r in store.records() if "policy" in r and r["seed"] in config.seeds]
    bases = [store.get(f"s{s}_base") for s in config.seeds if store.has(f"s{s}_base")]
    table, families = [], {}
    for policy, f in sorted({(r["policy"], r["fraction"]) for r in recs}):
        rs = [r for r in recs if r["policy"] == policy and r["fraction"] == f]
        for cond in ("oneshot", "recal"):
            row = {"policy": policy, "fraction": f, "condition": cond, "n_seeds": len(rs),
                   "filters_removed": float(np.mean([r["random"]["filters_removed"] for r in rs]))}
            for g in GROUPS:
                vals = np.array([r[g][cond] for r in rs])
                row[f"{g}_mean"] = float(vals.mean())
                row[f"{g}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
                row[f"{g}_per_seed"] = " ".join(f"{x:.3f}" for x in vals)
            table.append(row)
            for g, ref in COMPARISONS:
                families.setdefault(cond, {})[(policy, f, cond, g, ref)] = (
                    {r["seed"]: r[g][cond] for r in rs}, {r["seed"]: r[ref][cond] for r in rs})
    verdicts, rules = condition_verdicts(families, config)
    rows = [{"policy": p, "fraction": f, "condition": c, "comparison": f"{g} vs {ref}", "group": g, "reference": ref,
             **verdicts[(p, f, c, g, ref)]} for fam in families.values() for (p, f, c, g, ref) in fam
            if (p, f, c, g, ref) in verdicts]
    rows.sort(key=lambda r: (r["policy"], r["fraction"], r["condition"] != "oneshot"))
    settings = [config.policy] + (["last_stage"] if config.fraction in config.last_stage_fractions
                                  and config.policy != "last_stage" else [])
    head = [r for r in table if r["policy"] in settings and r["fraction"] == config.fraction]
    return {"experiment": "pruning_ground_truth",
            "config": {k: v for k, v in dataclasses.asdict(config).items() if k not in config.RUNTIME}, "base": bases,
            "base_accuracy_mean": float(np.mean([b["accuracy"] for b in bases])) if bases else None,
            "headline": head, "table": table, "verdicts": rows,
            "headline_verdicts": [r for r in rows if r["policy"] in settings and r["fraction"] == config.fraction],
            "verdict_rule": verdict_settings(config, rules, values="test accuracy left after removing one group's "
                                             "filters against that after removing the reference group's, paired by "
                                             "seed (the same dataset draw and trained model)")}


def interpretability(config: Config, seed: int, store: Store, *, progress: bool = False) -> dict:
    """Per-filter part shares and intermodulation ratios of one model, and response maps of a few images.

    Reads the seed's scores from ``store`` (:func:`run` first) and keeps the maps there (``maps_s<seed>``).

    Returns:
        ``{"layers", "share_informative": {layer: [c]}, "im_ratio": {layer: [c]}, "images": [k, H, W, C],
        "labels": [k], "maps": {layer: {kind: [k, h, w]}}}`` where a map is the response summed over the layer's
        filters at every position: ``tag1`` (f1 and its harmonics, left half), ``tag2`` (right half),
        ``intermodulation``.
    """
    data = _data(config, seed)
    tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=progress)
    model, v = tm.module, tm.variables
    scores = store.load_arrays(f"scores_s{seed}")
    if scores is None:
        raise ValueError(f"run the experiment first: no scores for seed {seed} in {store.folder}")
    topo = topology(model)
    share = {k: s[0] for k, s in part_shares({"tag1": scores["tag1"], "tag2": scores["tag2"]}).items()}
    ratio = {k: scores["tag_intermodulation"][k] / (scores["tag_harmonic"][k] + _EPS) for k in scores["tag1"]}
    view = [f"stage{s + 1}_block{resnet_blocks(model.depth) - 1}/conv2" for s in (1, 2)]  # last of stages 2, 3
    maps = store.load_arrays(f"maps_s{seed}")
    images = data.test_images[:config.view_images]
    if maps is None:
        fn = linen_fn(model, v, capture_intermediates=False, train=False, include=[f"{n}/post" for n in view])
        h, w = data.image_shape[:2]
        per = [tag_scores(fn, img[None], halves(h, w), Design(), ("tag1", "tag2", "intermodulation"),
                          measure="bca+", per_neuron=True) for img in images]
        maps = {f"{n}|{k}": np.stack([p[k][f"{n}/post"].sum(-1) for p in per]) for n in view
                for k in ("tag1", "tag2", "intermodulation")}
        store.save_arrays(f"maps_s{seed}", {"maps": maps})
    else:
        maps = maps["maps"]
    nested: dict[str, dict[str, np.ndarray]] = {}
    for k, m in maps.items():
        layer, kind = k.split("|")
        nested.setdefault(layer, {})[kind] = m
    return {"layers": list(topo.layers), "share_informative": share, "im_ratio": ratio, "images": images,
            "labels": data.test_labels[:config.view_images], "maps": nested}


def report(result: dict) -> str:
    """What the command line prints: the unpruned accuracy, the headline groups and their verdicts."""
    vr = result["verdict_rule"]
    lines = [f"unpruned accuracy {result['base_accuracy_mean']:.4f}"]
    for r in result["headline"]:
        lines.append(f"  {r['policy']:10s} {r['condition']:8s} " + "  ".join(
            f"{g} {100 * r[f'{g}_mean']:.1f} +- {100 * r[f'{g}_std']:.1f}" for g in GROUPS))
    lines.append(f"verdicts (alpha {vr['alpha']}, {vr['correction']} within each condition, margin {vr['margin']}, "
                 f"{vr['n_seeds']} seeds):")
    lines += [f"  {v['policy']:10s} {v['condition']:8s} {v['comparison']}: {v['verdict']} (mean difference "
              f"{100 * v['mean_diff']:+.1f} points, p = {v['p_adjusted']:.3g})" for v in result["headline_verdicts"]]
    return "\n".join(lines)
