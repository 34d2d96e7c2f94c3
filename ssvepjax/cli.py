"""Command line: ``ssvepjax run`` (the main job). Bad input prints one line and exits with status 2."""

from __future__ import annotations

import argparse
import sys
import time

from ssvepjax.analysis import Design
from ssvepjax.models import ModelConfig
from ssvepjax.spectral import NoiseConfig
from ssvepjax.stimulus import TagConfig
from ssvepjax.train import TrainConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssvepjax", description="Frequency-tagging (SSVEP) probes for networks")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train or load a ResNet, tag test images, probe every conv layer, report")
    d = RunDefaults
    r.add_argument("--dataset", default="mnist5k", help="mnist5k (embedded, default), digits, or a tfds name")
    r.add_argument("--data-dir", default=None, help="tensorflow-datasets data dir (array_record) for --dataset")
    r.add_argument("--max-train", type=int, default=None, help="use at most this many training images")
    r.add_argument("--depth", type=int, default=d.model.depth, help="ResNet depth 6n+2 (default 32)")
    r.add_argument("--width", type=int, default=d.model.width, help="filters of the first stage (default 16)")
    r.add_argument("--epochs", type=int, default=d.train.epochs)
    r.add_argument("--batch-size", type=int, default=d.train.batch_size)
    r.add_argument("--lr", type=float, default=d.train.learning_rate)
    r.add_argument("--seed", type=int, default=d.train.seed)
    r.add_argument("--n-images", type=int, default=16, help="test images to tag and probe (default 16)")
    r.add_argument("--freqs", type=float, nargs="+", default=list(d.tags.freqs_hz),
                   help="tag frequencies in Hz, one per part (default 6 7.5: left, right half)")
    r.add_argument("--fps", type=float, default=d.tags.fps, help="frames per second (default 120)")
    r.add_argument("--n-frames", type=int, default=d.tags.n_frames, help="frames (default 240)")
    r.add_argument("--min-gain", type=float, default=d.tags.min_gain, help="smallest contrast gain (0.5)")
    r.add_argument("--max-order", type=int, default=4, help="highest intermodulation order (default 4)")
    r.add_argument("--n-neighbors", type=int, default=d.noise.n_neighbors)
    r.add_argument("--skip", type=int, default=d.noise.skip)
    r.add_argument("--drop-extremes", type=int, default=d.noise.drop_extremes)
    r.add_argument("--z-threshold", type=float, default=d.noise.z_threshold)
    r.add_argument("--out", default="runs/default", help="run folder (default runs/default)")
    r.add_argument("--cache-dir", default=None, help="model/data cache (default $SSVEPJAX_CACHE or ~/.cache/ssvepjax)")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    r.add_argument("--no-compile-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache (<cache-dir>/jax)")
    r.add_argument("--every-frame", action="store_true",
                   help="run all frames through the network, not one stimulus period (same result, slower)")
    r.add_argument("--checkpoint-every", type=int, default=8,
                   help="images per probe step; the probe is checkpointed after each step (default 8)")
    return p


class RunDefaults:
    model = ModelConfig()
    train = TrainConfig()
    tags = TagConfig()
    noise = NoiseConfig()


def config_from_args(args):
    from ssvepjax.run import RunConfig

    tags = TagConfig(tuple(args.freqs), args.fps, args.n_frames, args.min_gain)
    noise = NoiseConfig(args.n_neighbors, args.skip, args.drop_extremes, args.z_threshold)
    return RunConfig(
        dataset=args.dataset, data_dir=args.data_dir, max_train=args.max_train,
        model=ModelConfig(args.depth, args.width),
        train=TrainConfig(args.epochs, args.batch_size, args.lr, seed=args.seed),
        design=Design(tags, noise, args.max_order), n_images=args.n_images, out_dir=args.out,
        cache_dir=args.cache_dir, progress=not args.no_progress, compile_cache=not args.no_compile_cache,
        one_period=not args.every_frame, checkpoint_every=args.checkpoint_every,
    )


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        from ssvepjax.run import run_job, summary_table

        cfg = config_from_args(args)
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
