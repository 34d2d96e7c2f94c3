"""Command line: ``ssvepjax run`` (the main job) and ``ssvepjax results`` (the stored results: rerun, check,
render). Bad input prints one line and exits with status 2."""

from __future__ import annotations

import argparse
import sys
import time
from importlib.metadata import version
from pathlib import Path

from ssvepjax._locks import exclusive_lock
from ssvepjax.experiments.config import add_job_arguments, config_from_args
from ssvepjax.experiments.job import prepare, run_job
from ssvepjax.experiments.results import RUNS
from ssvepjax.report.tables import summary_table

JOB = """The main job: train a CIFAR-style ResNet on the embedded mnist5k digits (or restore it from the cache),
tag test images part by part at their own frequencies (two tags: left and right half at 6 and 7.5 Hz, 120
frames/s, 240 frames), record every unit of every conv layer before and after its nonlinearity, and report
which units respond at the tags, their harmonics and their intermodulation components (the amplitude test
across images by default), effect sizes that do not depend on the recording length, and figures. Results go
to --out: report.json, filter_spectra.npz, neuron_components.npz and three PNG figures."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssvepjax", description="Frequency-tagging (SSVEP) probes for neural networks.")
    p.add_argument("--version", action="version", version=f"ssvepjax {version('ssvepjax')}")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train or load a ResNet, tag test images, probe every conv layer, report",
                       description=JOB)
    add_job_arguments(r, default_out="runs/default", n_images=16)
    res = sub.add_parser("results", help="rerun, check or render the stored results (docs/results)",
                         description="The stored results in docs/results/<experiment>/: --run reruns experiments "
                                     "(each in its own process, with its wall time), --check lists every result "
                                     "that is not current (no provenance, code changed since, a rendered page out "
                                     "of date) and exits 1 if any, --render writes the pages from docs/templates.")
    res.add_argument("--run", nargs="*", default=None, metavar="NAME",
                     help=f"rerun these runs (none named: all of {', '.join(RUNS)})")
    res.add_argument("--quick", action="store_true", help="with --run: the CI size, into <name>_quick folders")
    res.add_argument("--check", action="store_true", help="list what is not current; exit 1 if anything")
    res.add_argument("--render", action="store_true", help="write the pages that quote the stored results")
    return p


def results_command(args) -> int:
    """``ssvepjax results``: run, render, check (in that order, each when asked)."""
    from ssvepjax.experiments import results

    if args.run is None and not (args.check or args.render):
        print("ssvepjax results: say --run, --render or --check", file=sys.stderr)
        return 2
    if args.run is not None:
        bad = [n for n in args.run if n not in RUNS]
        if bad:
            print(f"ssvepjax: error: unknown runs {bad}; runs: {', '.join(RUNS)}", file=sys.stderr)
            return 2
        seconds = results.run_all(args.run or tuple(RUNS), quick=args.quick)
        print("wall time per experiment (s):", seconds, "total", round(sum(seconds.values()), 1))
    if args.render:
        for page in results.render():
            print(f"rendered {page}")
    if args.check:
        problems = results.check()
        print("\n".join(problems) if problems else "every stored result and rendered page is current")
        return 1 if problems else 0
    return 0


def main(argv=None) -> int:
    """``ssvepjax run``: a mistake in the settings prints one line and returns 2 before any long work; an
    error after that is a bug and raises with its traceback."""
    args = _parser().parse_args(argv)
    if args.command == "results":
        return results_command(args)
    try:
        cfg = config_from_args(args, n_images=16)
        data = prepare(cfg)
        # Two runs into one --out would interleave their files: the second refuses, in one line, before any work.
        lock = exclusive_lock(Path(cfg.out_dir) / ".ssvepjax-run.lock",
                              f"--out {cfg.out_dir} is in use by another ssvepjax run; wait for it or choose another "
                              f"--out")
    except ValueError as e:
        print(f"ssvepjax: error: {e}", file=sys.stderr)
        return 2
    t0 = time.time()
    try:
        report = run_job(cfg, data)
    finally:
        lock.close()
    acc = report["model"]["test_accuracy"]
    print(f"\n{cfg.model.label} on {report['dataset']['name']}: test accuracy {acc:.4f} "
          f"({'cached model' if report['model']['restored_from_cache'] else 'trained now'})")
    print(f"{cfg.n_images} images, tags {list(cfg.design.tags.freqs_hz)} Hz, {cfg.design.tags.n_frames} frames "
          f"at {cfg.design.tags.fps:g} fps. Fraction of units that respond (post-activation; harm/IM = mean per "
          f"component; FP = off-lattice bins), by the {cfg.design.rule}:")
    print(summary_table(report))
    print(f"\nwrote {cfg.out_dir}/report.json, filter_spectra.npz, neuron_components.npz, "
          f"{', '.join(report['figures'].values())} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
