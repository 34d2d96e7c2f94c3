"""Experiment: train a CIFAR ResNet with and without each SSVEP loss term; what changes, and at what cost.

Issue 12. For each term of ``sj.TERMS`` (tag locking, intermodulation, purity) and each weight, and for plain
training, over several seeds, a CifarResNet is trained from scratch on mnist5k (``ssvepjax.training.
regularized``: the task loss plus ``weight * term`` on the first ``n_tagged`` images of every batch, tagged
for one stimulus period, 3 and 4 Hz at 24 frames/s over 24 frames, left and right halves, batch norm in
training mode; the same SGD-Nesterov-cosine optimiser and shuffles as ``sj.train_or_load``). Each run is
judged on held-out test images, batch norm in evaluation mode:

- test accuracy;
- each term's own measure at the regulated layers (``tag_measures`` with the training stimulus: the mean
  unit share the term rewards, ``1 - term``);
- the library's standard analysis (``sj.analyse`` + ``sj.layer_summary``) with the paper's stimulus (6 and
  7.5 Hz at 120 frames/s, 240 frames): the fraction of units that respond at intermodulation under the
  default rule (``any_intermodulation``) and the share of the units' AC power at intermodulation;
- accuracy with the left or the right half set to 0, or given Gaussian noise (clipped to [0, 1]).

Every run checkpoints with orbax every ``checkpoint_every`` steps (a killed run resumes and loses at most the
steps since its last checkpoint), writes its metrics as JSON lines (``metrics/<run>.jsonl``) and its result
(``runs/<run>.json``); a rerun skips finished runs.

    python experiments/train_regularized.py --quick --out runs/train_regularized_quick    # CI, about 1-2 min
    nice -n 10 python experiments/train_regularized.py --out runs/train_regularized        # full, ~1 h, 2 cores
    nice -n 10 python experiments/train_regularized.py --benchmark --out runs/train_regularized_bench

Writes ``train_regularized.json`` (settings, per-run results, table, differences from plain training paired
by seed), ``train_regularized_table.csv``, ``train_regularized_vs_plain.csv`` and ``train_regularized.png``.
``--benchmark`` times a plain and a regularised training step (medians over repeats) and writes
``benchmark.json``.
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

SHORT = {"tag_locking": "tag locking", "intermodulation": "intermodulation", "purity": "purity"}


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of one run (``quick()`` for CI). ``layers`` empty: both convs of the last block of stage 3."""

    seeds: tuple[int, ...] = (0, 1, 2)
    depth: int = 8
    width: int = 16
    epochs: int = 3
    batch_size: int = 64
    max_train: int | None = None
    terms: tuple[str, ...] = sj.TERMS
    weights: tuple[float, ...] = (1.0, 5.0)
    layers: tuple[str, ...] = ()
    n_tagged: int = 4
    tags_hz: tuple[float, ...] = (3.0, 4.0)
    fps: float = 24.0
    n_frames: int = 24
    max_order: int = 2
    n_probe: int = 64
    noise_sd: float = 0.5
    checkpoint_every: int = 20
    bench_repeats: int = 15

    @classmethod
    def quick(cls) -> Config:
        return cls(seeds=(0,), width=4, epochs=1, max_train=512, weights=(1.0,), n_tagged=2, n_probe=8,
                   checkpoint_every=4, bench_repeats=3)

    @property
    def reg_layers(self) -> tuple[str, ...]:
        n = sj.models.resnet_blocks(self.depth)
        return self.layers or (f"stage3_block{n - 1}/conv1/post", f"stage3_block{n - 1}/conv2/post")

    @property
    def tags(self) -> sj.TagConfig:
        return sj.TagConfig(self.tags_hz, fps=self.fps, n_frames=self.n_frames)

    def regularizer(self, term: str | None, weight: float = 0.0) -> sj.Regularizer:
        return sj.Regularizer({term: weight} if term else {}, layers=self.reg_layers, n_tagged=self.n_tagged,
                           tags=self.tags, max_order=self.max_order)

    def conditions(self) -> list[tuple[str, str | None, float]]:
        """``(name, term, weight)``: plain training, then every term at every weight."""
        return [("plain", None, 0.0)] + [(f"{t}@{w:g}", t, w) for t in self.terms for w in self.weights]

    def key(self) -> str:
        return sj.config_key(self)


def check(cfg: Config, image_shape) -> None:
    """Refuse bad settings before any training (one-line ValueErrors through ``sj.run_script``)."""
    sj.ModelConfig(depth=cfg.depth, width=cfg.width)
    sj.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size)
    for w in cfg.weights:
        if not (np.isfinite(w) and w >= 0):
            raise ValueError(f"--weights must be finite numbers >= 0, got {w!r}")
    if not cfg.seeds:
        raise ValueError("--seeds must name at least one seed")
    if cfg.n_probe < 1 or cfg.n_tagged > cfg.batch_size:
        raise ValueError(f"need n_probe >= 1 and n_tagged <= batch_size, got {cfg.n_probe}, {cfg.n_tagged}")
    module = sj.ModelConfig(depth=cfg.depth, width=cfg.width).build(10)
    for _, term, weight in cfg.conditions()[1:]:
        sj.regularizer(cfg.regularizer(term, weight), module, image_shape)  # terms, weights, tags, layer names


def run_one(cfg: Config, data, term, weight, seed, out: Path, cache_dir, progress) -> dict:
    """Train (or restore, or resume) one run and measure it on held-out images."""
    name = "plain" if term is None else f"{term}@{weight:g}"
    reg = cfg.regularizer(term, weight)
    t0 = time.time()
    trained = sj.train_regularized(data, sj.ModelConfig(depth=cfg.depth, width=cfg.width),
                                sj.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed), reg,
                                cache_dir=cache_dir, progress=progress, checkpoint_every=cfg.checkpoint_every,
                                metrics_path=out / "metrics" / f"{name}_seed{seed}.jsonl")
    t_train = time.time() - t0
    t0 = time.time()
    measures = sj.held_out_measures(trained.module, trained.variables, data.test_images[:cfg.n_probe], reg,
                                 cfg.reg_layers)
    h, w = data.image_shape[:2]
    corrupt = sj.part_corruption_accuracy(trained.module, trained.variables, data.test_images, data.test_labels,
                                       sj.halves(h, w), noise_sd=cfg.noise_sd, seed=seed)
    return {"condition": name, "term": term, "weight": weight, "seed": seed,
            "test_accuracy": trained.test_accuracy, "restored_model": trained.restored, "layers": measures,
            "corruption": corrupt, "seconds": {"train": round(t_train, 1), "measure": round(time.time() - t0, 1)}}


def flat(res: dict, layer: str) -> dict:
    """The numbers of one run at one layer, flat (the table's columns)."""
    m = res["layers"][layer]
    c = res["corruption"]
    row = {"test_accuracy": res["test_accuracy"]}
    row.update({f"share_{t}": m["share"][t] for t in sj.TERMS})
    row["any_intermodulation"] = m["analysis"]["any_intermodulation"]
    row["im_power_share"] = m["analysis"]["power_share"]["intermodulation"]
    row["harmonic_power_share"] = m["analysis"]["power_share"]["harmonic"]
    row.update({"acc_left_zeroed": c["zeroed"][0], "acc_right_zeroed": c["zeroed"][1],
                "acc_left_noised": c["noised"][0], "acc_right_noised": c["noised"][1]})
    return row


METRICS = ("test_accuracy", "share_tag_locking", "share_intermodulation", "share_purity", "any_intermodulation",
           "im_power_share", "harmonic_power_share", "acc_left_zeroed", "acc_right_zeroed", "acc_left_noised",
           "acc_right_noised")


def aggregate(results: list[dict], layers) -> tuple[list[dict], list[dict]]:
    """Per condition and layer: mean and sd over seeds; and differences from plain training paired by seed."""
    table, diffs = [], []
    conds = list(dict.fromkeys(r["condition"] for r in results))
    plain = {r["seed"]: r for r in results if r["condition"] == "plain"}
    for layer in layers:
        for cond in conds:
            rs = [r for r in results if r["condition"] == cond]
            rows = [flat(r, layer) for r in rs]
            row = {"condition": cond, "term": rs[0]["term"] or "", "weight": rs[0]["weight"], "layer": layer,
                   "n_seeds": len(rs)}
            d_row = dict(row)
            for m in METRICS:
                v = np.array([x[m] for x in rows], np.float64)
                row[m], row[f"{m}_sd"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")
                paired = [flat(r, layer)[m] - flat(plain[r["seed"]], layer)[m] for r in rs if r["seed"] in plain]
                if cond != "plain" and paired:
                    p = np.array(paired)
                    d_row[m], d_row[f"{m}_sd"] = float(p.mean()), float(p.std(ddof=1)) if len(p) > 1 else float("nan")
            table.append(row)
            if cond != "plain":
                diffs.append(d_row)
    return table, diffs


def markdown(table: list[dict], layer: str) -> str:
    cols = [("test acc", "test_accuracy"), ("tag-locking share", "share_tag_locking"),
            ("IM share", "share_intermodulation"), ("purity share", "share_purity"),
            ("any IM (std)", "any_intermodulation"), ("IM power (std)", "im_power_share"),
            ("acc L=0", "acc_left_zeroed"), ("acc R=0", "acc_right_zeroed"), ("acc L noised", "acc_left_noised"),
            ("acc R noised", "acc_right_noised")]
    lines = ["| condition | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in table:
        if r["layer"] == layer:
            lines.append(f"| {r['condition']} | " + " | ".join(
                f"{r[m]:.3f} ± {r[m + '_sd']:.3f}" if np.isfinite(r[m + "_sd"]) else f"{r[m]:.3f}"
                for _, m in cols) + " |")
    return "\n".join(lines)


def plot(table: list[dict], layer: str, cfg: Config, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table if r["layer"] == layer]
    plain = next(r for r in rows if r["condition"] == "plain")
    weights = [0.0, *cfg.weights]
    x = np.arange(len(weights))
    panels = [("test_accuracy", "test accuracy"), ("own", "the term's own measure\n(mean unit share, held out)"),
              ("im_power_share", "IM share of AC power\n(standard analysis, 6/7.5 Hz)"),
              ("any_intermodulation", "fraction of units responding\nat any IM (standard analysis)"),
              ("acc_half_zeroed", "accuracy, one half set to 0\n(mean of left and right)"),
              ("acc_half_noised", f"accuracy, noise sd {cfg.noise_sd:g} on one half\n(mean of left and right)")]
    colors = dict(zip(sj.TERMS, plt.cm.tab10.colors))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for ax, (key, label) in zip(axes.flat, panels):
        for k, term in enumerate(cfg.terms):
            series = [plain] + [next(r for r in rows if r["condition"] == f"{term}@{w:g}") for w in cfg.weights]
            if key == "own":
                m = f"share_{term}"
                v = [r[m] for r in series]
                sd = [r[m + "_sd"] for r in series]
            elif key.startswith("acc_half"):
                kind = key.split("_")[-1]
                v = [(r[f"acc_left_{kind}"] + r[f"acc_right_{kind}"]) / 2 for r in series]
                sd = [np.hypot(r[f"acc_left_{kind}_sd"], r[f"acc_right_{kind}_sd"]) / 2 for r in series]
            else:
                v = [r[key] for r in series]
                sd = [r[key + "_sd"] for r in series]
            ax.errorbar(x + (k - 1) * 0.06, v, yerr=np.nan_to_num(sd), marker="o", ms=4, capsize=3,
                        color=colors[term], label=SHORT[term])
        ax.set_xticks(x, ["0 (plain)", *[f"{w:g}" for w in cfg.weights]])
        ax.set_xlabel("term weight")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(title="loss term", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def benchmark(cfg: Config, data, out: Path, progress: bool) -> dict:
    """Median wall time of a plain and of regularised training steps (same batch, same state), interleaved."""
    model = sj.ModelConfig(depth=cfg.depth, width=cfg.width)
    module = model.build(data.num_classes)
    tx = sj.optimizer(sj.TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size), 1000)
    v = module.init(jax.random.key(0), jnp.zeros((1, *data.image_shape)), train=False)
    state = {"params": v["params"], "batch_stats": v["batch_stats"], "opt_state": tx.init(v["params"]),
             "epoch": jnp.zeros((), jnp.int32)}
    x, y = data.train_images[:cfg.batch_size], data.train_labels[:cfg.batch_size]
    variants = {"plain": None}
    for term in cfg.terms:
        variants[f"{term} (n_tagged={cfg.n_tagged})"] = cfg.regularizer(term, 1.0)
    for n in sorted({1, 2, 8} - {cfg.n_tagged}):
        if n <= cfg.batch_size:
            variants[f"intermodulation (n_tagged={n})"] = dataclasses.replace(
                cfg.regularizer("intermodulation", 1.0), n_tagged=n)
    steps, compile_s = {}, {}
    for name, reg in tqdm(variants.items(), desc="compile", disable=not progress):
        step = sj.make_steps(module, tx, None if reg is None else sj.regularizer(reg, module, data.image_shape))[0]
        t0 = time.perf_counter()
        jax.block_until_ready(step(state, x, y))
        compile_s[name] = time.perf_counter() - t0
        steps[name] = step
    times = {name: [] for name in steps}
    for _ in tqdm(range(cfg.bench_repeats), desc="timing", disable=not progress):
        for name, step in steps.items():
            t0 = time.perf_counter()
            jax.block_until_ready(step(state, x, y))
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    report = {"experiment": "train_regularized benchmark", "model": f"ResNet-{cfg.depth} width {cfg.width}",
              "batch_size": cfg.batch_size, "frames_per_tagged_image": cfg.tags.period_frames,
              "layers": list(cfg.reg_layers), "repeats": cfg.bench_repeats, "devices": str(jax.devices()),
              "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
              "median_step_s": med, "ratio_to_plain": {k: v / med["plain"] for k, v in med.items()},
              "compile_s": compile_s, "all_s": times}
    sj.write_json(out / "benchmark.json", report)
    print(f"ResNet-{cfg.depth} (width {cfg.width}), batch {cfg.batch_size}, tagged images x "
          f"{cfg.tags.period_frames} frames; median of {cfg.bench_repeats} steps:")
    for k, v in med.items():
        print(f"  {k:36s} {v * 1e3:8.1f} ms   x{v / med['plain']:.2f}")
    return report


def parse_args(argv=None) -> tuple[Config, argparse.Namespace]:
    """The configuration and the options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size (about 1-2 minutes)")
    p.add_argument("--benchmark", action="store_true", help="time plain and regularised steps, then stop")
    p.add_argument("--out", default=None, help="output folder (runs/train_regularized[_quick])")
    p.add_argument("--cache-dir", default=None, help="checkpoint cache (default: sj's cache folder)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--seeds", type=lambda s: tuple(int(v) for v in s.split(",")), help="e.g. 0,1,2")
    p.add_argument("--terms", type=lambda s: tuple(s.split(",")), help=f"subset of {','.join(sj.TERMS)}")
    p.add_argument("--weights", type=lambda s: tuple(float(v) for v in s.split(",")), help="e.g. 1,5")
    p.add_argument("--layers", type=lambda s: tuple(s.split(",")), help="sown layers the terms read")
    p.add_argument("--tags", type=lambda s: tuple(float(v) for v in s.split(",")), help="training tags in Hz")
    p.add_argument("--fps", type=float)
    p.add_argument("--frames", type=int, help="frames of the training stimulus")
    p.add_argument("--epochs", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--n-tagged", type=int)
    p.add_argument("--max-train", type=int)
    p.add_argument("--checkpoint-every", type=int)
    args = p.parse_args(argv)
    cfg = Config.quick() if args.quick else Config()
    names = {"seeds": "seeds", "terms": "terms", "weights": "weights", "layers": "layers", "tags": "tags_hz",
             "fps": "fps", "frames": "n_frames", "epochs": "epochs", "depth": "depth", "width": "width",
             "n_tagged": "n_tagged", "max_train": "max_train", "checkpoint_every": "checkpoint_every"}
    cfg = dataclasses.replace(cfg, **{f: getattr(args, a) for a, f in names.items() if getattr(args, a) is not None})
    return cfg, args


def main(argv=None) -> dict:
    cfg, args = parse_args(argv)
    data = sj.load_dataset("mnist5k", max_train=cfg.max_train)
    check(cfg, data.image_shape)
    default = "runs/train_regularized" + ("_bench" if args.benchmark else "") + ("_quick" if args.quick else "")
    out = Path(args.out or default)
    progress = not args.no_progress
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if args.benchmark:
        return benchmark(cfg, data, out, progress)
    t0 = time.time()
    results = []
    jobs = [(c, s) for s in cfg.seeds for c in cfg.conditions()]
    for (name, term, weight), seed in tqdm(jobs, desc="runs", disable=not progress):
        path = out / "runs" / f"{name}_seed{seed}_{cfg.key()}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
            continue
        res = run_one(cfg, data, term, weight, seed, out, args.cache_dir, progress)
        sj.write_json(path, res)
        results.append(res)
        print(f"{name} seed {seed}: accuracy {res['test_accuracy']:.3f}, {res['seconds']}", flush=True)
    layers = cfg.reg_layers
    table, diffs = aggregate(results, layers)
    last = layers[-1]
    title = (f"ResNet-{cfg.depth} (width {cfg.width}) on mnist5k, {cfg.epochs} epoch(s); terms at "
             f"{', '.join(layers)} on {cfg.n_tagged} tagged images per step\nmeasured at {last} on {cfg.n_probe} "
             f"test images (accuracies on {len(data.test_images)}); mean ± sd over {len(cfg.seeds)} seed(s)")
    plot(table, last, cfg, out / "train_regularized.png", title)
    sj.write_csv(out / "train_regularized_table.csv", table)
    sj.write_csv(out / "train_regularized_vs_plain.csv", diffs)
    report = {
        "experiment": "train_regularized", "config": dataclasses.asdict(cfg), "quick": args.quick,
        "regulated_layers": list(layers), "table_layer": last,
        "training_stimulus": {"freqs_hz": list(cfg.tags_hz), "fps": cfg.fps, "n_frames": cfg.n_frames,
                              "period_frames": cfg.tags.period_frames, "max_order": cfg.max_order,
                              "parts": "left and right halves"},
        "analysis_stimulus": {"freqs_hz": list(sj.Design().tags.freqs_hz), "fps": sj.Design().tags.fps,
                              "n_frames": sj.Design().tags.n_frames, "rule": sj.Design().rule},
        "table": table, "vs_plain": diffs, "runs": results,
        "seconds": {"this_call": round(time.time() - t0, 1),
                    "sum_of_runs": round(sum(r["seconds"]["train"] + r["seconds"]["measure"] for r in results), 1)},
    }
    sj.write_json(out / "train_regularized.json", report)
    print(markdown(table, last))
    print(f"wrote {out}/train_regularized.json, train_regularized_table.csv, train_regularized_vs_plain.csv, "
          f"train_regularized.png in {report['seconds']['this_call']} s")
    return report


if __name__ == "__main__":
    sj.run_script(main)
