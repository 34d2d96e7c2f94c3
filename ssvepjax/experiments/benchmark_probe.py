"""Benchmark the probe against a plain forward pass and against PyTorch (the targets of issues 4 and 13).

ResNet-``depth`` (random weights: speed does not depend on them) on a 32x32x3 image, the paper's design (6 and
7.5 Hz, 120 fps, 240 frames), one image and a batch of images. After warm-up, medians over ``repeats``
interleaved repeats (each repeat runs every contender once, so a busy machine slows them alike) of:

- ``probe_s``: ssvepjax from image(s) to per-neuron amplitude, SNR and z at every component bin of every conv
  layer (pre- and post-activation): ``probe_dataset(..., measures=...)`` (``chunk`` images per step; the
  measures are read from the accumulated rows, the full spectra are never formed); ``spectra_then_measures``:
  ``probe_dataset`` (the spectra) then ``spectrum_measures``.
- ``forward_s``: the same frames through the same network, jitted, nothing recorded (the floor).
- ``torch_loop_s``: the same architecture in PyTorch with forward hooks on every conv layer, one frame at a time,
  then ``torch.fft`` and the same measures (what published code does: ``testing.torch_resnet.TorchProbe``).
- ``torch_batched_s``: the same with all frames of an image in one batch.
- ``probe_every_frame``: every frame through the network (``one_period=False``), the time series stored and
  transformed; ``probe_blocks``: every frame, the coefficients accumulated block by block of ``frame_block``
  frames as the network produces them (``frame_block=``, ``lattice_only=True``: the time series is never
  stored), compared with ``forward`` (the same frames);
- ``compile_s``: the probe's first call minus its steady-state time.

The floors of issues 4 and 13 (:data:`FLOORS`) are judged on the medians (``floors``).

PyTorch is optional (``pip install torch==2.13.0``); without it the torch numbers are skipped. ``memory=True``
runs ``probe_dataset`` on ``memory_sizes`` images (a data loader of 16-image batches), each in a fresh
subprocess, and reports the peak resident memory (``ru_maxrss``) of each, with glibc's mmap threshold fixed at
1 MiB so that RSS follows live memory (``keep_malloc``: as is). ``memory_frames=(240, 480, 960)`` instead
measures, for each recording length T (the same 80-frame stimulus period), the peak RSS of one image's
every-frame probe stored, in frame blocks (spectra), in frame blocks returning only the measures at the
components, and of the plain forward pass of its T frames, each in a fresh subprocess (ResNet ``depth``); the peak
includes the compiler's unless ``warm_cache`` (each case run twice, the second reading its programs from a
persistent compilation cache).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax.analysis import spectrum_measures
from ssvepjax.experiments.benchmarking import BenchmarkConfig, child_env, peak_rss_mib, run_child, timed, write_result
from ssvepjax.experiments.store import Store
from ssvepjax.models import CifarResNet
from ssvepjax.recording import linen_fn
from ssvepjax.spectral import Design
from ssvepjax.streaming import probe_dataset
from ssvepjax.tagging import TagConfig, halves, tag_batch
from ssvepjax.testing.torch_resnet import TorchProbe, torch_device

__all__ = ["FLOORS", "Config", "check_floors", "child", "report", "run", "summarise"]

#: The targets each measured ratio is checked against: ``{ratio: (comparison, bound)}``.
FLOORS = {"probe/forward": ("<=", 1.25), "torch_loop/probe": (">=", 4.0),
          "torch_batched/probe": (">=", 1.5), "compile_s": ("<=", 5.0)}
DATASET_FLOOR = 1.3  # probe_dataset over the plain forward of the same images' frames
MEASURES = ("amplitude", "snr", "z")
DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass(frozen=True)
class Config(BenchmarkConfig):
    """The cases (``QUICK``: 2 repeats, 2 images in chunks of 2; memory on 4, 8 and 16 images).

    Attributes:
        batch, chunk: images of the batch case, and per ``probe_dataset`` step.
        repeats: timed repeats after warm-up.
        depth: CIFAR ResNet depth (6n + 2).
        device: PyTorch device (``auto``, ``cpu``, ``cuda``; JAX uses its default backend: install jax[cuda12]
            for GPUs).
        torch: time the PyTorch baselines (``--no-torch``: skip them).
        torch_loop_batch: also time the frame-by-frame PyTorch loop on the batch (slow on CPUs).
        frame_block: frames per block of the block-wise probe.
        memory: measure peak RSS of ``probe_dataset`` on ``memory_sizes`` images instead (``memory_chunk`` images
            per step, ResNet ``memory_depth``).
        keep_malloc: memory runs: leave glibc's dynamic mmap threshold on (RSS then includes freed buffers that
            the allocator keeps).
        memory_frames: recording lengths: peak RSS of the every-frame probe against T instead.
        warm_cache: ``memory_frames``: run each case twice with a persistent compilation cache and report the
            second (the run's peak without the compiler's).
        json: write the result here.
    """

    QUICK = dict(repeats=2, batch=2, chunk=2, memory_sizes=(4, 8, 16))

    batch: int = 8
    chunk: int = 4
    repeats: int = 5
    depth: int = 32
    device: str = "auto"
    torch: bool = True
    torch_loop_batch: bool = False
    frame_block: int = 40
    memory: bool = False
    memory_sizes: tuple[int, ...] = (64, 256, 1024)
    memory_chunk: int = 2
    memory_depth: int = 8
    keep_malloc: bool = False
    memory_frames: tuple[int, ...] = ()
    warm_cache: bool = False

    def __post_init__(self):
        if min(self.batch, self.chunk, self.repeats, self.frame_block) < 1:
            raise ValueError("batch, chunk, repeats and frame_block must be >= 1, got "
                             f"{self.batch}, {self.chunk}, {self.repeats}, {self.frame_block}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if any(n < 1 for n in (*self.memory_sizes, *self.memory_frames)):
            raise ValueError("memory_sizes and memory_frames must be integers >= 1")


def build(depth: int, size: int = 32):
    """A CIFAR ResNet with random weights: ``(model, variables, fn)`` (``fn`` records every sown unit)."""
    model = CifarResNet(depth)
    variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, size, size, 3)))
    fn = linen_fn(model, variables, capture_intermediates=False, train=False)
    return model, variables, fn


def images_of(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, size, size, 3)).astype(np.float32)


RATIOS = {"probe/forward": ("probe", "forward"), "torch_loop/probe": ("torch_loop", "probe"),
          "torch_batched/probe": ("torch_batched", "probe"),
          "probe/forward_period": ("probe", "forward_period"),
          "probe_every_frame/forward": ("probe_every_frame", "forward"),
          "torch_loop/probe_every_frame": ("torch_loop", "probe_every_frame"),
          "torch_batched/probe_every_frame": ("torch_batched", "probe_every_frame"),
          "probe_blocks/forward": ("probe_blocks", "forward"),
          "spectra_then_measures/forward": ("spectra_then_measures", "forward"),
          "dataset/forward": ("dataset", "forward"),
          "dataset_every_frame/forward": ("dataset_every_frame", "forward")}


def summarise(times: dict[str, list[float]]) -> dict:
    """Medians, and ratio medians with their min and max over the interleaved repeats."""
    out = {f"{k}_s": float(np.median(v)) for k, v in times.items()}
    ratios = {}
    for name, (a, b) in RATIOS.items():
        if a in times and b in times:
            # A contender timed once (the loop on the batch) is compared with each repeat of the other.
            num = np.asarray(times[a]) if len(times[a]) == len(times[b]) else float(np.median(times[a]))
            r = num / np.asarray(times[b])
            ratios[name] = {"median": float(np.median(r)), "min": float(r.min()), "max": float(r.max())}
    out["ratios"] = ratios
    out["runs"] = {k: [float(x) for x in v] for k, v in times.items()}
    return out


def _interleaved(contenders: dict, repeats: int) -> dict[str, list[float]]:
    times = {k: [] for k in contenders}
    for _ in range(repeats):
        for k, f in contenders.items():
            times[k].append(timed(f))
    return times


def run_single(cfg: Config, model, variables, fn, design, masks, torch_probe) -> dict:
    """One image: the probe, every frame, in blocks, spectra then measures, the forward passes, PyTorch."""
    image = images_of(1)[0]
    frames = tag_batch(image[None], masks, design.tags)[0]
    period = frames[: design.tags.period_frames]

    def measures_of(one_period, **kw):
        return lambda im: probe_dataset(fn, im[None], masks, design, progress=False, one_period=one_period,
                                        measures=MEASURES, **kw)

    probe, every = measures_of(True), measures_of(False)
    blocks = measures_of(False, frame_block=cfg.frame_block, lattice_only=True)

    def two_steps(im):
        spec = probe_dataset(fn, im[None], masks, design, progress=False)
        return spectrum_measures(spec, design, measures=MEASURES)

    first = timed(lambda: jax.block_until_ready(probe(image)))  # compiles
    first_every = timed(lambda: jax.block_until_ready(every(image)))
    first_blocks = timed(lambda: jax.block_until_ready(blocks(image)))
    jax.block_until_ready(two_steps(image))
    forward = jax.jit(lambda f: model.apply(variables, f))
    jax.block_until_ready(forward(frames))
    jax.block_until_ready(forward(period))
    contenders = {"forward": lambda: jax.block_until_ready(forward(frames)),
                  "forward_period": lambda: jax.block_until_ready(forward(period)),
                  "probe": lambda: jax.block_until_ready(probe(image)),
                  "probe_every_frame": lambda: jax.block_until_ready(every(image)),
                  "probe_blocks": lambda: jax.block_until_ready(blocks(image)),
                  "spectra_then_measures": lambda: jax.block_until_ready(two_steps(image))}
    if torch_probe is not None:
        contenders["torch_batched"] = lambda: torch_probe.probe(image[None], one_at_a_time=False)
        contenders["torch_loop"] = lambda: torch_probe.probe(image[None], one_at_a_time=True)
        contenders["torch_batched"]()  # warm-up (the loop runs the same kernels)
    for f in (contenders["forward"], contenders["probe"]):
        f()
    out = summarise(_interleaved(contenders, cfg.repeats))
    out["first_call_s"] = first
    out["compile_s"] = first - out["probe_s"]
    out["compile_every_frame_s"] = first_every - out["probe_every_frame_s"]
    out["compile_blocks_s"] = first_blocks - out["probe_blocks_s"]
    out["frame_block"] = cfg.frame_block
    out["images"], out["period_frames"], out["frames_per_image"] = 1, design.tags.period_frames, design.tags.n_frames
    return out


def run_batch(cfg: Config, model, variables, fn, design, masks, torch_probe) -> dict:
    """A batch of images: ``probe_dataset`` (measures, spectra, every frame) against the forward of its frames."""
    images = images_of(cfg.batch, seed=1)
    chunk = min(cfg.chunk, cfg.batch)
    frames = tag_batch(images, masks, design.tags)  # [N, T, H, W, C]

    def probe():
        return jax.block_until_ready(probe_dataset(fn, images, masks, design, chunk_size=chunk, progress=False,
                                                   measures=MEASURES))

    def dataset_only(one_period=True):
        return jax.block_until_ready(probe_dataset(fn, images, masks, design, chunk_size=chunk, progress=False,
                                                   one_period=one_period))

    forward = jax.jit(lambda f: model.apply(variables, f.reshape(-1, *f.shape[2:])))
    pad = -len(images) % chunk
    framed = jnp.concatenate([frames, jnp.zeros((pad, *frames.shape[1:]), frames.dtype)]) if pad else frames

    def forward_all():
        # The same frames, in the same chunks of images as probe_dataset (padding included).
        for i in range(0, framed.shape[0], chunk):
            out = forward(framed[i:i + chunk])
        return jax.block_until_ready(out)

    first = timed(probe)
    contenders = {"forward": forward_all, "probe": probe, "dataset": dataset_only,
                  "dataset_every_frame": lambda: dataset_only(False)}
    if torch_probe is not None:
        contenders["torch_batched"] = lambda: torch_probe.probe(images, one_at_a_time=False)
        contenders["torch_batched"]()
    for f in (forward_all, dataset_only, contenders["dataset_every_frame"]):
        f()
    times = _interleaved(contenders, cfg.repeats)
    if torch_probe is not None and cfg.torch_loop_batch:
        times["torch_loop"] = [timed(lambda: torch_probe.probe(images, one_at_a_time=True))]
    out = summarise(times)
    out["first_call_s"] = first
    out["compile_s"] = first - out["probe_s"]
    out["images"], out["chunk_size"], out["frames_per_image"] = cfg.batch, chunk, design.tags.n_frames
    return out


# ----------------------------------------------------------------------------------------------
# Memory: each measurement in a fresh process (``child``).


def memory_child(n: int, chunk: int, depth: int) -> dict:
    """One image count in this (fresh) process: peak RSS before and after probing."""
    _, _, fn = build(depth)

    def loader():  # a data loader: never more than one batch of 16 images in host memory
        for i in range(0, n, 16):
            yield images_of(min(16, n - i), seed=i)

    before = peak_rss_mib()
    t0 = time.perf_counter()
    spec = probe_dataset(fn, loader(), halves(32, 32), Design(), chunk_size=chunk, progress=False)
    jax.block_until_ready(spec)
    seconds = time.perf_counter() - t0
    return {"images": n, "seconds": seconds, "setup_rss_mib": before, "peak_rss_mib": peak_rss_mib()}


def frames_child(kind: str, n_frames: int, depth: int, frame_block: int) -> dict:
    """One (kind, T) in this (fresh) process: peak RSS of one image's every-frame probe or forward pass."""
    design = Design(TagConfig((6.0, 7.5), fps=120.0, n_frames=n_frames))
    masks = halves(32, 32)
    model, variables, fn = build(depth)
    image = images_of(1)[0]
    if kind == "forward":
        frames = tag_batch(image[None], masks, design.tags)[0]
        forward = jax.jit(lambda f: model.apply(variables, f))
        run = lambda: forward(frames)  # noqa: E731
    else:
        kw = {"frame_block": frame_block, "lattice_only": True} if kind.startswith("blocks") else {}
        if kind == "blocks_measures":  # the measures at the components only: no [T/2+1, units] result
            kw["measures"] = MEASURES
        run = lambda: probe_dataset(fn, image[None], masks, design, progress=False, one_period=False,  # noqa: E731
                                    **kw)
    before = peak_rss_mib()
    jax.block_until_ready(run())  # compiles and runs
    t0 = time.perf_counter()
    jax.block_until_ready(run())
    seconds = time.perf_counter() - t0
    return {"kind": kind, "n_frames": n_frames, "seconds": seconds, "setup_rss_mib": before,
            "peak_rss_mib": peak_rss_mib()}


def child(argv: list[str]) -> None:
    """A child's entry: ``memory N CHUNK DEPTH`` or ``frames KIND T DEPTH FRAME_BLOCK``; prints one JSON line."""
    mode, *args = argv
    result = memory_child(*map(int, args)) if mode == "memory" else frames_child(args[0], *map(int, args[1:]))
    print(json.dumps(result), flush=True)


def _from_child(args, env) -> dict:
    return json.loads(run_child(__name__, args, env).strip().splitlines()[-1])


def run_memory(cfg: Config) -> dict:
    """Peak RSS of ``probe_dataset`` on each of ``memory_sizes`` images, each in a fresh process."""
    env = child_env(fixed_malloc=not cfg.keep_malloc)
    rows = []
    for n in cfg.memory_sizes:
        rows.append(_from_child(["memory", n, cfg.memory_chunk, cfg.memory_depth], env))
        print(f"  {n:5d} images: peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB "
              f"(after setup {rows[-1]['setup_rss_mib']:.0f} MiB), {rows[-1]['seconds']:.1f} s", flush=True)
    peaks = [r["peak_rss_mib"] for r in rows]
    return {"depth": cfg.memory_depth, "chunk_size": cfg.memory_chunk, "runs": rows,
            "malloc_mmap_threshold": env.get("MALLOC_MMAP_THRESHOLD_"),
            "peak_growth_mib": max(peaks) - min(peaks)}


def run_memory_frames(cfg: Config) -> dict:
    """Each (kind, T) in a fresh process; with ``warm_cache`` twice, the second reading its programs from a
    persistent compilation cache that the first filled, so that its peak is the run's, without the compiler's."""
    cache = tempfile.mkdtemp(prefix="ssvepjax_jcc_") if cfg.warm_cache else None
    extra = dict(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0") if cache else {}
    env = child_env(fixed_malloc=not cfg.keep_malloc, **extra)
    rows = []
    for t in cfg.memory_frames:
        for kind in ("forward", "blocks_measures", "blocks", "stored"):
            for _ in range(2 if cache else 1):  # the last run counts
                row = _from_child(["frames", kind, t, cfg.depth, cfg.frame_block], env)
            rows.append(row)
            print(f"  T={t:5d} {kind:15s}: peak RSS {row['peak_rss_mib']:.0f} MiB "
                  f"(after setup {row['setup_rss_mib']:.0f} MiB), {row['seconds']:.2f} s", flush=True)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
    peak = {(r["kind"], r["n_frames"]): r["peak_rss_mib"] for r in rows}
    ts = sorted({r["n_frames"] for r in rows})
    return {"depth": cfg.depth, "frame_block": cfg.frame_block, "runs": rows, "warm_compilation_cache": bool(cache),
            "malloc_mmap_threshold": env.get("MALLOC_MMAP_THRESHOLD_"),
            "blocks_growth_mib": peak[("blocks", ts[-1])] - peak[("blocks", ts[0])],
            "blocks_measures_growth_mib": peak[("blocks_measures", ts[-1])] - peak[("blocks_measures", ts[0])],
            "blocks_measures_over_forward": {t: peak[("blocks_measures", t)] / peak[("forward", t)] for t in ts},
            "blocks_over_forward": {t: peak[("blocks", t)] / peak[("forward", t)] for t in ts},
            "stored_over_forward": {t: peak[("stored", t)] / peak[("forward", t)] for t in ts}}


# ----------------------------------------------------------------------------------------------
# The floors, and the run.


def check_floors(results: dict) -> dict:
    """Each floor of issue 4 on the default probe (one stimulus period), and the same floors for the probe that
    runs every frame (``one_period=False``: the path for aperiodic designs)."""
    verdict = {}

    def judge(name, value, op, bound):
        if value is not None:
            verdict[name] = {"value": value, "floor": f"{op} {bound}",
                             "met": bool(value <= bound if op == "<=" else value >= bound)}

    single, batch = results.get("single"), results.get("batch")
    if single:
        for name, (op, bound) in FLOORS.items():
            if name == "compile_s":
                judge(name, single["compile_s"], op, bound)
                judge(f"{name} (every frame)", single.get("compile_every_frame_s"), op, bound)
                continue
            judge(name, single["ratios"].get(name, {}).get("median"), op, bound)
            every = name.replace("probe", "probe_every_frame")
            judge(f"{every} (every frame)", single["ratios"].get(every, {}).get("median"), op, bound)
        # Issue 13: each path against the forward pass of the frames it runs.
        judge("probe/forward_period (issue 13)", single["ratios"].get("probe/forward_period", {}).get("median"),
              "<=", 1.3)
        judge("probe_blocks/forward (issue 13)", single["ratios"].get("probe_blocks/forward", {}).get("median"),
              "<=", 1.3)
    if batch:
        for name in ("dataset/forward", "dataset_every_frame/forward"):
            judge(name, batch["ratios"].get(name, {}).get("median"), "<=", DATASET_FLOOR)
    return verdict


def _case(name: str, r: dict) -> str:
    times = ", ".join(f"{k} {v:.3f} s" for k, v in r.items() if k.endswith("_s") and isinstance(v, float))
    return "\n".join([f"{name} ({r['images']} image(s)): {times}"] + [
        f"  {k:32s} {v['median']:7.3f}  (min {v['min']:.3f}, max {v['max']:.3f})" for k, v in r["ratios"].items()])


def _torch_probe(cfg: Config, info: dict, model, variables, design, masks):
    """The PyTorch contender, or None (``torch=False``, or torch not installed)."""
    if not cfg.torch:
        return None
    found = torch_device(cfg.device)
    if found is None:
        print("PyTorch is not installed: skipping the torch baselines (pip install torch==2.13.0)")
        return None
    info.update(found)
    return TorchProbe(model, variables, design, masks, found["torch_device"])


def run(cfg: Config, store: Store) -> dict:
    """Time the probe (one image, a batch) against the forward pass and PyTorch, or measure its peak memory."""
    # JAX and PyTorch share one GPU here: JAX must not reserve most of its memory up front (read when JAX starts
    # its backend, which nothing has done before this line; the children inherit it).
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    info = {"jax": jax.__version__, "jax_device": str(jax.devices()[0].device_kind),
            "jax_backend": jax.default_backend(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg()), "args": dataclasses.asdict(cfg)}
    results: dict = {"info": info}
    if cfg.memory_frames:
        print(f"peak RSS against the recording length (ResNet-{cfg.depth}, one image, frame block "
              f"{cfg.frame_block}):")
        results["memory_frames"] = run_memory_frames(cfg)
    elif cfg.memory:
        print(f"peak RSS of probe_dataset (ResNet-{cfg.memory_depth}, chunk_size {cfg.memory_chunk}):")
        results["memory"] = run_memory(cfg)
    else:
        design, masks = Design(), halves(32, 32)
        model, variables, fn = build(cfg.depth)
        torch_probe = _torch_probe(cfg, info, model, variables, design, masks)
        results["single"] = run_single(cfg, model, variables, fn, design, masks, torch_probe)
        print(_case("single image", results["single"]), flush=True)
        results["batch"] = run_batch(cfg, model, variables, fn, design, masks, torch_probe)
        print(_case("batch", results["batch"]), flush=True)
        results["floors"] = check_floors(results)
    info["loadavg_end"] = list(os.getloadavg())
    return write_result(cfg, store, results)


def report(result: dict) -> str:
    """What the command line prints at the end: each floor met or not (memory runs: the growth of the peak)."""
    if "memory" in result:
        return f"peak growth over the image counts: {result['memory']['peak_growth_mib']:.0f} MiB"
    if "memory_frames" in result:
        m = result["memory_frames"]
        return (f"peak growth over T: blocks {m['blocks_growth_mib']:.0f} MiB, blocks with measures "
                f"{m['blocks_measures_growth_mib']:.0f} MiB")
    return "\n".join(f"floor {k:45s} {v['value']:7.3f} (floor {v['floor']}): {'met' if v['met'] else 'NOT met'}"
                     for k, v in result["floors"].items())
