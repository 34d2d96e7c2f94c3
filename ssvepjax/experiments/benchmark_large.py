"""Benchmark probing ImageNet-size models: ResNet-50 and a ViT, one image, against their forward pass (issue 13).

Random weights (``models.random_variables``: cost does not depend on them), one random image, the paper's design
(``Design()``: 6 and 7.5 Hz, 120 fps, 240 frames; one stimulus period is ``TagConfig.period_frames`` = 80 frames).
For each case (model, image side) the contenders of :data:`KINDS`:

- ``forward_period``: the plain jitted forward pass (logits only) of the 80 frames of one period, the frames the
  probe runs, as one batch;
- ``forward_period_vmap``: the same 80 frames through ``jax.vmap`` of the one-frame forward pass
  (``model.apply(variables, frame[None])``), the form in which the probe runs the network. XLA on CPUs compiles
  the two differently (the vmapped ViTs ran about 20% faster here), so the probe is also compared with the
  faster of the two (``probe/forward_period_best``);
- ``forward_all``: the batched forward pass of all 240 frames;
- ``probe``: ``probe_dataset(fn, image[None], masks, Design(), chunk_size=1, progress=False)`` with
  ``fn = linen_fn(model, variables, capture_intermediates=False, train=False)``, which records every sown unit:
  every conv's pre- and post-activation for the ResNet, the attention, MLP and block outputs of every ViT block
  (patch and class tokens as units, ``[n_tokens, dim]``), until the image-averaged spectra
  ``{layer: [121, *unit_shape]}`` are ready;
- ``probe_blocks``: the same with ``frame_block=16``: the coefficients are accumulated block by block of 16
  frames as the network produces them, so no more than 16 frames of activations are alive;
- ``probe_amplitude``: the same, returning only each unit's amplitude at the 27 components
  (``measures=("amplitude",)``) instead of its 121-bin spectrum;
- ``probe_filter`` (issue 22): ``granularity="filter"``, each filter's spectrum (the mean of its neurons'
  amplitude spectra over positions, taken inside the image's step), and ``probe_filter_blocks`` the same with
  ``frame_block=16``;
- ``forward_period_x8`` and ``probe_filter_x8``: 8 images, the forward pass of each image's 80 frames one image
  after another (the frames the probe runs), and the filter-level probe of the 8 images (``chunk_size=8``);
- ``probe_budget``: per neuron, ``measures=("amplitude", "snr", "z")``, ``frame_block=16``,
  ``memory_budget=budget_gb`` (4 GB): the layers probed in groups, one pass each (``streaming.budget``);
  ``budget_groups`` and ``budget_estimate_gb`` (the largest group's estimate) are reported.

Ratios (``ratios``): each probe's time over the forward pass of the same frames, per round, median and min-max
(``probe_filter_x8/forward_period_x8``, ``probe_filter/forward_period``, ...), and ``peak_rss``: each probe's peak
resident memory over that forward pass's.

Memory: each contender runs in a fresh subprocess (warm-up call and one more) and reports its peak resident
memory (``ru_maxrss``), with glibc's mmap threshold fixed at 1 MiB so that RSS follows live memory. Time: one more
subprocess holds every contender that fitted in memory, calls each once (its first call minus its median is
``compile_s``), then runs ``repeats`` rounds in which every contender runs once, interleaved, so that a busy
machine slows them alike: medians, min-max, and the min-max over rounds of each round's ratio. The frames are made
before timing (``tag_frames``) for the forward passes; the probe tags inside its program.

Memory guard: the probe of a full ResNet-50 at 224 x 224 records 20.7 M units over 80 frames and returns 121 bins
of each, more than a small machine can spare. Every child runs under an address-space limit (``memory_limit_gb``
+ 3 GB of virtual overhead; an allocation past it is reported as ``"out_of_memory"``) and is killed when its
resident memory passes ``memory_limit_gb`` or the machine's available memory falls below ``min_free_gb``
(``"killed"``, with the peak seen); the run goes on with the next case.

Writes the result (``<out>/benchmark_large.json`` or ``json``), its rows as a CSV table beside it and
``benchmark_large.png`` (time and peak memory against image side).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import subprocess
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax import models
from ssvepjax.experiments.benchmarking import (
    BenchmarkConfig,
    child_command,
    child_env,
    peak_rss_mib,
    result_path,
    timed,
    write_result,
)
from ssvepjax.experiments.store import Store
from ssvepjax.recording import linen_fn
from ssvepjax.report import plots
from ssvepjax.spectral import Design
from ssvepjax.streaming import budget as B
from ssvepjax.streaming import probe_dataset
from ssvepjax.tagging import halves, tag_frames

__all__ = ["KINDS", "MODELS", "Config", "child", "child_memory", "child_timing", "contenders", "measure", "report",
           "run"]

#: Every contender the benchmark can time: forward passes and probes (the README's table names them).
KINDS = ("forward_period", "forward_period_vmap", "forward_all", "probe", "probe_blocks", "probe_amplitude",
         "forward_period_x8", "probe_filter", "probe_filter_blocks", "probe_filter_x8", "probe_budget")
FRAME_BLOCK = 16  # frames per block of probe_blocks (divides the 80-frame period)
BATCH = 8  # images of the *_x8 contenders
BUDGET_GB = 4.0  # memory_budget of probe_budget
# The probes and the forward passes of the same frames they are compared with: (probe, forward of its frames).
PAIRS = (("probe", "forward_period"), ("probe_blocks", "forward_period"), ("probe_amplitude", "forward_period"),
         ("probe_filter", "forward_period"), ("probe_filter_blocks", "forward_period"),
         ("probe_filter_x8", "forward_period_x8"), ("probe_budget", "forward_period"))
#: The models of ``--cases``: ImageNet-size ones and two tiny ones for the tests.
MODELS = ("resnet50", "vit_s16", "vit_ti16", "resnet_tiny", "vit_tiny_test")
LABELS = {"forward_period": "forward, 80 frames", "forward_period_vmap": "forward, 80 frames, vmapped",
          "forward_all": "forward, 240 frames",
          "probe": "probe_dataset (80 frames, all units)",
          "probe_blocks": f"probe_dataset, blocks of {FRAME_BLOCK} frames",
          "probe_amplitude": "probe_dataset, blocks, amplitudes at the components",
          "forward_period_x8": f"forward, 80 frames x {BATCH} images",
          "probe_filter": "probe_dataset, per filter",
          "probe_filter_blocks": f"probe_dataset, per filter, blocks of {FRAME_BLOCK}",
          "probe_filter_x8": f"probe_dataset, per filter, {BATCH} images",
          "probe_budget": "probe_dataset, per neuron, measures, memory budget"}
CSV_COLUMNS = ("model", "size", "kind", "status", "frames", "layers", "units", "params", "median_s", "min_s", "max_s",
               "compile_s", "peak_rss_gb", "peak_rss_seen_gb", "reason")


@dataclasses.dataclass(frozen=True)
class Config(BenchmarkConfig):
    """The cases and the guard (``QUICK``: two tiny models at 64 x 64, about 5 minutes).

    Attributes:
        cases: ``"model:side"`` (models: :data:`MODELS`), one random image of ``side x side`` pixels each.
        repeats: timed rounds after the warm-up call.
        memory_limit_gb: a child is killed past this resident memory.
        min_free_gb: ... or when the machine's available memory falls below this.
        timeout_s: ... or when it runs longer than this.
        kinds: the contenders (a subset of :data:`KINDS`).
        budget_gb: ``memory_budget`` of ``probe_budget``.
        json: write the result here (CSV and figure beside it).
    """

    QUICK = dict(cases=("resnet_tiny:64", "vit_tiny_test:64"), repeats=2, memory_limit_gb=4.0, timeout_s=300.0,
                 budget_gb=0.05)

    cases: tuple[str, ...] = ("resnet50:112", "resnet50:160", "resnet50:224", "vit_ti16:224", "vit_s16:224")
    repeats: int = 3
    memory_limit_gb: float = 12.0
    min_free_gb: float = 1.5
    timeout_s: float = 1800.0
    kinds: tuple[str, ...] = KINDS
    budget_gb: float = BUDGET_GB

    def __post_init__(self):
        for case in self.cases:
            model, _, side = case.partition(":")
            if model not in MODELS or not side.isdigit() or int(side) < 1:
                raise ValueError(f"cases: {case!r} is not model:side with a model of {', '.join(MODELS)} and a "
                                 "side >= 1 (e.g. resnet50:224)")
        if not self.kinds or not set(self.kinds) <= set(KINDS):
            raise ValueError(f"kinds must be a subset of {', '.join(KINDS)}, got {self.kinds}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")

    @property
    def case_list(self) -> list[tuple[str, int]]:
        """``[(model, side)]``."""
        return [(m, int(s)) for m, _, s in (c.partition(":") for c in self.cases)]


def build(name: str):
    """The Flax model of a case (random weights come from ``models.random_variables``)."""
    return {
        "resnet50": lambda: models.resnet50(),
        "vit_s16": lambda: models.vit_small(16),
        "vit_ti16": lambda: models.vit_tiny(16),
        "resnet_tiny": lambda: models.ImageNetResNet((1, 1, 1, 1), num_classes=10, width=8),
        "vit_tiny_test": lambda: models.VisionTransformer(8, 32, depth=2, heads=2, num_classes=10),
    }[name]()


# ----------------------------------------------------------------------------------------------
# Child: one measurement in a fresh process.


def contenders(model_name: str, size: int, kinds, budget_gb: float = BUDGET_GB) -> tuple[dict, dict]:
    """``({kind: call}, info)``: a no-argument function per contender that runs it to completion."""
    model = build(model_name)
    variables = jax.device_put(models.random_variables(model, jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)))
    image = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    masks = halves(size, size)
    design = Design()
    tags = design.tags
    fn = linen_fn(model, variables, capture_intermediates=False, train=False)
    acts = jax.eval_shape(fn, jax.ShapeDtypeStruct((size, size, 3), jnp.float32))
    units = {k: int(np.prod(a.shape)) for k, a in acts.items() if k != "output"}
    info = {"params": models.param_count(variables), "layers": len(units), "units": sum(units.values()),
            "period_frames": tags.period_frames, "n_frames": tags.n_frames}
    frames = tag_frames(image, masks, tags.freqs_hz, fps=tags.fps, n_frames=tags.n_frames)
    batched = jax.jit(lambda v, x: model.apply(v, x, train=False))
    vmapped = jax.jit(lambda v, x: jax.vmap(lambda f: model.apply(v, f[None], train=False)[0])(x))
    period, every = frames[: tags.period_frames], frames
    batch = np.random.default_rng(1).random((BATCH, size, size, 3), dtype=np.float32)

    def forward_x8():  # the frames the probe of the batch runs, one image's period at a time as the probe does
        for p in periods:
            jax.block_until_ready(batched(variables, p))

    # Made only where measured: 8 periods of frames are 0.4 GB at 224 x 224.
    periods = ([tag_frames(x, masks, tags.freqs_hz, fps=tags.fps, n_frames=tags.period_frames) for x in batch]
               if "forward_period_x8" in kinds else [])

    def probe(images, **kw):
        return lambda: jax.block_until_ready(probe_dataset(fn, images, masks, design, progress=False, **kw))

    budget = int(budget_gb * 2**30)
    if "probe_budget" in kinds:
        layers, frames_bytes = B.layer_bytes(fn, (size, size, 3), design, frame_block=FRAME_BLOCK, measures=3)
        groups = B.layer_groups(layers, frames_bytes, budget)
        info["budget_groups"] = len(groups)
        info["budget_estimate_gb"] = max(B.group_need(layers, g, frames_bytes) for g in groups) / 2**30
    calls = {
        "forward_period_x8": forward_x8,
        "probe_filter": probe(image[None], chunk_size=1, granularity="filter"),
        "probe_filter_blocks": probe(image[None], chunk_size=1, granularity="filter", frame_block=FRAME_BLOCK),
        "probe_filter_x8": probe(batch, chunk_size=BATCH, granularity="filter"),
        "probe_budget": probe(image[None], chunk_size=1, frame_block=FRAME_BLOCK, measures=("amplitude", "snr", "z"),
                              memory_budget=budget),
        "forward_period": lambda: jax.block_until_ready(batched(variables, period)),
        "forward_period_vmap": lambda: jax.block_until_ready(vmapped(variables, period)),
        "forward_all": lambda: jax.block_until_ready(batched(variables, every)),
        "probe": probe(image[None], chunk_size=1),
        "probe_blocks": probe(image[None], chunk_size=1, frame_block=FRAME_BLOCK),
        "probe_amplitude": probe(image[None], chunk_size=1, frame_block=FRAME_BLOCK, measures=("amplitude",)),
    }
    return {k: calls[k] for k in kinds}, info


def child_memory(model_name: str, size: int, kind: str, budget_gb: float = BUDGET_GB) -> dict:
    """One contender in this fresh process: warm-up call, one more, peak resident memory."""
    calls, info = contenders(model_name, size, [kind], budget_gb)
    first = timed(calls[kind])
    second = timed(calls[kind])
    frames = info["n_frames"] if kind == "forward_all" else info["period_frames"]
    if kind.endswith("_x8"):
        frames *= BATCH
    return {**info, "status": "ok", "frames": frames, "first_call_s": first, "second_call_s": second,
            "peak_rss_gb": peak_rss_mib() / 1024}


def _spread(values) -> dict:
    return {"median": float(np.median(values)), "min": min(values), "max": max(values)}


def child_timing(model_name: str, size: int, kinds, repeats: int, budget_gb: float = BUDGET_GB) -> dict:
    """Every contender in one process: warm-up, then ``repeats`` interleaved rounds."""
    calls, info = contenders(model_name, size, kinds, budget_gb)
    first = {k: timed(c) for k, c in calls.items()}
    rounds = [{k: timed(c) for k, c in calls.items()} for _ in range(repeats)]
    out = {"info": info, "kinds": {}, "ratios": {}}
    for k in calls:
        t = [r[k] for r in rounds]
        med = float(np.median(t))
        out["kinds"][k] = {"median_s": med, "min_s": min(t), "max_s": max(t), "times_s": t,
                           "first_call_s": first[k], "compile_s": first[k] - med}
    for probe, base in PAIRS:
        if probe in calls and base in calls:
            out["ratios"][f"{probe}/{base}"] = _spread([x[probe] / x[base] for x in rounds])
        if probe in calls and base == "forward_period" and "forward_period_vmap" in calls:
            out["ratios"][f"{probe}/forward_period_best"] = _spread(
                [x[probe] / min(x["forward_period"], x["forward_period_vmap"]) for x in rounds])
    if "probe" in calls and "forward_all" in calls:
        out["ratios"]["probe/forward_all"] = _spread([x["probe"] / x["forward_all"] for x in rounds])
    return out


def child(argv: list[str]) -> None:
    """A child's entry (:func:`measure` starts it): ``memory MODEL SIDE KIND [BUDGET_GB]`` or
    ``timing MODEL SIDE KIND,KIND,... REPEATS [BUDGET_GB]``; prints ``RESULT <json>``."""
    mode, model_name, size, kinds, *rest = argv
    if mode == "memory":
        result = child_memory(model_name, int(size), kinds, *map(float, rest))
    else:
        result = child_timing(model_name, int(size), kinds.split(","), int(rest[0]), *map(float, rest[1:]))
    print("RESULT " + json.dumps(result), flush=True)


# ----------------------------------------------------------------------------------------------
# Parent: children under a memory guard.


def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _available_gb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    return float("inf")


def measure(child_args: list[str], cfg: Config, retries: int = 2) -> dict:
    """Run :func:`child` on ``child_args`` in a fresh subprocess under the memory guard: its result, or why not.

    A child stopped because other processes took the machine's memory is run again (up to ``retries`` times) once
    as much memory as it had reached is available again (waiting up to 10 minutes).
    """
    r = _measure_once(child_args, cfg)
    for _ in range(retries):
        if r.get("status") != "killed" or "available memory" not in r["reason"]:
            break
        deadline = time.monotonic() + 600
        while _available_gb() < r["peak_rss_seen_gb"] + 2 * cfg.min_free_gb and time.monotonic() < deadline:
            time.sleep(5)
        r = {**_measure_once(child_args, cfg), "retried": True}
    return r


def _measure_once(child_args: list[str], cfg: Config) -> dict:
    env = child_env()
    limit = int((cfg.memory_limit_gb + 3) * 2**30)

    def cap():  # in the child, before exec: a hard backstop if a spike outruns the watchdog
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    cmd = child_command(__name__, child_args)
    if _available_gb() < 2 * cfg.min_free_gb:  # the watchdog would stop it at once
        return {"status": "skipped", "reason": f"only {_available_gb():.1f} GB available"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True, preexec_fn=cap)
        peak, reason = 0.0, None
        while proc.poll() is None:
            rss = _rss_gb(proc.pid)
            peak = max(peak, rss)
            if rss > cfg.memory_limit_gb:
                reason = f"resident memory passed {cfg.memory_limit_gb} GB"
            elif _available_gb() < cfg.min_free_gb:
                reason = f"machine's available memory fell below {cfg.min_free_gb} GB"
            elif time.monotonic() - start > cfg.timeout_s:
                reason = f"ran past {cfg.timeout_s} s"
            if reason:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.1)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if reason:
        return {"status": "killed", "reason": reason, "peak_rss_seen_gb": peak, "seconds": seconds}
    lines = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = stderr.strip().splitlines()[-3:]
        # XLA's allocator failing at the address-space limit: the backstop, not a bug.
        oom = any(m in stderr for m in ("RESOURCE_EXHAUSTED", "MemoryError", "std::bad_alloc"))
        return {"status": "out_of_memory" if oom else "failed", "returncode": proc.returncode,
                "reason": f"address-space limit {cfg.memory_limit_gb + 3:.0f} GB" if oom else None,
                "peak_rss_seen_gb": peak, "seconds": seconds, "error": " | ".join(tail)}
    return json.loads(lines[-1][len("RESULT "):])


def _describe(r: dict) -> str:
    if r.get("status") == "ok":
        return f"peak RSS {r['peak_rss_gb']:.2f} GB" if "peak_rss_gb" in r else "ok"
    return (f"{r.get('status')}: {r.get('reason') or r.get('error')} "
            f"(peak RSS seen {r.get('peak_rss_seen_gb', 0):.2f} GB)")


def run(cfg: Config, store: Store) -> dict:
    """Every case: each contender's memory in a child of its own, then the time of those that fitted in one child."""
    rows, ratios = [], []
    bar = tqdm(total=len(cfg.cases) * (len(cfg.kinds) + 1), desc="benchmark_large", unit="run",
               disable=not cfg.progress)
    for model_name, size in cfg.case_list:
        case = []
        for kind in cfg.kinds:
            r = measure(["memory", model_name, str(size), kind, str(cfg.budget_gb)], cfg)
            case.append({"model": model_name, "size": size, "kind": kind, **r})
            bar.update(1)
            bar.write(f"{model_name:14s} {size:4d} {kind:20s} memory: {_describe(r)}")
        fits = [r["kind"] for r in case if r["status"] == "ok"]
        timing = (measure(["timing", model_name, str(size), ",".join(fits), str(cfg.repeats), str(cfg.budget_gb)], cfg)
                  if fits else {})
        bar.update(1)
        if timing.get("status", "ok") != "ok":
            bar.write(f"{model_name:14s} {size:4d} timing: {_describe(timing)}")
        for r in case:
            r.update(timing.get("kinds", {}).get(r["kind"], {}))
            if r["status"] == "ok" and "median_s" in r:
                bar.write(f"{model_name:14s} {size:4d} {r['kind']:20s} time: median {r['median_s']:.2f} s "
                          f"({r['min_s']:.2f}-{r['max_s']:.2f}), compile {r['compile_s']:.1f} s")
        peak = {r["kind"]: r["peak_rss_gb"] for r in case if r["status"] == "ok"}
        memory = {f"{p}/{b}": peak[p] / peak[b] for p, b in PAIRS if p in peak and b in peak}
        if timing.get("ratios") or memory:
            ratios.append({"model": model_name, "size": size, **timing.get("ratios", {}), "peak_rss": memory})
        rows += case
    bar.close()
    path = result_path(cfg, store)
    path.parent.mkdir(parents=True, exist_ok=True)
    plots.plot_large_probing(rows, str(path.parent / "benchmark_large.png"), kinds=KINDS, labels=LABELS,
                             memory_limit_gb=cfg.memory_limit_gb)
    result = {"config": dataclasses.asdict(cfg), "rows": rows, "ratios": ratios,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__,
                          "backend": jax.default_backend(), "load_average_at_end": os.getloadavg()}}
    return write_result(cfg, store, result, rows=[{c: r.get(c, "") for c in CSV_COLUMNS} for r in rows])


def report(result: dict) -> str:
    """What the command line prints: the ratios of every case."""
    return json.dumps(result["ratios"], indent=1)
