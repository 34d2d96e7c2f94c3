"""Train a CIFAR ResNet with and without each SSVEP loss term: what changes, and at what cost (issue 12).

For each term of ``training.TERMS`` (tag locking, intermodulation, purity) and each weight, and for plain
training, over several seeds, a CifarResNet is trained from scratch on mnist5k (``training.regularized``: the
task loss plus ``weight * term`` on the first ``n_tagged`` images of every batch, tagged for one stimulus period,
3 and 4 Hz at 24 frames/s over 24 frames, left and right halves, batch norm in training mode; the same
SGD-Nesterov-cosine optimiser and shuffles as ``train_or_load``). Each run is judged on held-out test images,
batch norm in evaluation mode:

- test accuracy;
- each term's own measure at the regulated layers (``tag_measures`` with the training stimulus: the mean unit
  share the term rewards, ``1 - term``);
- the library's standard analysis (``analyse`` + ``layer_summary``) with the paper's stimulus (6 and 7.5 Hz at
  120 frames/s, 240 frames): the fraction of units that respond at intermodulation under the default rule
  (``any_intermodulation``) and the share of the units' AC power at intermodulation;
- accuracy with the left or the right half set to 0, or given Gaussian noise (clipped to [0, 1]).

Every run checkpoints with orbax every ``checkpoint_every`` steps (a killed run resumes and loses at most the
steps since its last checkpoint), writes its metrics as JSON lines (``metrics/<run>.jsonl``) and its result as
a step of the store (``steps/<run>_seed<seed>_<key>.json``); a rerun reads finished runs back.

Writes ``train_regularized.json`` (settings, per-run results, table, differences from plain training paired by
seed), ``train_regularized_table.csv``, ``train_regularized_vs_plain.csv`` and ``train_regularized.png``.
``benchmark=True`` (``--benchmark``) instead times a plain and regularised training steps (medians over
``bench_repeats``, interleaved) and writes ``benchmark.json``.
"""

from __future__ import annotations

import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax.data import Dataset, load_dataset
from ssvepjax.experiments.framework import ExperimentConfig
from ssvepjax.experiments.store import Store
from ssvepjax.models import ModelConfig
from ssvepjax.models.cifar_resnet import resnet_blocks
from ssvepjax.report import plots
from ssvepjax.report.io import write_json
from ssvepjax.report.origin import provenance
from ssvepjax.spectral import Design
from ssvepjax.tagging import TagConfig, halves
from ssvepjax.training import (
    TERMS,
    Regularizer,
    TrainConfig,
    held_out_measures,
    make_steps,
    optimizer,
    part_corruption_accuracy,
    regularizer,
    train_regularized,
)

__all__ = ["METRICS", "Config", "aggregate", "benchmark", "flat", "markdown", "report", "run", "run_one"]

DATASET = "mnist5k"
#: What each training run is judged by on held-out images (accuracies, measures, corrupted-half accuracies).
METRICS = ("test_accuracy", "share_tag_locking", "share_intermodulation", "share_purity", "any_intermodulation",
           "im_power_share", "harmonic_power_share", "acc_left_zeroed", "acc_right_zeroed", "acc_left_noised",
           "acc_right_noised")
COLUMNS = [("test acc", "test_accuracy"), ("tag-locking share", "share_tag_locking"),
           ("IM share", "share_intermodulation"), ("purity share", "share_purity"),
           ("any IM (std)", "any_intermodulation"), ("IM power (std)", "im_power_share"),
           ("acc L=0", "acc_left_zeroed"), ("acc R=0", "acc_right_zeroed"), ("acc L noised", "acc_left_noised"),
           ("acc R noised", "acc_right_noised")]


@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Sizes of the experiment (``QUICK``: the CI size, about 2 minutes).

    Attributes:
        seeds: training seeds (initialisation and shuffles); every condition runs with each.
        depth, width, epochs, batch_size, max_train: the network (``ModelConfig``) and its training on mnist5k.
        terms, weights: every term at every weight (and plain training, weight 0).
        layers: the sown layers the terms read; empty: both convs of the last block of stage 3.
        n_tagged: images of every batch tagged for the terms.
        tags, fps, frames: the training stimulus (tags in Hz, left and right halves; one period is tagged).
        max_order: highest intermodulation order of the terms.
        n_probe: held-out test images of the measures (accuracies use every test image).
        noise_sd: Gaussian noise (pixel units) on one half for the corruption accuracy.
        checkpoint_every: training steps between orbax checkpoints (a killed run resumes from the last).
        benchmark: time plain and regularised training steps instead (``benchmark.json``).
        bench_repeats: timed steps per variant of the benchmark.
        cache_dir: checkpoint cache (``$SSVEPJAX_CACHE`` or ``~/.cache/ssvepjax`` when None).
    """

    QUICK = dict(seeds=(0,), width=4, epochs=1, max_train=512, weights=(1.0,), n_tagged=2, n_probe=8,
                 checkpoint_every=4, bench_repeats=3)
    RUNTIME = ("quick", "progress", "benchmark", "bench_repeats", "cache_dir")

    seeds: tuple[int, ...] = (0, 1, 2)
    depth: int = 8
    width: int = 16
    epochs: int = 3
    batch_size: int = 64
    max_train: int | None = None
    terms: tuple[str, ...] = TERMS
    weights: tuple[float, ...] = (1.0, 5.0)
    layers: tuple[str, ...] = ()
    n_tagged: int = 4
    tags: tuple[float, ...] = (3.0, 4.0)
    fps: float = 24.0
    frames: int = 24
    max_order: int = 2
    n_probe: int = 64
    noise_sd: float = 0.5
    checkpoint_every: int = 20
    benchmark: bool = False
    bench_repeats: int = 15
    cache_dir: str | None = None

    def __post_init__(self):
        ModelConfig(depth=self.depth, width=self.width)  # their own checks: depth, width, epochs, batch size
        TrainConfig(epochs=self.epochs, batch_size=self.batch_size)
        for w in self.weights:
            if not (np.isfinite(w) and w >= 0):
                raise ValueError(f"weights must be finite numbers >= 0, got {w!r}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.n_probe < 1 or self.n_tagged > self.batch_size:
            raise ValueError(f"need n_probe >= 1 and n_tagged <= batch_size, got {self.n_probe}, {self.n_tagged}")
        for _, term, weight in self.conditions()[1:]:
            self.regularizer(term, weight)  # terms, weights, tags (on-bin, two for intermodulation)

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig(depth=self.depth, width=self.width)

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, seed=seed)

    @property
    def reg_layers(self) -> tuple[str, ...]:
        n = resnet_blocks(self.depth)
        return self.layers or (f"stage3_block{n - 1}/conv1/post", f"stage3_block{n - 1}/conv2/post")

    @property
    def stimulus(self) -> TagConfig:
        """The training stimulus."""
        return TagConfig(self.tags, fps=self.fps, n_frames=self.frames)

    def regularizer(self, term: str | None, weight: float = 0.0) -> Regularizer:
        return Regularizer({term: weight} if term else {}, layers=self.reg_layers, n_tagged=self.n_tagged,
                           tags=self.stimulus, max_order=self.max_order)

    def conditions(self) -> list[tuple[str, str | None, float]]:
        """``(name, term, weight)``: plain training, then every term at every weight."""
        return [("plain", None, 0.0)] + [(f"{t}@{w:g}", t, w) for t in self.terms for w in self.weights]


def check_layers(cfg: Config, image_shape) -> None:
    """Refuse unknown layer names before any training (an abstract trace of each term)."""
    module = cfg.model_config.build(10)
    for _, term, weight in cfg.conditions()[1:]:
        regularizer(cfg.regularizer(term, weight), module, image_shape)


def run_one(cfg: Config, data: Dataset, term: str | None, weight: float, seed: int, store: Store) -> dict:
    """Train (or restore, or resume) one run and measure it on held-out images."""
    name = "plain" if term is None else f"{term}@{weight:g}"
    reg = cfg.regularizer(term, weight)
    t0 = time.time()
    trained = train_regularized(data, cfg.model_config, cfg.train_config(seed), reg, cache_dir=cfg.cache_dir,
                                progress=cfg.progress, checkpoint_every=cfg.checkpoint_every,
                                metrics_path=store.path("metrics") / f"{name}_seed{seed}.jsonl")
    t_train = time.time() - t0
    t0 = time.time()
    measures = held_out_measures(trained.module, trained.variables, data.test_images[:cfg.n_probe], reg,
                                 cfg.reg_layers)
    h, w = data.image_shape[:2]
    corrupt = part_corruption_accuracy(trained.module, trained.variables, data.test_images, data.test_labels,
                                       halves(h, w), noise_sd=cfg.noise_sd, seed=seed)
    return {"condition": name, "term": term, "weight": weight, "seed": seed,
            "test_accuracy": trained.test_accuracy, "restored_model": trained.restored, "layers": measures,
            "corruption": corrupt, "seconds": {"train": round(t_train, 1), "measure": round(time.time() - t0, 1)}}


def flat(res: dict, layer: str) -> dict:
    """The numbers of one run at one layer, flat (the table's columns)."""
    m = res["layers"][layer]
    c = res["corruption"]
    row = {"test_accuracy": res["test_accuracy"]}
    row.update({f"share_{t}": m["share"][t] for t in TERMS})
    row["any_intermodulation"] = m["analysis"]["any_intermodulation"]
    row["im_power_share"] = m["analysis"]["power_share"]["intermodulation"]
    row["harmonic_power_share"] = m["analysis"]["power_share"]["harmonic"]
    row.update({"acc_left_zeroed": c["zeroed"][0], "acc_right_zeroed": c["zeroed"][1],
                "acc_left_noised": c["noised"][0], "acc_right_noised": c["noised"][1]})
    return row


def _mean_sd(values) -> tuple[float, float]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


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
                row[m], row[f"{m}_sd"] = _mean_sd([x[m] for x in rows])
                paired = [flat(r, layer)[m] - flat(plain[r["seed"]], layer)[m] for r in rs if r["seed"] in plain]
                if cond != "plain" and paired:
                    d_row[m], d_row[f"{m}_sd"] = _mean_sd(paired)
            table.append(row)
            if cond != "plain":
                diffs.append(d_row)
    return table, diffs


def markdown(table: list[dict], layer: str) -> str:
    """The table's rows at ``layer``: mean ± sd over seeds (the mean alone for one seed)."""
    lines = ["| condition | " + " | ".join(c for c, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for r in table:
        if r["layer"] == layer:
            lines.append(f"| {r['condition']} | " + " | ".join(
                f"{r[m]:.3f} ± {r[m + '_sd']:.3f}" if np.isfinite(r[m + "_sd"]) else f"{r[m]:.3f}"
                for _, m in COLUMNS) + " |")
    return "\n".join(lines)


def benchmark(cfg: Config, data: Dataset, store: Store) -> dict:
    """Median wall time of a plain and of regularised training steps (same batch, same state), interleaved."""
    module = cfg.model_config.build(data.num_classes)
    tx = optimizer(cfg.train_config(0), 1000)
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
    for name, reg in tqdm(variants.items(), desc="compile", disable=not cfg.progress):
        step = make_steps(module, tx, None if reg is None else regularizer(reg, module, data.image_shape))[0]
        t0 = time.perf_counter()
        jax.block_until_ready(step(state, x, y))
        compile_s[name] = time.perf_counter() - t0
        steps[name] = step
    times = {name: [] for name in steps}
    for _ in tqdm(range(cfg.bench_repeats), desc="timing", disable=not cfg.progress):
        for name, step in steps.items():
            t0 = time.perf_counter()
            jax.block_until_ready(step(state, x, y))
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    result = {"experiment": "train_regularized benchmark", "model": f"ResNet-{cfg.depth} width {cfg.width}",
              "batch_size": cfg.batch_size, "frames_per_tagged_image": cfg.stimulus.period_frames,
              "layers": list(cfg.reg_layers), "repeats": cfg.bench_repeats, "devices": str(jax.devices()),
              "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
              "median_step_s": med, "ratio_to_plain": {k: v / med["plain"] for k, v in med.items()},
              "compile_s": compile_s, "all_s": times}
    # benchmark.json beside (never over) the experiment's result, with the same provenance.
    stored = {**result, "provenance": provenance(cfg, started=store.started, experiment="train_regularized")}
    write_json(store.path("benchmark.json"), stored)
    return stored


def run(cfg: Config, store: Store) -> dict:
    """Train and judge every condition for every seed (finished runs are read back), then summarise."""
    data = load_dataset(DATASET, max_train=cfg.max_train)
    check_layers(cfg, data.image_shape)
    if cfg.benchmark:
        return benchmark(cfg, data, store)
    results = []
    jobs = [(c, s) for s in cfg.seeds for c in cfg.conditions()]
    for (name, term, weight), seed in tqdm(jobs, desc="runs", disable=not cfg.progress):

        def compute(term=term, weight=weight, seed=seed, name=name):
            res = run_one(cfg, data, term, weight, seed, store)
            print(f"{name} seed {seed}: accuracy {res['test_accuracy']:.3f}, {res['seconds']}", flush=True)
            return res

        results.append(store.step(f"{name}_seed{seed}_{cfg.key()}", compute))
    layers = cfg.reg_layers
    table, diffs = aggregate(results, layers)
    last = layers[-1]
    title = (f"ResNet-{cfg.depth} (width {cfg.width}) on {DATASET}, {cfg.epochs} epoch(s); terms at "
             f"{', '.join(layers)} on {cfg.n_tagged} tagged images per step\nmeasured at {last} on {cfg.n_probe} "
             f"test images (accuracies on {len(data.test_images)}); mean ± sd over {len(cfg.seeds)} seed(s)")
    plots.plot_regularized(table, last, str(store.path("train_regularized.png")), terms=cfg.terms,
                           weights=cfg.weights, noise_sd=cfg.noise_sd, title=title)
    design = Design()
    return store.write({
        "experiment": "train_regularized", "config": dataclasses.asdict(cfg), "quick": cfg.quick,
        "regulated_layers": list(layers), "table_layer": last,
        "training_stimulus": {"freqs_hz": list(cfg.tags), "fps": cfg.fps, "n_frames": cfg.frames,
                              "period_frames": cfg.stimulus.period_frames, "max_order": cfg.max_order,
                              "parts": "left and right halves"},
        "analysis_stimulus": {"freqs_hz": list(design.tags.freqs_hz), "fps": design.tags.fps,
                              "n_frames": design.tags.n_frames, "rule": design.rule},
        "table": table, "vs_plain": diffs, "runs": results,
        "seconds": {"this_call": round(store.seconds(), 1),
                    "sum_of_runs": round(sum(r["seconds"]["train"] + r["seconds"]["measure"] for r in results), 1)},
    }, tables={"train_regularized_table": table, "train_regularized_vs_plain": diffs})


def report(result: dict) -> str:
    """What the command line prints: the table at the measured layer, or the benchmark's step times."""
    if result["experiment"] == "train_regularized benchmark":
        med = result["median_step_s"]
        return "\n".join([f"{result['model']}, batch {result['batch_size']}, tagged images x "
                          f"{result['frames_per_tagged_image']} frames; median of {result['repeats']} steps:"]
                         + [f"  {k:36s} {v * 1e3:8.1f} ms   x{v / med['plain']:.2f}" for k, v in med.items()])
    return markdown(result["table"], result["table_layer"])
