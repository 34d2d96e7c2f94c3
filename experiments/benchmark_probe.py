"""Benchmark the probe against a plain forward pass and against PyTorch (the targets of issues 4 and 13).

ResNet-32 (random weights: speed does not depend on them) on a 32x32x3 image, the paper's design
(6 and 7.5 Hz, 120 fps, 240 frames), one image and a batch of images. After warm-up, medians over
``--repeats`` interleaved repeats (each repeat runs every contender once, so a busy machine slows
them alike) of:

- ``probe_s``: ssvepjax from image(s) to per-neuron amplitude, SNR and z at every component bin of
  every conv layer (pre- and post-activation): ``sj.probe_dataset(..., measures=...)`` (``--chunk`` images
  per step; the measures are read from the accumulated rows, the full spectra are never formed);
  ``spectra_then_measures``: ``sj.probe_dataset`` (the spectra) then ``sj.spectrum_measures``.
- ``forward_s``: the same frames through the same network, jitted, nothing recorded (the floor).
- ``torch_loop_s``: the same architecture in PyTorch with forward hooks on every conv layer, one
  frame at a time, then ``torch.fft`` and the same measures (what published code does).
- ``torch_batched_s``: the same with all frames of an image in one batch.
- ``probe_every_frame``: every frame through the network (``one_period=False``), the time series stored
  and transformed; ``probe_blocks``: every frame, the coefficients accumulated block by block of
  ``--frame-block`` frames as the network produces them (``frame_block=``, ``lattice_only=True``: the
  time series is never stored), compared with ``forward`` (the same frames);
- ``compile_s``: the probe's first call minus its steady-state time.

Commands (docs/findings/benchmarks.md repeats them):

    python experiments/benchmark_probe.py --json runs/benchmark_probe.json           # ~9 min on 2 CPU cores
    python experiments/benchmark_probe.py --quick --json /tmp/bench.json             # smoke test, ~2.5 min
    python experiments/benchmark_probe.py --memory --json runs/benchmark_memory.json # ~7 min on 2 CPU cores
    python experiments/benchmark_probe.py --memory-frames 240,480,960 --json runs/benchmark_memory_frames.json
    python experiments/benchmark_probe.py --device cuda --json runs/benchmark_probe_gpu.json  # ~1 min, GPU

PyTorch is optional (``pip install torch==2.13.0``); without it the torch numbers are skipped.
``--memory`` runs ``probe_dataset`` on 64, 256 and 1024 images (a data loader of 16-image batches),
each in a fresh subprocess, and reports the peak resident memory (``ru_maxrss``) of each, with
glibc's mmap threshold fixed at 1 MiB so that RSS follows live memory (``--keep-malloc``: as is).
``--memory-frames 240,480,960`` instead measures, for each recording length T (the same 80-frame
stimulus period), the peak RSS of one image's every-frame probe stored, in frame blocks (spectra), in
frame blocks returning only the measures at the components, and of the plain forward pass of its T
frames, each in a fresh subprocess (ResNet ``--depth``); the peak includes the compiler's unless ``--warm-cache``
(each case run twice, the second reading its programs from a persistent compilation cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# JAX and PyTorch share one GPU here: JAX must not reserve most of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import ssvepjax as sj  # noqa: E402

FLOORS = {"probe/forward": ("<=", 1.25), "torch_loop/probe": (">=", 4.0),
          "torch_batched/probe": (">=", 1.5), "compile_s": ("<=", 5.0)}
DATASET_FLOOR = 1.3  # probe_dataset over the plain forward of the same images' frames


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats and a small batch (CI smoke test)")
    p.add_argument("--batch", type=int, default=8, help="images in the batch case")
    p.add_argument("--chunk", type=int, default=4, help="images per probe_dataset step in the batch case")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats after warm-up")
    p.add_argument("--depth", type=int, default=32, help="CIFAR ResNet depth (6n + 2)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="PyTorch device (JAX uses its default backend: install jax[cuda12] for GPUs)")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    p.add_argument("--torch-loop-batch", action="store_true",
                   help="also time the frame-by-frame PyTorch loop on the batch (slow on CPUs)")
    p.add_argument("--memory", action="store_true", help="measure peak RSS of probe_dataset instead")
    p.add_argument("--memory-sizes", default="64,256,1024", help="image counts for --memory")
    p.add_argument("--memory-chunk", type=int, default=2, help="chunk_size for --memory")
    p.add_argument("--memory-depth", type=int, default=8, help="ResNet depth for --memory")
    p.add_argument("--keep-malloc", action="store_true",
                   help="--memory: leave glibc's dynamic mmap threshold on (RSS then includes freed "
                        "buffers that the allocator keeps)")
    p.add_argument("--memory-frames", default=None,
                   help="comma-separated recording lengths: peak RSS of the every-frame probe against T instead")
    p.add_argument("--warm-cache", action="store_true",
                   help="--memory-frames: run each case twice with a persistent compilation cache and report the "
                        "second (the run's peak without the compiler's)")
    p.add_argument("--frame-block", type=int, default=40, help="frames per block of the block-wise probe")
    p.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--frames-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.batch, args.chunk = min(args.repeats, 2), min(args.batch, 2), min(args.chunk, 2)
        args.memory_sizes = "4,8,16"
    if args.batch < 1 or args.chunk < 1 or args.repeats < 1 or args.frame_block < 1:
        p.error("--batch, --chunk, --repeats and --frame-block must be >= 1")
    return args


def build(depth: int, size: int = 32):
    model = sj.CifarResNet(depth)
    variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, size, size, 3)))
    fn = sj.linen_fn(model, variables, capture_intermediates=False, train=False)
    return model, variables, fn


def images_of(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, size, size, 3)).astype(np.float32)


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def summarise(times: dict[str, list[float]]) -> dict:
    """Medians, and ratio medians with their min and max over the interleaved repeats."""
    out = {f"{k}_s": float(np.median(v)) for k, v in times.items()}
    pairs = {"probe/forward": ("probe", "forward"), "torch_loop/probe": ("torch_loop", "probe"),
             "torch_batched/probe": ("torch_batched", "probe"),
             "probe/forward_period": ("probe", "forward_period"),
             "probe_every_frame/forward": ("probe_every_frame", "forward"),
             "torch_loop/probe_every_frame": ("torch_loop", "probe_every_frame"),
             "torch_batched/probe_every_frame": ("torch_batched", "probe_every_frame"),
             "probe_blocks/forward": ("probe_blocks", "forward"),
             "spectra_then_measures/forward": ("spectra_then_measures", "forward"),
             "dataset/forward": ("dataset", "forward"),
             "dataset_every_frame/forward": ("dataset_every_frame", "forward")}
    ratios = {}
    for name, (a, b) in pairs.items():
        if a in times and b in times and len(times[a]) == len(times[b]):
            r = np.asarray(times[a]) / np.asarray(times[b])
            ratios[name] = {"median": float(np.median(r)), "min": float(r.min()), "max": float(r.max())}
        elif a in times and b in times:  # a contender timed once: ratio against each repeat of b
            r = float(np.median(times[a])) / np.asarray(times[b])
            ratios[name] = {"median": float(np.median(r)), "min": float(r.min()), "max": float(r.max())}
    out["ratios"] = ratios
    out["runs"] = {k: [float(x) for x in v] for k, v in times.items()}
    return out


# ----------------------------------------------------------------------------------------------
# PyTorch contenders (imported only here).


class TorchProbe:
    def __init__(self, depth, variables, design: sj.Design, masks, device: str):
        import torch

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_resnet import CifarResNet as TorchResNet
        from torch_resnet import Measures, Recorder, load_flax_variables

        self.torch = torch
        self.device = device
        self.model = load_flax_variables(TorchResNet(depth), variables).to(device)
        self.recorder = Recorder(self.model)
        cb, _, _ = design.bins()
        t = design.tags
        self.measures = Measures(t.n_frames, cb, design.noise.n_neighbors, design.noise.skip, device=device)
        g = np.asarray(sj.gains(t.freqs_hz, fps=t.fps, n_frames=t.n_frames, min_gain=t.min_gain, phase=t.phase))
        gain = 1.0 + np.einsum("tp,phw->thw", g - 1.0, np.asarray(masks, np.float32))
        self.pixel_gain = torch.as_tensor(gain, dtype=torch.float32, device=device)[:, None]  # [T,1,H,W]

    def sync(self):
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def frames(self, image: np.ndarray):
        x = self.torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)), device=self.device)
        return x[None] * self.pixel_gain  # [T, C, H, W]

    def spectra(self, image: np.ndarray, one_at_a_time: bool) -> dict:
        self.recorder.clear()
        frames = self.frames(image)
        if one_at_a_time:
            for i in range(frames.shape[0]):
                self.model(frames[i:i + 1])
        else:
            self.model(frames)
        return {k: self.measures.spectrum(x) for k, x in self.recorder.series().items()}

    def probe(self, images: np.ndarray, one_at_a_time: bool) -> dict:
        with self.torch.inference_mode():
            total = None
            for image in images:
                s = self.spectra(image, one_at_a_time)
                total = s if total is None else {k: total[k] + s[k] for k in s}
            out = {k: self.measures.at_bins(v / len(images)) for k, v in total.items()}
        self.sync()
        return out


# ----------------------------------------------------------------------------------------------
# Cases.


def run_single(args, model, variables, fn, design, masks, torch_probe) -> dict:
    image = images_of(1)[0]
    frames = sj.tag_batch(image[None], masks, design.tags)[0]
    period = frames[: design.tags.period_frames]
    names = ("amplitude", "snr", "z")

    def measures_of(one_period, **kw):
        return lambda im: sj.probe_dataset(fn, im[None], masks, design, progress=False, one_period=one_period,
                                           measures=names, **kw)

    probe, every = measures_of(True), measures_of(False)
    blocks = measures_of(False, frame_block=args.frame_block, lattice_only=True)

    def two_steps(im):
        spec = sj.probe_dataset(fn, im[None], masks, design, progress=False)
        return sj.spectrum_measures(spec, design, measures=names)

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
    times = {k: [] for k in contenders}
    for _ in range(args.repeats):
        for k, f in contenders.items():
            times[k].append(timed(f))
    out = summarise(times)
    out["first_call_s"] = first
    out["compile_s"] = first - out["probe_s"]
    out["compile_every_frame_s"] = first_every - out["probe_every_frame_s"]
    out["compile_blocks_s"] = first_blocks - out["probe_blocks_s"]
    out["frame_block"] = args.frame_block
    out["images"], out["period_frames"], out["frames_per_image"] = 1, design.tags.period_frames, design.tags.n_frames
    return out


def run_batch(args, model, variables, fn, design, masks, torch_probe) -> dict:
    images = images_of(args.batch, seed=1)
    chunk = min(args.chunk, args.batch)
    frames = sj.tag_batch(images, masks, design.tags)  # [N, T, H, W, C]
    t = design.tags.n_frames
    names = ("amplitude", "snr", "z")

    def probe():
        return jax.block_until_ready(sj.probe_dataset(fn, images, masks, design, chunk_size=chunk, progress=False,
                                                      measures=names))

    def dataset_only(one_period=True):
        return jax.block_until_ready(sj.probe_dataset(fn, images, masks, design, chunk_size=chunk,
                                                      progress=False, one_period=one_period))

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
    times = {k: [] for k in contenders}
    for _ in range(args.repeats):
        for k, f in contenders.items():
            times[k].append(timed(f))
    if torch_probe is not None and args.torch_loop_batch:
        times["torch_loop"] = [timed(lambda: torch_probe.probe(images, one_at_a_time=True))]
    out = summarise(times)
    out["first_call_s"] = first
    out["compile_s"] = first - out["probe_s"]
    out["images"], out["chunk_size"], out["frames_per_image"] = args.batch, chunk, t
    return out


def memory_child(args) -> None:
    """One image count in this (fresh) process: peak RSS before and after probing."""
    n = args.memory_child
    _, _, fn = build(args.memory_depth)
    design = sj.Design()
    masks = sj.halves(32, 32)

    def loader():  # a data loader: never more than one batch of 16 images in host memory
        for i in range(0, n, 16):
            yield images_of(min(16, n - i), seed=i)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    spec = sj.probe_dataset(fn, loader(), masks, design, chunk_size=args.memory_chunk, progress=False)
    jax.block_until_ready(spec)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"images": n, "seconds": seconds, "setup_rss_mib": before / 1024,
                      "peak_rss_mib": peak / 1024}))


def run_memory(args) -> dict:
    # glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB) and then
    # keeps such blocks in per-thread arenas: RSS wanders with the allocator's history, not with
    # what is alive. A fixed threshold returns every large buffer to the OS when it is freed.
    env = dict(os.environ)
    if not args.keep_malloc:
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 20))
    rows = []
    for n in (int(s) for s in args.memory_sizes.split(",")):
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", str(n), "--memory-chunk",
               str(args.memory_chunk), "--memory-depth", str(args.memory_depth)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {n:5d} images: peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB "
              f"(after setup {rows[-1]['setup_rss_mib']:.0f} MiB), {rows[-1]['seconds']:.1f} s", flush=True)
    peaks = [r["peak_rss_mib"] for r in rows]
    return {"depth": args.memory_depth, "chunk_size": args.memory_chunk, "runs": rows,
            "malloc_mmap_threshold": env.get("MALLOC_MMAP_THRESHOLD_"),
            "peak_growth_mib": max(peaks) - min(peaks)}


def frames_child(args) -> None:
    """One (kind, T) in this (fresh) process: peak RSS of one image's every-frame probe or forward pass."""
    kind, n_frames = args.frames_child.split(":")
    design = sj.Design(sj.TagConfig((6.0, 7.5), fps=120.0, n_frames=int(n_frames)))
    masks = sj.halves(32, 32)
    model, variables, fn = build(args.depth)
    image = images_of(1)[0]
    if kind == "forward":
        frames = sj.tag_batch(image[None], masks, design.tags)[0]
        forward = jax.jit(lambda f: model.apply(variables, f))
        run = lambda: forward(frames)  # noqa: E731
    else:
        kw = {"frame_block": args.frame_block, "lattice_only": True} if kind.startswith("blocks") else {}
        if kind == "blocks_measures":  # the measures at the components only: no [T/2+1, units] result
            kw["measures"] = ("amplitude", "snr", "z")
        run = lambda: sj.probe_dataset(fn, image[None], masks, design, progress=False, one_period=False,  # noqa: E731
                                       **kw)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jax.block_until_ready(run())  # compiles and runs
    t0 = time.perf_counter()
    jax.block_until_ready(run())
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "n_frames": int(n_frames), "seconds": seconds, "setup_rss_mib": before / 1024,
                      "peak_rss_mib": peak / 1024}))


def run_memory_frames(args) -> dict:
    """Each (kind, T) in a fresh process; with ``--warm-cache`` twice, the second reading its programs from a
    persistent compilation cache that the first filled, so that its peak is the run's, without the compiler's."""
    env = dict(os.environ)
    if not args.keep_malloc:
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1 << 20))
    cache = tempfile.mkdtemp(prefix="ssvepjax_jcc_") if args.warm_cache else None
    if cache:
        env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    rows = []
    for t in (int(v) for v in args.memory_frames.split(",")):
        for kind in ("forward", "blocks_measures", "blocks", "stored"):
            cmd = [sys.executable, os.path.abspath(__file__), "--frames-child", f"{kind}:{t}", "--depth",
                   str(args.depth), "--frame-block", str(args.frame_block)]
            for _ in range(2 if cache else 1):  # the last run counts
                done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  T={t:5d} {kind:15s}: peak RSS {rows[-1]['peak_rss_mib']:.0f} MiB "
                  f"(after setup {rows[-1]['setup_rss_mib']:.0f} MiB), {rows[-1]['seconds']:.2f} s", flush=True)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
    peak = {(r["kind"], r["n_frames"]): r["peak_rss_mib"] for r in rows}
    ts = sorted({r["n_frames"] for r in rows})
    return {"depth": args.depth, "frame_block": args.frame_block, "runs": rows, "warm_compilation_cache": bool(cache),
            "malloc_mmap_threshold": env.get("MALLOC_MMAP_THRESHOLD_"),
            "blocks_growth_mib": peak[("blocks", ts[-1])] - peak[("blocks", ts[0])],
            "blocks_measures_growth_mib": peak[("blocks_measures", ts[-1])] - peak[("blocks_measures", ts[0])],
            "blocks_measures_over_forward": {t: peak[("blocks_measures", t)] / peak[("forward", t)] for t in ts},
            "blocks_over_forward": {t: peak[("blocks", t)] / peak[("forward", t)] for t in ts},
            "stored_over_forward": {t: peak[("stored", t)] / peak[("forward", t)] for t in ts}}


def check_floors(results: dict) -> dict:
    """Each floor of issue 4 on the default probe (one stimulus period), and the same floors for the
    probe that runs every frame (``one_period=False``: the path for aperiodic designs)."""
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


def print_case(name: str, r: dict) -> None:
    times = ", ".join(f"{k} {v:.3f} s" for k, v in r.items() if k.endswith("_s") and isinstance(v, float))
    print(f"{name} ({r['images']} image(s)): {times}")
    for k, v in r["ratios"].items():
        print(f"  {k:32s} {v['median']:7.3f}  (min {v['min']:.3f}, max {v['max']:.3f})")


def main(argv=None):
    args = parse_args(argv)
    if args.memory_child is not None:
        return memory_child(args)
    if args.frames_child is not None:
        return frames_child(args)
    info = {"jax": jax.__version__, "jax_device": str(jax.devices()[0].device_kind),
            "jax_backend": jax.default_backend(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "loadavg_start": list(os.getloadavg()), "args": vars(args)}
    results: dict = {"info": info}
    if args.memory_frames:
        print(f"peak RSS against the recording length (ResNet-{args.depth}, one image, frame block "
              f"{args.frame_block}):")
        results["memory_frames"] = run_memory_frames(args)
    elif args.memory:
        print(f"peak RSS of probe_dataset (ResNet-{args.memory_depth}, chunk_size {args.memory_chunk}):")
        results["memory"] = run_memory(args)
    else:
        torch_probe = None
        design, masks = sj.Design(), sj.halves(32, 32)
        model, variables, fn = build(args.depth)
        if not args.no_torch:
            try:
                import torch
            except ImportError:
                print("PyTorch is not installed: skipping the torch baselines (pip install torch==2.13.0)")
            else:
                device = args.device
                if device == "auto":
                    device = "cuda" if torch.cuda.is_available() else "cpu"
                info["torch"], info["torch_device"], info["torch_threads"] = (
                    torch.__version__, device, torch.get_num_threads())
                if device.startswith("cuda"):
                    info["torch_gpu"] = torch.cuda.get_device_name()
                torch_probe = TorchProbe(args.depth, variables, design, masks, device)
        results["single"] = run_single(args, model, variables, fn, design, masks, torch_probe)
        print_case("single image", results["single"])
        results["batch"] = run_batch(args, model, variables, fn, design, masks, torch_probe)
        print_case("batch", results["batch"])
        results["floors"] = check_floors(results)
        for k, v in results["floors"].items():
            print(f"floor {k:45s} {v['value']:7.3f} (floor {v['floor']}): {'met' if v['met'] else 'NOT met'}")
    info["loadavg_end"] = list(os.getloadavg())
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
