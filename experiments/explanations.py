"""Experiment: do tag-selected filters make better class-activation maps? Measured on known object boxes.

Task: one MNIST digit (mnist5k) at a random position on a grey canvas among fragments of other
digits (``ssvepjax.data.canvas``); the digit's box is known. A CifarResNet is trained from scratch
on it (``sj.train_or_load``). The canvas is tagged by parts, a 2x2 grid of quadrants flickering at
7, 11, 13 and 16 Hz (120 fps, 240 frames: every tag, every harmonic and every order-2 intermodulation
component on its own bin; one stimulus period is 120 frames), and every filter of the last conv layer
is scored by its amplitude at the fundamentals, harmonics, intermodulation components or all of them
(``ssvepjax.scores``). The box is never used to select filters.

Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM at that layer are computed with every filter, and with the
top-k filters of each selector, for several k:

- ``tag:<kind>``: tag score averaged over ``n_calib`` training canvases (one subset for every image);
- ``tag-image:<kind>``: tag score of the explained image itself (one subset per image);
- ``random``: ``n_random`` uniformly random subsets of each size;
- ``l1``: L1 norm of the filter's kernel (Li et al. 2017);
- ``activation`` / ``activation-image``: mean absolute activation over the calibration canvases / over
  the explained image (the control a tag score must beat: tag amplitudes scale with activation).

Metrics against the box (``ssvepjax.explain.metrics``): energy inside the box (energy-based pointing
game), energy concentration (top 20 % of pixels), localisation accuracy (0.15 of the maximum, largest
region, IoU >= 0.5) and, on a subset of images and selectors, deletion and insertion AUC (pixels set
to the black background in order of saliency). Every number is a mean over the evaluated test canvases,
then mean and standard deviation over seeds (each seed: new canvases, new training, new random draws).

    python experiments/explanations.py --quick --out runs/explanations_quick   # CI size, about 2 min
    nice -n 10 python experiments/explanations.py --out runs/explanations        # full size, 3 seeds

Writes ``explanations.json`` (settings, table, comparison with random selection, timings),
``explanations_table.csv``, ``explanations_vs_random.csv``, ``explanations_metrics.png`` (metric
against k) and ``explanations_examples.png`` (canvases with their maps). Per-seed results are kept in
``seeds/`` and a rerun with the same settings resumes after the last finished seed; trained models are
cached by ``sj.train_or_load``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import ssvepjax as sj
from ssvepjax.data.canvas import CanvasConfig, canvas_dataset
from ssvepjax.explain import cams as C
from ssvepjax.explain import metrics as M

MAP_METRICS = ("energy_in_box", "concentration", "localisation", "iou")
DI_METRICS = ("deletion", "insertion")
PLOT_SELECTORS = ("tag:combined", "tag-image:combined", "tag-image:intermodulation", "random", "l1",
                  "activation", "activation-image")


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of one run (``quick()`` for CI)."""

    seeds: tuple[int, ...] = (0, 1, 2)
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

    def __post_init__(self):
        if not set(self.di_ks) <= set(self.ks):
            raise ValueError(f"di_ks {self.di_ks} must be a subset of ks {self.ks}")
        if self.di_random > self.n_random:
            raise ValueError(f"di_random must be at most n_random={self.n_random}, got {self.di_random}")

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=(0, 1), canvas_size=32, n_fragments=2, fragment_size=10, depth=8, width=4, epochs=4,
                   max_train=1000, n_calib=8, n_eval=24, ks=(2, 4, 16), n_random=3, n_di=6, di_ks=(4,), di_steps=4,
                   di_random=2, example_k=4, n_examples=3)

    @property
    def layer(self) -> str:
        return f"stage3_block{sj.models.resnet_blocks(self.depth) - 1}/conv2"

    @property
    def design(self):
        return sj.Design(sj.TagConfig(freqs_hz=self.tags_hz, fps=self.fps, n_frames=self.n_frames),
                         max_order=self.max_order)

    def key(self) -> str:
        return sj.config_key(self)


def selector_scores(cfg: Config, trained, cd, design) -> tuple[dict, dict]:
    """``{selector: [c] or [N, c]}`` for every selector but random, and timings."""
    layer = cfg.layer
    fn = sj.linen_fn(trained.module, trained.variables, capture_intermediates=True, include=[layer], train=False)
    masks = sj.quadrants(cfg.canvas_size, cfg.canvas_size)
    calib = cd.dataset.train_images[:cfg.n_calib]
    evals = cd.dataset.test_images[:cfg.n_eval]
    t = {}
    tag = {label: f"amplitude_{kind}" for label, kind in sj.explain.TAG_SELECTORS.items()}
    on = {"layers": [layer], "fn": fn, "masks": masks, "design": design}
    t0 = time.time()
    amp_ds = sj.importance(tuple(tag.values()), None, None, calib, **on)
    t["tag_dataset_s"] = time.time() - t0
    t0 = time.time()
    amp_img = sj.importance(tuple(tag.values()), None, None, evals, per_image=True, **on)
    t["tag_per_image_s"] = time.time() - t0
    scores = {}
    for label, method in tag.items():
        scores[f"tag:{label}"] = amp_ds[method][layer]
        scores[f"tag-image:{label}"] = amp_img[method][layer]
    scores["l1"] = sj.importance("l1", None, trained.variables, layers=[layer])[layer]
    scores["activation"] = sj.importance("mean_activation", None, None, calib, layers=[layer], fn=fn)[layer]
    scores["activation-image"] = sj.importance("mean_activation", None, None, evals, layers=[layer], fn=fn,
                                               per_image=True)[layer]
    return scores, t


def subsets(cfg: Config, scores: dict, c: int, seed: int, ks, n_random: int, selectors=None):
    """Yield ``(selector, k, draw, mask [c] or [N, c] or None)`` for the 'all' map and every selector."""
    if selectors is None or "all" in selectors:
        yield "all", c, 0, None
    for k in ks:
        for name, s in scores.items():
            if selectors is None or name in selectors:
                yield name, k, 0, sj.top_k(s, k)
        if selectors is None or "random" in selectors:
            for r in range(n_random):
                key = jax.random.fold_in(jax.random.key(10_000 + seed), r)
                yield "random", k, r, sj.top_k(sj.random_scores({"x": c}, key)["x"], k)


def run_seed(cfg: Config, seed: int, src, cache_dir: str | None, progress: bool) -> tuple[dict, dict]:
    """Train (or restore) the model of one seed and measure every map; returns (results, examples)."""
    t_start = time.time()
    canvas = CanvasConfig(size=cfg.canvas_size, n_fragments=cfg.n_fragments, fragment_size=cfg.fragment_size)
    cd = canvas_dataset(src, canvas, seed=seed)
    trained = sj.train_or_load(cd.dataset, sj.ModelConfig(depth=cfg.depth, width=cfg.width),
                               sj.TrainConfig(epochs=cfg.epochs, seed=seed), cache_dir=cache_dir, progress=progress)
    t_train = time.time() - t_start
    design = cfg.design
    scores, timing = selector_scores(cfg, trained, cd, design)
    x = cd.dataset.test_images[:cfg.n_eval]
    y = cd.dataset.test_labels[:cfg.n_eval]
    boxes = cd.test_boxes[:cfg.n_eval]
    tap = C.linen_tap(trained.module, trained.variables, cfg.layer, x.shape[1:], train=False)
    c = tap.layer_shape[-1]
    ks = [k for k in cfg.ks if k <= c]  # k = c selects every filter: its rows must equal the 'all' map
    t0 = time.time()
    a, g, logits = C.layer_gradients(tap, x, y)
    timing["gradients_s"] = time.time() - t0
    size = x.shape[1:3]
    rows = []
    t0 = time.time()
    n_sets = len(list(subsets(cfg, scores, c, seed, ks, cfg.n_random)))
    bar = tqdm(total=len(C.METHODS) * n_sets, desc=f"seed {seed}: maps", disable=not progress, leave=False)
    for method in C.METHODS:
        for sel, k, draw, mask in subsets(cfg, scores, c, seed, ks, cfg.n_random):
            maps = C.upsample(C.cam_batch(a, g, method, mask), size)
            loc = M.localisation(maps, boxes)
            rows.append({"method": method, "selector": sel, "k": int(k), "draw": draw,
                         "energy_in_box": float(M.energy_in_box(maps, boxes).mean()),
                         "concentration": float(M.energy_concentration(maps).mean()),
                         "localisation": float(loc["correct"].mean()), "iou": float(loc["iou"].mean())})
            bar.update()
    bar.close()
    timing["maps_s"] = time.time() - t0

    t0 = time.time()
    prob = jax.jit(lambda im: jax.nn.softmax(trained.module.apply(trained.variables, im, train=False)))
    nd = min(cfg.n_di, len(x))
    di_ks = [k for k in cfg.di_ks if k < c]
    di_sets = list(subsets(cfg, {s: (v[:nd] if np.ndim(v) == 2 else v) for s, v in scores.items()}, c, seed,
                           di_ks, cfg.di_random, selectors=("all", *cfg.di_selectors)))
    keys, all_maps = [], []
    for method in C.METHODS:
        for sel, k, draw, mask in di_sets:
            all_maps.append(C.upsample(C.cam_batch(a[:nd], g[:nd], method, mask), size))
            keys.append((method, sel, int(k), draw))
    stacked = jnp.concatenate(all_maps)
    di = M.deletion_insertion(prob, np.tile(x[:nd], (len(keys), 1, 1, 1)), stacked, np.tile(y[:nd], len(keys)),
                              steps=cfg.di_steps, key=jax.random.key(seed), batch_size=16)
    index = {(r["method"], r["selector"], r["k"], r["draw"]): r for r in rows}
    for j, kk in enumerate(keys):
        for m in DI_METRICS:
            index[kk][m] = float(di[m][j * nd:(j + 1) * nd].mean())
    timing["deletion_insertion_s"] = time.time() - t0

    overlap = {}
    for k in ks:
        for tag, act in (("tag:combined", "activation"), ("tag-image:combined", "activation-image")):
            mt, ma = sj.top_k(scores[tag], k), sj.top_k(scores[act], k)
            overlap[f"{tag} vs {act} @k={k}"] = float(((mt & ma).sum(-1) / (mt | ma).sum(-1)).mean())
    ex = min(cfg.n_examples, len(x))
    ek = min(cfg.example_k, c)
    examples = {"images": x[:ex], "boxes": boxes[:ex], "labels": y[:ex]}
    for sel in ("all", "tag-image:combined", "tag:combined", "random", "l1", "activation-image"):
        if sel == "all":
            mask = None
        elif sel == "random":
            mask = sj.top_k(sj.random_scores({"x": c}, jax.random.fold_in(jax.random.key(10_000 + seed), 0))["x"], ek)
        else:
            s = scores[sel]
            mask = sj.top_k(s[:ex] if np.ndim(s) == 2 else s, ek)
        examples[sel] = np.asarray(C.upsample(C.cam_batch(a[:ex], g[:ex], "gradcam", mask), size))
    result = {
        "seed": seed, "test_accuracy": trained.test_accuracy,
        "eval_accuracy": float((np.asarray(logits).argmax(1) == y).mean()),
        "n_filters": c, "layer_shape": list(tap.layer_shape), "restored_model": trained.restored,
        "mean_box_fraction": float(((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).mean()
                                   / (size[0] * size[1])),
        "jaccard_tag_vs_activation": overlap,
        "spearman_tag_vs_activation": spearman(scores["tag:combined"], scores["activation"]),
        "rows": rows,
        "seconds": {"train": round(t_train, 1), **{k: round(v, 1) for k, v in timing.items()},
                    "total": round(time.time() - t_start, 1)},
    }
    return result, examples


def spearman(a, b) -> float:
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
                {m: float(np.mean([r[m] for r in rs if m in r])) for m in (*MAP_METRICS, *DI_METRICS)
                 if any(m in r for r in rs)})
    table = []
    for (method, sel, k), seeds in per_seed.items():
        row = {"method": method, "selector": sel, "k": k, "n_seeds": len(seeds)}
        for m in (*MAP_METRICS, *DI_METRICS):
            if all(m in s for s in seeds):
                v = np.array([s[m] for s in seeds])
                row[m], row[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        table.append(row)
    return table


def versus_random(results: list[dict], selectors) -> list[dict]:
    """Per seed, a selector's metric minus the mean of random subsets of the same size (and its percentile
    among the draws); then mean and sd of the difference over seeds."""
    out = []
    methods = sorted({r["method"] for r in results[0]["rows"]}, key=C.METHODS.index)
    ks = sorted({r["k"] for r in results[0]["rows"] if r["selector"] == "random"})
    for method in methods:
        for sel in selectors:
            for k in ks:
                for m in (*MAP_METRICS, *DI_METRICS):
                    diffs, pct = [], []
                    for res in results:
                        rows = [r for r in res["rows"] if r["method"] == method and r["k"] == k and m in r]
                        own = [r[m] for r in rows if r["selector"] == sel]
                        rnd = np.array([r[m] for r in rows if r["selector"] == "random"])
                        if own and rnd.size:
                            diffs.append(own[0] - rnd.mean())
                            pct.append(float((rnd < own[0]).mean() + 0.5 * (rnd == own[0]).mean()))
                    if diffs:
                        d = np.array(diffs)
                        out.append({"method": method, "selector": sel, "k": k, "metric": m,
                                    "minus_random": float(d.mean()),
                                    "minus_random_sd": float(d.std(ddof=1)) if len(d) > 1 else float("nan"),
                                    "per_seed": [round(float(v), 4) for v in d],
                                    "percentile_among_random": float(np.mean(pct)), "n_seeds": len(d)})
    return out


LABELS = {"energy_in_box": "energy inside the box", "concentration": "energy concentration (top 20 %)",
          "localisation": "localisation accuracy (IoU >= 0.5)", "deletion": "deletion AUC (lower is better)",
          "insertion": "insertion AUC (higher is better)"}


def plot_metrics(table: list[dict], path: Path, n_filters: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in ("energy_in_box", "concentration", "localisation", "deletion", "insertion")
               if any(m in r for r in table)]
    fig, axes = plt.subplots(len(metrics), len(C.METHODS), figsize=(3.6 * len(C.METHODS), 2.7 * len(metrics)),
                             squeeze=False, sharex=True)
    colors = dict(zip(PLOT_SELECTORS, plt.cm.tab10.colors))
    for j, method in enumerate(C.METHODS):
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            base = [r for r in table if r["method"] == method and r["selector"] == "all" and m in r]
            if base:
                ax.axhline(base[0][m], color="k", ls="--", lw=1, label=f"all {n_filters} filters")
            for sel in PLOT_SELECTORS:
                rs = sorted((r for r in table if r["method"] == method and r["selector"] == sel and m in r),
                            key=lambda r: r["k"])
                if not rs:
                    continue
                k = np.array([r["k"] for r in rs])
                v = np.array([r[m] for r in rs])
                sd = np.nan_to_num(np.array([r[f"{m}_sd"] for r in rs]))
                style = dict(marker="o", ms=3, lw=1.2, color=colors[sel], label=sel)
                if sel == "random":
                    ax.fill_between(k, v - sd, v + sd, color=colors[sel], alpha=0.2, lw=0)
                    ax.plot(k, v, ls=":", **style)
                else:
                    ax.errorbar(k, v, yerr=sd, capsize=2, **style)
            ax.set_xscale("log", base=2)
            ks = sorted({r["k"] for r in table if r["selector"] != "all"})
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(method)
            if j == 0:
                ax.set_ylabel(LABELS[m], fontsize=8)
            if i == len(metrics) - 1:
                ax.set_xlabel("filters kept (k)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_examples(ex: dict, path: Path, k: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ["all", "tag-image:combined", "tag:combined", "random", "l1", "activation-image"]
    n = len(ex["images"])
    fig, axes = plt.subplots(n, len(cols) + 1, figsize=(1.9 * (len(cols) + 1), 2.0 * n + 0.4), squeeze=False)
    for i in range(n):
        y0, x0, y1, x1 = ex["boxes"][i]
        for j in range(len(cols) + 1):
            ax = axes[i, j]
            ax.imshow(ex["images"][i, ..., 0], cmap="gray", vmin=0, vmax=1)
            if j:
                ax.imshow(ex[cols[j - 1]][i], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=1.2))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                name = "canvas, box" if j == 0 else (cols[j - 1] if cols[j - 1] == "all" else f"{cols[j - 1]}\nk={k}")
                ax.set_title(name, fontsize=8)
        axes[i, 0].set_ylabel(f"label {int(ex['labels'][i])}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv=None) -> argparse.Namespace:
    """The options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size (about 2 minutes)")
    p.add_argument("--out", default=None, help="output folder (runs/explanations[_quick])")
    p.add_argument("--cache-dir", default=None, help="model cache (default: sj's cache folder)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.quick() if args.quick else Config()
    out = Path(args.out or ("runs/explanations_quick" if args.quick else "runs/explanations"))
    (out / "seeds").mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress
    t0 = time.time()
    src = sj.load_dataset("mnist5k", max_train=cfg.max_train)
    results = []
    for seed in tqdm(cfg.seeds, desc="seeds", disable=not progress):
        path = out / "seeds" / f"seed{seed}_{cfg.key()}.json"
        ex_path = path.with_suffix(".npz")
        if path.exists() and ex_path.exists():
            results.append(json.loads(path.read_text()))
            continue
        res, ex = run_seed(cfg, seed, src, args.cache_dir, progress)
        tmp = ex_path.with_name(ex_path.stem + ".tmp.npz")
        np.savez_compressed(tmp, **ex)
        os.replace(tmp, ex_path)
        sj.write_text(path, json.dumps(res))
        results.append(res)
        print(f"seed {seed}: accuracy {res['test_accuracy']:.3f}, {res['seconds']}", flush=True)
    table = aggregate(results)
    selectors = [s for s in dict.fromkeys(r["selector"] for r in results[0]["rows"]) if s not in ("all", "random")]
    vs = versus_random(results, selectors)
    c = results[0]["n_filters"]
    title = (f"ResNet-{cfg.depth} (width {cfg.width}) on {cfg.canvas_size}x{cfg.canvas_size} boxed digits, layer "
             f"{cfg.layer} ({c} filters); {cfg.n_eval} test canvases, mean +- sd over {len(results)} seeds")
    plot_metrics(table, out / "explanations_metrics.png", c, title)
    with np.load(out / "seeds" / f"seed{cfg.seeds[0]}_{cfg.key()}.npz") as z:
        ex = {k: z[k] for k in z.files}
    plot_examples(ex, out / "explanations_examples.png", min(cfg.example_k, c),
                  f"Grad-CAM at {cfg.layer}, seed {cfg.seeds[0]} (green: object box)")
    sj.write_csv(out / "explanations_table.csv", table)
    sj.write_csv(out / "explanations_vs_random.csv", vs)
    report = {
        "experiment": "explanations",
        "config": dataclasses.asdict(cfg),
        "layer": cfg.layer,
        "tags": {"freqs_hz": list(cfg.tags_hz), "fps": cfg.fps, "n_frames": cfg.n_frames,
                 "parts": "2x2 grid of quadrants (top-left, top-right, bottom-left, bottom-right)",
                 "max_order": cfg.max_order,
                 "rows_per_kind": {label: len(sj.scores.component_rows(cfg.design, kind))
                                   for label, kind in sj.explain.TAG_SELECTORS.items()}},
        "per_seed": [{k: v for k, v in r.items() if k != "rows"} for r in results],
        "table": table,
        "versus_random": vs,
        "seconds": {"total_this_call": round(time.time() - t0, 1),
                    "sum_of_seeds": round(sum(r["seconds"]["total"] for r in results), 1)},
    }
    sj.write_text(out / "explanations.json", json.dumps(report, indent=1))
    print(summary(table, vs, c))
    print(f"wrote {out}/explanations.json, explanations_table.csv, explanations_vs_random.csv, "
          f"explanations_metrics.png, explanations_examples.png in {report['seconds']['total_this_call']} s")
    return report


def summary(table: list[dict], vs: list[dict], c: int) -> str:
    """A short markdown table: all filters, and tag/baselines minus random at each k, for Grad-CAM."""
    lines = ["| method | selector | k | energy in box | concentration | localisation | deletion | insertion |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(r, m):
        return f"{r[m]:.3f} +- {r[m + '_sd']:.3f}" if m in r else ""

    for r in table:
        if r["selector"] in ("all", "tag:combined", "tag-image:combined", "random", "l1", "activation-image"):
            lines.append(f"| {r['method']} | {r['selector']} | {r['k']} | "
                         + " | ".join(cell(r, m) for m in ("energy_in_box", "concentration", "localisation",
                                                           "deletion", "insertion")) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
