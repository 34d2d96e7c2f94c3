"""Ground truth for tag importance: prune the filters that follow the informative or the uninformative half.

:func:`run_ground_truth` trains a CIFAR ResNet from scratch on ``ground_truth.two_part_dataset`` (the
class digit in the left half, a distractor in the right), tags the left half at f1 and the right
half at f2, and removes, in every budget set, the same number of filters chosen four ways:

- ``informative``: the highest share of their tag response at the informative half's tag;
- ``uninformative``: the highest share at the uninformative half's tag;
- ``integrating``: the highest intermodulation relative to their harmonics (they combine the halves);
- ``random``: uniformly (``random_draws`` draws per model, averaged).

The removal is done in three settings: ``"internal"`` (every first conv of a block, residual
streams left alone), ``"grouped"`` (every budget set, coupled residual channels together) and
``"last_stage"`` (grouped, but only the last stage's first convs and the residual channels that
start there: the stage whose filters prefer one half, see the interpretability figure).
Accuracies are one-shot (``oneshot``) and with batch-norm statistics re-estimated on training
images (``recal``). :func:`interpretability` collects, for one model, every filter's share of
response following the informative half and its intermodulation ratio, and for a few images the
spatial maps of the responses at f1, f2 and the intermodulation components;
:func:`plot_ground_truth` and :func:`plot_interpretability` draw them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ssvepjax.data.datasets import load_dataset
from ssvepjax.models.cifar_resnet import ModelConfig, resnet_blocks
from ssvepjax.pruning._store import ResultStore, write_csv, write_json
from ssvepjax.pruning.finetune import accuracy, recalibrate_bn
from ssvepjax.pruning.ground_truth import part_keep_masks, part_shares, top_keep_masks, two_part_dataset
from ssvepjax.pruning.structure import apply_masks, keep_masks, removed_filters, topology
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.scores.registry import importance
from ssvepjax.scores.tags import tag_scores
from ssvepjax.scores.weights import layer_sizes, random_scores
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.masks import halves
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["GROUPS", "SETTINGS", "GroundTruthConfig", "interpretability", "plot_ground_truth", "plot_interpretability",
           "run_ground_truth"]

#: Filter groups of the ground-truth experiment, by the image half they respond to (and random).
GROUPS = ("informative", "uninformative", "integrating", "random")
_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class GroundTruthConfig:
    """Settings of the ground-truth experiment (static).

    Attributes:
        dataset: source of the digits (``sj.load_dataset`` name).
        distractor: ``"digit"`` or ``"clutter"`` in the uninformative (right) half.
        model, train: the network trained from scratch (``seed`` replaced by each seed).
        seeds: one dataset draw and one trained model per seed.
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
    """

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
        if self.fraction not in self.fractions:
            raise ValueError(f"fraction {self.fraction} must be among fractions {self.fractions}")

    @staticmethod
    def quick() -> GroundTruthConfig:
        """CI size: a ResNet-8 trained two epochs on 1,000 images, two seeds, two fractions."""
        return GroundTruthConfig(model=ModelConfig(depth=8, width=8), train=TrainConfig(epochs=2, batch_size=32),
                                 seeds=(0, 1), score_images=4, recal_images=64, fraction=0.5, fractions=(0.25, 0.5),
                                 grouped_fractions=(0.5,), last_stage_fractions=(0.5,), random_draws=2,
                                 view_images=2, max_train=1000,
                                 max_test=200)


#: Where the ground-truth experiment removes filters: first convs only, every budget set, or the last stage.
SETTINGS = ("internal", "grouped", "last_stage")


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


def _data(config: GroundTruthConfig, seed: int):
    base = load_dataset(config.dataset, max_train=config.max_train, max_test=config.max_test)
    return two_part_dataset(base, distractor=config.distractor, informative="left", seed=seed)


def run_ground_truth(config: GroundTruthConfig, out_dir, *, progress: bool = True) -> dict:
    """Train (or restore), score, prune and evaluate every seed; resumable per configuration."""
    store = ResultStore(Path(out_dir))
    sweeps = [(config.policy, f) for f in config.fractions]
    sweeps += [("grouped", f) for f in config.grouped_fractions if ("grouped", f) not in sweeps]
    sweeps += [("last_stage", f) for f in config.last_stage_fractions if ("last_stage", f) not in sweeps]
    for seed in config.seeds:
        keys = [f"s{seed}_{p}_f{f:.2f}" for p, f in sweeps]
        if all(store.has(k) for k in keys) and store.has(f"s{seed}_base"):
            continue
        data = _data(config, seed)
        t0 = time.perf_counter()
        tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=progress)
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
        for (policy, f), key in tqdm(list(zip(sweeps, keys)), desc=f"ground truth seed {seed}", disable=not progress,
                                     leave=False):
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
    return summarize_ground_truth(config, store, Path(out_dir))


def summarize_ground_truth(config: GroundTruthConfig, store: ResultStore, out_dir: Path) -> dict:
    """Mean and spread over seeds of every group's accuracy, per policy and fraction; writes JSON and CSV."""
    recs = [r for r in store.records() if "policy" in r and r["seed"] in config.seeds]
    bases = [store.get(f"s{s}_base") for s in config.seeds if store.has(f"s{s}_base")]
    table = []
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
    settings = [config.policy] + (["last_stage"] if config.fraction in config.last_stage_fractions
                                  and config.policy != "last_stage" else [])
    head = [r for r in table if r["policy"] in settings and r["fraction"] == config.fraction]
    summary = {"config": dataclasses.asdict(config), "base": bases,
               "base_accuracy_mean": float(np.mean([b["accuracy"] for b in bases])) if bases else None,
               "headline": head, "table": table}
    write_json(out_dir / "results.json", summary)
    write_csv(out_dir / "results.csv", table)
    return summary


def interpretability(config: GroundTruthConfig, seed: int, out_dir, *, progress: bool = False) -> dict:
    """Per-filter part shares and intermodulation ratios of one model, and response maps of a few images.

    Returns (and saves as ``interpretability_s<seed>.npz``-backed JSON) ``{"layers", "share_informative":
    {layer: [c]}, "im_ratio": {layer: [c]}, "images": [k, H, W, C], "maps": {layer: {kind: [k, h, w]}}}``
    where a map is the response summed over the layer's filters at every position: ``tag1`` (f1 and its
    harmonics, left half), ``tag2`` (right half), ``intermodulation``.
    """
    store = ResultStore(Path(out_dir))
    data = _data(config, seed)
    tm = train_or_load(data, config.model, dataclasses.replace(config.train, seed=seed), progress=progress)
    model, v = tm.module, tm.variables
    scores = store.load_arrays(f"scores_s{seed}")
    if scores is None:
        raise ValueError(f"run_ground_truth first: no scores for seed {seed} in {out_dir}")
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
        maps = {f"{n}|{k}": {"m": np.stack([p[k][f"{n}/post"].sum(-1) for p in per])} for n in view
                for k in ("tag1", "tag2", "intermodulation")}
        maps = {k: d["m"] for k, d in maps.items()}
        store.save_arrays(f"maps_s{seed}", {"maps": maps})
    else:
        maps = maps["maps"]
    nested: dict[str, dict[str, np.ndarray]] = {}
    for k, m in maps.items():
        layer, kind = k.split("|")
        nested.setdefault(layer, {})[kind] = m
    return {"layers": list(topo.layers), "share_informative": share, "im_ratio": ratio, "images": images,
            "labels": data.test_labels[:config.view_images], "maps": nested}


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


COLORS = {"informative": "#b2182b", "uninformative": "#2166ac", "integrating": "#762a83", "random": "#636363"}
LABELS = {"informative": "followers of the informative half (f1)", "uninformative": "followers of the "
          "uninformative half (f2)", "integrating": "integrating (top intermodulation / harmonics)",
          "random": "random (same number per layer)"}


SETTING_NAMES = {"internal": "every first conv", "grouped": "every layer (coupled channels together)",
                 "last_stage": "last stage only (first convs + its residual channels)"}


def plot_ground_truth(summary: dict, path) -> None:
    """Accuracy against filters removed per group for the headline settings, and the headline bars."""
    plt = _mpl()
    cfg = summary["config"]
    settings = list(dict.fromkeys(r["policy"] for r in summary["headline"]))
    fig, axes = plt.subplots(1, len(settings) + 1, figsize=(5 * (len(settings) + 1), 4.3))
    for ax, setting in zip(axes, settings):
        for cond, ls, alpha in (("recal", "-", 1.0), ("oneshot", ":", 0.6)):
            rows = sorted((r for r in summary["table"] if r["policy"] == setting and r["condition"] == cond),
                          key=lambda r: r["fraction"])
            x = [100 * r["fraction"] for r in rows]
            for g in GROUPS:
                ax.errorbar(x, [100 * r[f"{g}_mean"] for r in rows], yerr=[100 * r[f"{g}_std"] for r in rows],
                            color=COLORS[g], marker="o", ms=4, capsize=2, ls=ls, alpha=alpha,
                            label=f"{LABELS[g]}" if cond == "recal" else None)
        if summary.get("base_accuracy_mean"):
            ax.axhline(100 * summary["base_accuracy_mean"], color="k", ls="--", lw=0.8, label="unpruned")
        ax.set_xlabel("filters removed in each budget set (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{SETTING_NAMES[setting]}\nsolid: BN re-estimated, dotted: one-shot", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower left")
    ax = axes[-1]
    head = {r["policy"]: r for r in summary["headline"] if r["condition"] == "recal"}
    width = 0.2
    for i, setting in enumerate(settings):
        r = head[setting]
        for j, g in enumerate(GROUPS):
            xpos = i + (j - 1.5) * width
            ax.bar(xpos, 100 * r[f"{g}_mean"], width, yerr=100 * r[f"{g}_std"], color=COLORS[g], capsize=2,
                   label=g if i == 0 else None)
            seeds = [float(v) for v in r[f"{g}_per_seed"].split()]
            ax.plot([xpos] * len(seeds), [100 * v for v in seeds], "k.", ms=4)
    ax.set_xticks(range(len(settings)), [SETTING_NAMES[st].split(" (")[0] for st in settings], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{100 * cfg['fraction']:.0f}% removed per budget set, BN re-estimated:\nmean, std (bars) "
                 "and seeds (dots)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Ground truth: class digit left (f1 = 6 Hz), {cfg['distractor']} distractor right (f2 = 7.5 Hz); "
                 f"ResNet-{cfg['model']['depth']}, {len(cfg['seeds'])} seeds", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_interpretability(view: dict, summary: dict, path) -> None:
    """Which filters follow which half, which integrate, where in the image, and what removing each costs."""
    plt = _mpl()
    layers = view["layers"]
    k = len(view["images"])
    maps_layers = list(view["maps"])
    fig = plt.figure(figsize=(14, 4.2 + 1.9 * k))
    gs = fig.add_gridspec(1 + k, 2 + 3 * len(maps_layers), height_ratios=[2.2] + [1] * k)
    ax = fig.add_subplot(gs[0, : 1 + 3 * len(maps_layers) // 2 + 1])
    ratios = np.concatenate([view["im_ratio"][n] for n in layers])
    vmax = max(float(np.quantile(ratios, 0.99)), 1e-6)
    rng = np.random.default_rng(0)
    for i, n in enumerate(layers):
        s = view["share_informative"][n]
        sc = ax.scatter(i + rng.uniform(-0.25, 0.25, len(s)), s, c=np.clip(view["im_ratio"][n], 0, vmax), s=9,
                        cmap="viridis", vmin=0, vmax=vmax)
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    ax.set_xticks(range(len(layers)), [n.replace("stage", "s").replace("_block", "b").replace("/conv", "c")
                                       for n in layers], rotation=60, fontsize=7)
    ax.set_ylabel("share of tag response\nfollowing the informative half")
    ax.set_ylim(0, 1)
    ax.set_title("every filter: 1 = follows the class digit (left, f1), 0 = the distractor (right, f2)", fontsize=9)
    cb = fig.colorbar(sc, ax=ax, pad=0.01)
    cb.set_label("intermodulation / harmonics", fontsize=8)
    ax2 = fig.add_subplot(gs[0, 1 + 3 * len(maps_layers) // 2 + 1:])
    heads = [r for r in summary["headline"] if r["condition"] == "recal"]
    if heads:
        base = summary["base_accuracy_mean"]
        h = 0.8 / len(heads)
        for i, r in enumerate(heads):
            ypos = np.arange(len(GROUPS)) + (i - (len(heads) - 1) / 2) * h
            ax2.barh(ypos, [100 * (r[f"{g}_mean"] - base) for g in GROUPS], h * 0.9,
                     xerr=[100 * r[f"{g}_std"] for g in GROUPS], color=[COLORS[g] for g in GROUPS], capsize=2,
                     alpha=1.0 if i == 0 else 0.55, hatch=None if i == 0 else "//")
            ax2.bar(0, 0, color="w", edgecolor="k", hatch=None if i == 0 else "//",
                    label=SETTING_NAMES[r["policy"]].split(" (")[0])  # legend proxy for the setting
        ax2.set_yticks(range(len(GROUPS)), list(GROUPS), fontsize=8)
        ax2.set_xlabel("accuracy change (points)")
        ax2.set_title(f"removing {100 * summary['config']['fraction']:.0f}% of the filters by group\n"
                      "(BN re-estimated, mean +- std over seeds)", fontsize=9)
        ax2.axvline(0, color="k", lw=0.8)
        ax2.grid(alpha=0.3, axis="x")
        ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    kinds = (("tag1", "left tag f1 + harmonics"), ("tag2", "right tag f2 + harmonics"),
             ("intermodulation", "IM"))
    for r in range(k):
        img = view["images"][r]
        ax = fig.add_subplot(gs[1 + r, 0:2])
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.axvline(img.shape[1] / 2 - 0.5, color="r", lw=0.8)
        ax.set_title(f"label {int(view['labels'][r])} (left digit)", fontsize=8)
        ax.axis("off")
        for li, n in enumerate(maps_layers):
            top = max(float(view["maps"][n][kk][r].max()) for kk, _ in kinds[:2]) or 1.0
            for ki, (kk, name) in enumerate(kinds):
                m = view["maps"][n][kk][r]
                ax = fig.add_subplot(gs[1 + r, 2 + 3 * li + ki])
                hi = top if kk != "intermodulation" else max(float(m.max()), 1e-12)
                ax.imshow(m, cmap="magma", vmin=0, vmax=hi)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{n.replace('/conv2', '')}\n{name}" + (" (own scale)" if kk == "intermodulation"
                                                                        else ""), fontsize=7)
    fig.suptitle("Which filters follow which half, which integrate both, and where in the image (summed "
                 "baseline-corrected amplitude per position)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
