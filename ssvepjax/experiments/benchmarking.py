"""What the benchmarks share: their configuration base, where their JSON goes, and measurements in fresh processes.

The benchmarks (``benchmark_probe``, ``benchmark_large``: :data:`~ssvepjax.experiments.framework.BENCHMARKS`) run
through the one command line (``experiments.main``) like every experiment. Their configuration adds ``json``: the
file the README's commands name (``--json runs/benchmark_probe.json``); without it the result is
``<out>/<name>.json``. Peak memory is measured in fresh child processes (:func:`run_child`), each of which imports
the same library as its parent and calls the benchmark module's ``child(argv)``.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from ssvepjax.experiments.framework import ExperimentConfig
from ssvepjax.experiments.store import Store
from ssvepjax.report.io import write_csv, write_json
from ssvepjax.report.origin import provenance

__all__ = ["BenchmarkConfig", "child_command", "child_env", "peak_rss_mib", "result_path", "run_child", "timed",
           "write_result"]

# glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB) and then keeps such blocks
# in per-thread arenas: RSS wanders with the allocator's history, not with what is alive. A fixed threshold
# returns every large buffer to the OS when it is freed.
MALLOC_MMAP_THRESHOLD = str(1 << 20)


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig(ExperimentConfig):
    """Base of a benchmark's configuration.

    Attributes:
        json: write the result to this file (its CSV table and figure beside it); None: ``<out>/<name>.json``.
    """

    RUNTIME = ("quick", "progress", "json")

    json: str | None = None

    @property
    def out(self) -> str:
        """The output folder when ``--out`` is not given: the JSON's folder, else ``runs/<name>[_quick]``."""
        name = type(self).__module__.rsplit(".", 1)[-1]
        return str(Path(self.json).parent) if self.json else f"runs/{name}{'_quick' if self.quick else ''}"


def result_path(cfg: BenchmarkConfig, store: Store) -> Path:
    """Where the result goes: ``cfg.json`` when given, else ``<out>/<name>.json``."""
    return Path(cfg.json) if cfg.json else store.path(f"{store.name}.json")


def write_result(cfg: BenchmarkConfig, store: Store, result: dict, *, rows: list[dict] | None = None) -> dict:
    """Write ``result`` with its provenance at :func:`result_path` (``rows`` as a CSV table beside it, same stem).

    Returns the result as stored. (``Store.write`` names the file after the experiment; a benchmark's ``--json``
    names it.)
    """
    path = result_path(cfg, store)
    path.parent.mkdir(parents=True, exist_ok=True)
    if rows is not None:
        write_csv(path.with_suffix(".csv"), rows)
    stored = {**result, "provenance": provenance(cfg, started=store.started, experiment=store.name)}
    write_json(path, stored)
    return stored


def timed(f) -> float:
    """Wall time of ``f()`` in seconds (its result dropped at once: a probe's can be GBs)."""
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def peak_rss_mib() -> float:
    """This process's peak resident memory (``ru_maxrss``) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_command(module: str, args) -> list[str]:
    """``python -c ...`` calling ``<module>.child(args)`` in a fresh interpreter."""
    code = f"import sys; from {module} import child; child(sys.argv[1:])"
    return [sys.executable, "-c", code, *map(str, args)]


def child_env(*, fixed_malloc: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a child: this one, the library this process runs first on the path, glibc's mmap
    threshold fixed (unless ``fixed_malloc`` is False or it is already set), and ``extra``."""
    env = dict(os.environ, **extra)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding this ssvepjax package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if fixed_malloc:
        env.setdefault("MALLOC_MMAP_THRESHOLD_", MALLOC_MMAP_THRESHOLD)
    return env


def run_child(module: str, args, env: dict[str, str]) -> str:
    """Run :func:`child_command` to completion (``CalledProcessError`` if it fails); its standard output."""
    return subprocess.run(child_command(module, args), capture_output=True, text=True, check=True, env=env).stdout
