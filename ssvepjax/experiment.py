"""Shared settings of the ``experiments/`` scripts: one config, two sizes, one argument parser.

Every script takes ``--quick`` (the CI size: ResNet-8, one epoch on 1,000 training images, 4 test
images, the paper's 240 frames) or runs at full size (ResNet-32, 3 epochs on the default dataset,
32 test images, the cached model of ``ssvepjax run``), plus ``--out DIR`` and the dataset options.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ssvepjax.analysis import Design
from ssvepjax.data import Dataset, load_dataset
from ssvepjax.models import ModelConfig
from ssvepjax.spectral import NoiseConfig
from ssvepjax.stimulus import TagConfig
from ssvepjax.train import TrainConfig, TrainedModel, train_or_load


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Sizes and settings of an experiment (static).

    Attributes:
        dataset, data_dir, max_train: passed to ``load_dataset`` (``cifar10`` needs ``data_dir``).
        model, train: the network and how it is trained (cached by ``train_or_load``).
        design: tags, noise and intermodulation order.
        n_images: test images tagged and probed.
        out: output folder.
        cache_dir: model/data cache (``$SSVEPJAX_CACHE`` or ``~/.cache/ssvepjax`` when None).
        progress: show progress bars.
        quick: the CI size.
    """

    dataset: str = "mnist5k"
    data_dir: str | None = None
    max_train: int | None = None
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    design: Design = Design()
    n_images: int = 32
    out: str = "runs/experiment"
    cache_dir: str | None = None
    progress: bool = True
    quick: bool = False

    def __post_init__(self):
        if not isinstance(self.n_images, int) or self.n_images < 1:
            raise ValueError(f"n_images must be an integer >= 1, got {self.n_images!r}")

    @property
    def out_dir(self) -> Path:
        p = Path(self.out)
        p.mkdir(parents=True, exist_ok=True)
        return p


QUICK = dict(depth=8, epochs=1, max_train=1000, n_images=4)


def experiment_parser(description: str, default_out: str, *, n_images: int = 32) -> argparse.ArgumentParser:
    """The common arguments of the experiment scripts."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help=f"CI size: ResNet-{QUICK['depth']}, {QUICK['epochs']} epoch on {QUICK['max_train']} "
                        f"images, {QUICK['n_images']} test images")
    p.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    p.add_argument("--dataset", default="mnist5k", help="mnist5k (embedded, default) or a tfds name, e.g. cifar10")
    p.add_argument("--data-dir", default=None, help="tensorflow-datasets data dir (array_record) for --dataset")
    p.add_argument("--max-train", type=int, default=None, help="at most this many training images")
    p.add_argument("--depth", type=int, default=None, help="ResNet depth 6n+2 (default 32; 8 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 3; 1 with --quick)")
    p.add_argument("--n-images", type=int, default=None,
                   help=f"test images to tag and probe (default {n_images}; {QUICK['n_images']} with --quick)")
    p.add_argument("--cache-dir", default=None, help="model/data cache (default $SSVEPJAX_CACHE or ~/.cache/ssvepjax)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def config_from_args(args: argparse.Namespace, *, n_images: int = 32) -> ExperimentConfig:
    """An :class:`ExperimentConfig` from ``experiment_parser`` arguments (``--quick`` sets the CI sizes)."""
    q = QUICK if args.quick else {}

    def pick(value, key, full):
        return value if value is not None else q.get(key, full)

    return ExperimentConfig(
        dataset=args.dataset, data_dir=args.data_dir, max_train=pick(args.max_train, "max_train", None),
        model=ModelConfig(depth=pick(args.depth, "depth", 32)),
        train=TrainConfig(epochs=pick(args.epochs, "epochs", 3)),
        design=Design(TagConfig(), NoiseConfig(), 4), n_images=pick(args.n_images, "n_images", n_images),
        out=args.out, cache_dir=args.cache_dir, progress=not args.no_progress, quick=args.quick,
    )


def load_model(cfg: ExperimentConfig) -> tuple[Dataset, TrainedModel, object]:
    """Load the dataset, train or restore the model, and take the first ``n_images`` test images.

    Returns:
        ``(data, trained, images [n_images, H, W, C])``.
    """
    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, max_train=cfg.max_train, cache_dir=cfg.cache_dir)
    if cfg.n_images > len(data.test_images):
        raise ValueError(f"n_images={cfg.n_images} exceeds the {len(data.test_images)} test images")
    trained = train_or_load(data, cfg.model, cfg.train, cache_dir=cfg.cache_dir, progress=cfg.progress)
    return data, trained, data.test_images[: cfg.n_images]


def settings(cfg: ExperimentConfig, data: Dataset, trained: TrainedModel) -> dict:
    """The settings block every experiment writes into its JSON."""
    t = cfg.design.tags
    return {
        "quick": cfg.quick,
        "dataset": {"name": data.name, "source": data.source, "image_shape": list(data.image_shape),
                    "n_train": len(data.train_images), "n_test": len(data.test_images)},
        "model": {"depth": cfg.model.depth, "width": cfg.model.width, "epochs": cfg.train.epochs,
                  "test_accuracy": trained.test_accuracy, "restored_from_cache": trained.restored},
        "tags": {"freqs_hz": list(t.freqs_hz), "parts": "left half, right half", "fps": t.fps,
                 "n_frames": t.n_frames, "min_gain": t.min_gain, "phase": t.phase},
        "noise": dataclasses.asdict(cfg.design.noise),
        "max_order": cfg.design.max_order,
        "n_images": cfg.n_images,
    }


__all__ = ["ExperimentConfig", "QUICK", "config_from_args", "experiment_parser", "load_model", "settings"]


def run_script(main) -> None:
    """Run an experiment's ``main()``; a ``ValueError`` prints one line and exits with status 2."""
    import sys

    try:
        main()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
