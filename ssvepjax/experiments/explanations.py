"""Experiment 8: do tag-selected filters make better class-activation maps? Measured on known object boxes.

Task: one MNIST digit (mnist5k) at a random position on a grey canvas among fragments of other digits
(``data.canvas``); the digit's box is known. A CifarResNet is trained from scratch on it (``train_or_load``). The
canvas is tagged by parts, a 2x2 grid of quadrants flickering at 7, 11, 13 and 16 Hz (120 fps, 240 frames: every
tag, every harmonic and every order-2 intermodulation component on its own bin; one stimulus period is 120 frames),
and every filter of the last conv layer is scored by its amplitude at the fundamentals, harmonics, intermodulation
components or all of them (``explain.selection_scores``). The box is never used to select filters.

Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM at that layer are computed with every filter, and with the top-k filters
of each selector, for several k (``explain.evaluate_selections``):

- ``tag:<kind>``: tag score averaged over ``n_calib`` training canvases (one subset for every image);
- ``tag-image:<kind>``: tag score of the explained image itself (one subset per image);
- ``random``: ``n_random`` uniformly random subsets of each size, each shared by every image (draw r keeps the top k
  of one random score vector, so its subsets are nested across k);
- ``l1``: L1 norm of the filter's kernel (Li et al. 2017);
- ``activation`` / ``activation-image``: mean absolute activation over the calibration canvases / over the explained
  image (the control a tag score must beat: tag amplitudes scale with activation).

Metrics against the box (``explain.metrics``): energy inside the box (energy-based pointing game), energy
concentration (top 20 % of pixels), localisation accuracy (0.15 of the maximum, largest region, IoU >= 0.5) and, on
the first ``n_di`` images and the selectors ``di_selectors``, deletion and insertion AUC (pixels set to the black
background in order of saliency). Every number is a mean over the evaluated test canvases, then mean and standard
deviation over seeds (each seed: new canvases, new training, new random draws). Each selector is compared with
random subsets of the same k, paired by seed, by the project's verdict rule (``stats.verdicts``; Holm-corrected over
``FAMILY``).

Writes ``explanations.json`` (settings, table, comparison with random selection and its verdicts, timings),
``explanations_table.csv``, ``explanations_vs_random.csv``, ``explanations_metrics.png`` (metric against k) and
``explanations_examples.png`` (canvases with their maps). Each seed is a step of the store (its examples in
``examples_seed<seed>_<key>.npz``): a rerun with the same settings resumes after the last finished seed; trained
models are cached by ``train_or_load``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

import jax
import numpy as np

from ssvepjax.data.canvas import CanvasConfig, canvas_dataset
from ssvepjax.data.datasets import load_dataset
from ssvepjax.experiments.seed_verdicts import VerdictConfig, condition_verdicts, verdict_settings
from ssvepjax.experiments.store import Store
from ssvepjax.explain import cams as C
from ssvepjax.explain.box_evaluation import (
    BOX_METRICS,
    CURVE_METRICS,
    LOWER_IS_BETTER,
    TAG_SELECTORS,
    evaluate_selections,
    selection_scores,
)
from ssvepjax.explain.selection import top_k
from ssvepjax.models.cifar_resnet import ModelConfig, resnet_blocks
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.scores.tags import component_rows
from ssvepjax.scores.weights import random_scores
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.masks import quadrants
from ssvepjax.tagging.tags import TagConfig
from ssvepjax.training.train import TrainConfig, train_or_load

__all__ = ["FAMILY", "Config", "aggregate", "report", "run", "run_seed", "versus_random"]

METRICS = (*BOX_METRICS, *CURVE_METRICS)
PLOT_SELECTORS = ("tag:combined", "tag-image:combined", "tag-image:intermodulation", "random", "l1",
                  "activation", "activation-image")
PLOT_METRICS = ("energy_in_box", "concentration", "localisation", "deletion", "insertion")
EXAMPLE_SELECTORS = ("all", "tag-image:combined", "tag:combined", "random", "l1", "activation-image")
#: The comparisons one Holm correction runs over (one panel of ``explanations_metrics.png``).
FAMILY = "one CAM method and one metric: every selector at every k against random, paired by seed"


@dataclasses.dataclass(frozen=True)
class Config(VerdictConfig):
    """Sizes of one run (``QUICK``: the CI size, about 2 minutes).

    Attributes:
        seeds: one canvas draw, one training and one set of random subsets per seed (at least two: the comparisons
            with random are paired over seeds).
        canvas_size, n_fragments, fragment_size: the boxed-digit canvas (``data.CanvasConfig``).
        depth, width, epochs, max_train: the CifarResNet and its training on the canvases.
        tags_hz, fps, n_frames, max_order: the quadrants' tags and the design's intermodulation order.
        n_calib: training canvases the shared selectors are scored on.
        n_eval: test canvases evaluated.
        ks: filters kept (those above the layer's filters are dropped; k = all filters is the ``all`` map).
        n_random: random subsets per k.
        n_di, di_ks, di_steps, di_selectors, di_random: deletion / insertion AUC on the first ``n_di`` images, at
            these ks (a subset of ``ks``), with this many steps, for these selectors and this many random draws.
        example_k, n_examples: the filters kept and the canvases shown in ``explanations_examples.png``.
        alpha, margin, correction: the verdict rule's level, equivalence margin (metric units: 0.01) and correction
            (:class:`~ssvepjax.experiments.seed_verdicts.VerdictConfig`).
        cache_dir: model cache (``$SSVEPJAX_CACHE`` or ``~/.cache/ssvepjax`` when None).
    """

    QUICK = dict(seeds=(0, 1), canvas_size=32, n_fragments=2, fragment_size=10, depth=8, width=4, epochs=1,
                 max_train=400, n_calib=8, n_eval=12, ks=(2, 4, 16), n_random=3, n_di=6, di_ks=(4,), di_steps=4,
                 di_random=2, example_k=4, n_examples=3)
    RUNTIME = ("quick", "progress", "cache_dir")

    canvas_size: int = 48
    n_fragments: int = 3
    fragment_size: int = 12
    depth: int = 14
    width: int = 8
    epochs: int = 8
    max_train: int | None = None
    tags_hz: tuple[float, ...] = (7.0, 11.0, 13.0, 16.0)
    fps: float = 120.0
    n_frames: int = 240
    max_order: int = 2
    n_calib: int = 64
    n_eval: int = 200
    ks: tuple[int, ...] = (2, 4, 8, 16)
    n_random: int = 10
    n_di: int = 50
    di_ks: tuple[int, ...] = (4, 8, 16)
    di_steps: int = 10
    di_selectors: tuple[str, ...] = ("tag:combined", "tag-image:combined", "random", "l1", "activation",
                                     "activation-image")
    di_random: int = 3
    example_k: int = 4
    n_examples: int = 4
    margin: float = 0.01
    cache_dir: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if not set(self.di_ks) <= set(self.ks):
            raise ValueError(f"di_ks {self.di_ks} must be a subset of ks {self.ks}")
        if self.n_random < 1:
            raise ValueError(f"n_random must be at least 1, got {self.n_random}")
        if self.di_random > self.n_random:
            raise ValueError(f"di_random must be at most n_random={self.n_random}, got {self.di_random}")

    @property
    def layer(self) -> str:
        """The CAM layer: the output of the last block's second conv (its post-activation)."""
        return f"stage3_block{resnet_blocks(self.depth) - 1}/conv2"

    @property
    def design(self) -> Design:
        """The tags of the four quadrants and the highest intermodulation order."""
        return Design(TagConfig(freqs_hz=self.tags_hz, fps=self.fps, n_frames=self.n_frames), max_order=self.max_order)


def _scores(cfg: Config, trained, calib, evals) -> tuple[dict, dict]:
    """``{selector: [c] or [N, c]}`` of every selector but random (tag ones first, each shared one beside its
    per-image twin), and timings."""
    fn = linen_fn(trained.module, trained.variables, capture_intermediates=True, include=[cfg.layer], train=False)
    masks = quadrants(cfg.canvas_size, cfg.canvas_size)
    t0 = time.time()
    shared = selection_scores(fn, trained.variables, cfg.layer, calib, masks, cfg.design, per_image=False)
    t1 = time.time()
    own = selection_scores(fn, trained.variables, cfg.layer, evals, masks, cfg.design, per_image=True)
    timing = {"scores_dataset_s": t1 - t0, "scores_per_image_s": time.time() - t1}
    order = [n for label in TAG_SELECTORS for n in (f"tag:{label}", f"tag-image:{label}")]
    return {n: ({**shared, **own})[n] for n in (*order, "l1", "activation", "activation-image")}, timing


def _rows(values: dict[str, np.ndarray], rows: dict | None = None) -> dict:
    """``{(method, selector, k, draw): row}`` of means over images; ``random#<r>`` is ``random``, draw r."""
    rows = {} if rows is None else rows
    for name, v in values.items():
        method, sel, k, metric = name.split("|")
        sel, _, draw = sel.partition("#")
        key = (method, sel, int(k), int(draw or 0))
        rows.setdefault(key, {"method": method, "selector": sel, "k": int(k), "draw": int(draw or 0)})
        rows[key][metric] = float(np.mean(v))
    return rows


def run_seed(cfg: Config, seed: int, src) -> tuple[dict, dict]:
    """Train (or restore) the model of one seed and measure every map; returns (results, examples)."""
    t_start = time.time()
    canvas = CanvasConfig(size=cfg.canvas_size, n_fragments=cfg.n_fragments, fragment_size=cfg.fragment_size)
    cd = canvas_dataset(src, canvas, seed=seed)
    trained = train_or_load(cd.dataset, ModelConfig(depth=cfg.depth, width=cfg.width),
                            TrainConfig(epochs=cfg.epochs, seed=seed), cache_dir=cfg.cache_dir, progress=cfg.progress)
    t_train = time.time() - t_start
    x = cd.dataset.test_images[:cfg.n_eval]
    y = cd.dataset.test_labels[:cfg.n_eval]
    boxes = cd.test_boxes[:cfg.n_eval]
    scores, timing = _scores(cfg, trained, cd.dataset.train_images[:cfg.n_calib], x)
    tap = C.linen_tap(trained.module, trained.variables, cfg.layer, x.shape[1:], train=False)
    c = tap.layer_shape[-1]
    ks = [k for k in cfg.ks if k <= c]  # k = c selects every filter: its rows must equal the 'all' map
    key = jax.random.key(10_000 + seed)
    draws = {f"random#{r}": random_scores({"x": c}, jax.random.fold_in(key, r))["x"] for r in range(cfg.n_random)}
    t0 = time.time()
    rows = _rows(evaluate_selections(tap, x, boxes, y, {**scores, **draws}, ks, key=key, n_random=0, batch_size=64))
    timing["maps_s"] = time.time() - t0

    t0 = time.time()
    prob = jax.jit(lambda im: jax.nn.softmax(trained.module.apply(trained.variables, im, train=False)))
    nd = min(cfg.n_di, len(x))
    di_ks = [k for k in cfg.di_ks if k < c]
    di_scores = {s: (v[:nd] if np.ndim(v) == 2 else v) for s, v in scores.items() if s in cfg.di_selectors}
    if "random" in cfg.di_selectors:
        di_scores.update({f"random#{r}": draws[f"random#{r}"] for r in range(cfg.di_random)})
    curves = evaluate_selections(tap, x[:nd], boxes[:nd], y[:nd], di_scores, di_ks, key=key, n_random=0,
                                 prob_fn=prob, curve_ks=di_ks, curve_steps=cfg.di_steps,
                                 curve_key=jax.random.key(seed), batch_size=16)
    _rows({n: v for n, v in curves.items() if n.rsplit("|", 1)[1] in CURVE_METRICS}, rows)
    timing["deletion_insertion_s"] = time.time() - t0

    overlap = {}
    for k in ks:
        for tag, act in (("tag:combined", "activation"), ("tag-image:combined", "activation-image")):
            mt, ma = top_k(scores[tag], k), top_k(scores[act], k)
            overlap[f"{tag} vs {act} @k={k}"] = float(((mt & ma).sum(-1) / (mt | ma).sum(-1)).mean())
    ex = min(cfg.n_examples, len(x))
    ek = min(cfg.example_k, c)
    examples = {"images": x[:ex], "boxes": boxes[:ex], "labels": y[:ex]}
    for sel in EXAMPLE_SELECTORS:
        s = draws["random#0"] if sel == "random" else scores.get(sel)
        mask = None if s is None else top_k(s[:ex] if np.ndim(s) == 2 else s, ek)
        examples[sel] = np.asarray(C.class_activation_maps(tap, x[:ex], y[:ex], "gradcam", mask))
    predicted = np.asarray(prob(x)).argmax(1)
    result = {
        "seed": seed, "test_accuracy": trained.test_accuracy, "eval_accuracy": float((predicted == y).mean()),
        "n_filters": c, "layer_shape": list(tap.layer_shape), "restored_model": trained.restored,
        "mean_box_fraction": float(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).mean()
                                   / (x.shape[1] * x.shape[2])),
        "jaccard_tag_vs_activation": overlap,
        "spearman_tag_vs_activation": _spearman(scores["tag:combined"], scores["activation"]),
        "rows": list(rows.values()),
        "seconds": {"train": round(t_train, 1), **{k: round(v, 1) for k, v in timing.items()},
                    "total": round(time.time() - t_start, 1)},
    }
    return result, examples


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def aggregate(results: list[dict]) -> list[dict]:
    """Rows (method, selector, k): per seed the mean over draws, then mean and sd over seeds."""
    per_seed: dict[tuple, list[dict]] = {}
    for res in results:
        groups: dict[tuple, list[dict]] = {}
        for r in res["rows"]:
            groups.setdefault((r["method"], r["selector"], r["k"]), []).append(r)
        for key, rs in groups.items():
            per_seed.setdefault(key, []).append(
                {m: float(np.mean([r[m] for r in rs if m in r])) for m in METRICS if any(m in r for r in rs)})
    table = []
    for (method, sel, k), seeds in per_seed.items():
        row = {"method": method, "selector": sel, "k": k, "n_seeds": len(seeds)}
        for m in METRICS:
            if all(m in s for s in seeds):
                v = np.array([s[m] for s in seeds])
                row[m], row[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        table.append(row)
    return table


def versus_random(results: list[dict], selectors, config: VerdictConfig) -> tuple[list[dict], dict]:
    """Per seed, a selector's metric minus the mean of random subsets of the same size (and its percentile among the
    draws); then mean and sd of the difference over seeds, and the verdict paired by seed (``stats.verdicts``,
    Holm-corrected over ``FAMILY``; deletion AUC lower is better). Returns ``(rows, the families' rules)``."""
    out, families = [], {}
    methods = sorted({r["method"] for r in results[0]["rows"]}, key=C.METHODS.index)
    ks = sorted({r["k"] for r in results[0]["rows"] if r["selector"] == "random"})
    for method in methods:
        for sel in selectors:
            for k in ks:
                for m in METRICS:
                    own_seeds, rnd_seeds, pct = {}, {}, []
                    for res in results:
                        rows = [r for r in res["rows"] if r["method"] == method and r["k"] == k and m in r]
                        own = [r[m] for r in rows if r["selector"] == sel]
                        rnd = np.array([r[m] for r in rows if r["selector"] == "random"])
                        if own and rnd.size:
                            own_seeds[res["seed"]], rnd_seeds[res["seed"]] = own[0], float(rnd.mean())
                            pct.append(float((rnd < own[0]).mean() + 0.5 * (rnd == own[0]).mean()))
                    if own_seeds:
                        d = np.array(list(own_seeds.values())) - np.array(list(rnd_seeds.values()))
                        families.setdefault(f"{method}|{m}", {})[(method, sel, k, m)] = (own_seeds, rnd_seeds)
                        out.append({"method": method, "selector": sel, "k": k, "metric": m,
                                    "minus_random": float(d.mean()),
                                    "minus_random_sd": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
                                    "per_seed": [round(float(v), 4) for v in d],
                                    "percentile_among_random": float(np.mean(pct)), "n_seeds": len(d)})
    verdicts, rules = condition_verdicts(families, config, higher_is_better={
        f: f.split("|")[1] not in LOWER_IS_BETTER for f in families})
    rows = [{**row, **verdicts.get((row["method"], row["selector"], row["k"], row["metric"]), {})} for row in out]
    return rows, rules


def run(cfg: Config, store: Store) -> dict:
    """Every seed (each a resumable step), then the table over seeds, the verdicts against random and the figures."""
    src = load_dataset("mnist5k", max_train=cfg.max_train)
    key = cfg.piece_key()
    results = []
    for seed in cfg.seeds:
        def compute(seed=seed):
            res, ex = run_seed(cfg, seed, src)
            store.save_arrays(f"examples_seed{seed}_{key}", {"examples": ex})
            print(f"seed {seed}: accuracy {res['test_accuracy']:.3f}, {res['seconds']}", flush=True)
            return res

        results.append(store.step(f"seed{seed}_{key}", compute))
    table = aggregate(results)
    selectors = [s for s in dict.fromkeys(r["selector"] for r in results[0]["rows"]) if s not in ("all", "random")]
    vs, rules = versus_random(results, selectors, cfg)
    c = results[0]["n_filters"]
    title = (f"ResNet-{cfg.depth} (width {cfg.width}) on {cfg.canvas_size}x{cfg.canvas_size} boxed digits, layer "
             f"{cfg.layer} ({c} filters); {cfg.n_eval} test canvases, mean +- sd over {len(results)} seeds")
    plots.plot_selection_metrics(table, str(store.path("explanations_metrics.png")), metrics=PLOT_METRICS,
                                 selectors=PLOT_SELECTORS, spread="sd", title=title)
    ex = store.load_arrays(f"examples_seed{cfg.seeds[0]}_{key}")["examples"]
    plots.plot_cam_examples(ex, str(store.path("explanations_examples.png")), EXAMPLE_SELECTORS,
                            k=min(cfg.example_k, c), title=f"Grad-CAM at {cfg.layer}, seed {cfg.seeds[0]} (green: "
                                                           "object box)")
    return store.write({
        "experiment": "explanations",
        "layer": cfg.layer,
        "tags": {"freqs_hz": list(cfg.tags_hz), "fps": cfg.fps, "n_frames": cfg.n_frames,
                 "parts": "2x2 grid of quadrants (top-left, top-right, bottom-left, bottom-right)",
                 "max_order": cfg.max_order,
                 "rows_per_kind": {label: len(component_rows(cfg.design, kind))
                                   for label, kind in TAG_SELECTORS.items()}},
        "per_seed": [{k: v for k, v in r.items() if k != "rows"} for r in results],
        "table": table,
        "versus_random": vs,
        "verdict_rule": verdict_settings(cfg, rules, values="a metric of the maps with a selector's k filters minus "
                                         "its mean over random subsets of k filters, per CAM method, paired by seed",
                                         higher_is_better="every metric but deletion AUC", family=FAMILY),
        "verdict_tally": dict(Counter(r["verdict"] for r in vs if "verdict" in r)),
        "seconds": {"total_this_call": round(store.seconds(), 1),
                    "sum_of_seeds": round(sum(r["seconds"]["total"] for r in results), 1)},
    }, tables={"explanations_table": table, "explanations_vs_random": vs})


def report(result: dict) -> str:
    """A short markdown table (all filters, tag selections and baselines at each k), and the verdicts' tally."""
    lines = ["| method | selector | k | energy in box | concentration | localisation | deletion | insertion |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(r, m):
        return f"{r[m]:.3f} +- {r[m + '_sd']:.3f}" if m in r else ""

    for r in result["table"]:
        if r["selector"] in EXAMPLE_SELECTORS:
            lines.append(f"| {r['method']} | {r['selector']} | {r['k']} | "
                         + " | ".join(cell(r, m) for m in ("energy_in_box", "concentration", "localisation",
                                                           "deletion", "insertion")) + " |")
    v = result["verdict_rule"]
    lines.append(f"against random, paired over {v['n_seeds']} seeds (alpha {v['alpha']}, margin {v['margin']}, "
                 f"{v['correction']} within {v['family']}): {result['verdict_tally']}")
    return "\n".join(lines)
