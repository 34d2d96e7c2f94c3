"""Command line: ``ssvepjax run`` (the main job). Bad input prints one line and exits with status 2."""

from __future__ import annotations

import argparse
import sys
import time

from ssvepjax.report.config import add_job_arguments, config_from_args


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssvepjax", description="Frequency-tagging (SSVEP) probes for networks")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train or load a ResNet, tag test images, probe every conv layer, report")
    add_job_arguments(r, default_out="runs/default", n_images=16)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from ssvepjax.report.job import run_job
        from ssvepjax.report.tables import summary_table

        cfg = config_from_args(args, n_images=16)
        t0 = time.time()
        report = run_job(cfg)
    except ValueError as e:
        print(f"ssvepjax: error: {e}", file=sys.stderr)
        return 2
    acc = report["model"]["test_accuracy"]
    print(f"\nResNet-{cfg.model.depth} on {report['dataset']['name']}: test accuracy {acc:.4f} "
          f"({'cached model' if report['model']['restored_from_cache'] else 'trained now'})")
    print(f"{cfg.n_images} images, tags {list(cfg.design.tags.freqs_hz)} Hz, {cfg.design.tags.n_frames} frames "
          f"at {cfg.design.tags.fps:g} fps; fraction of units with z > {cfg.design.noise.z_threshold} "
          "(post-activation; harm/IM = mean per component; FP = off-lattice bins):")
    print(summary_table(report))
    print(f"\nwrote {cfg.out_dir}/report.json, filter_spectra.npz, neuron_components.npz, "
          f"{', '.join(report['figures'].values())} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
