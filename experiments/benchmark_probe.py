"""Benchmark the probe against a plain forward pass and against PyTorch (the targets of issues 4 and 13).

``ssvepjax.experiments.benchmark_probe`` (its docstring names every contender): ResNet-32 with random weights on a
32x32x3 image, the paper's design (6 and 7.5 Hz, 120 fps, 240 frames), one image and a batch; medians over
interleaved repeats of the probe (one period, every frame, frame blocks), the plain forward pass of the same
frames, and the hook-based PyTorch probe of published code (``pip install torch==2.13.0``; skipped without it).
``--memory`` measures the probe's peak resident memory against the number of images, ``--memory-frames``
against the recording length, each case in a fresh process.

Commands (docs/findings/benchmarks.md repeats them):

    python experiments/benchmark_probe.py --json runs/benchmark_probe.json           # ~9 min on 2 CPU cores
    python experiments/benchmark_probe.py --quick --json /tmp/bench.json             # smoke test, ~3-8 min
    python experiments/benchmark_probe.py --memory --json runs/benchmark_memory.json # ~7 min on 2 CPU cores
    python experiments/benchmark_probe.py --memory-frames 240 480 960 --json runs/benchmark_memory_frames.json
    python experiments/benchmark_probe.py --device cuda --json runs/benchmark_probe_gpu.json  # ~1 min, GPU

Writes the JSON (``--json``, else ``<out>/benchmark_probe.json``): ``info`` (versions, device, load, settings),
and ``single``, ``batch`` (medians, per-repeat times, ratios) and ``floors`` (each floor met or not), or
``memory`` / ``memory_frames`` (peak RSS per run). Prints each case's ratios and the floors.
"""

from ssvepjax import experiments

parse_args, main = experiments.entry("benchmark_probe")

if __name__ == "__main__":
    experiments.script("benchmark_probe")
