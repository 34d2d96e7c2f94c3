"""The job's configuration: what ``ssvepjax run`` and the experiments that probe the job's network share.

``JobConfig`` (an :class:`~ssvepjax.experiments.framework.ExperimentConfig`) holds the dataset, the network and
its training (cached by ``training.train_or_load``), the analysis design, how many test images are tagged, and
where results go. ``add_job_arguments`` adds its options to any parser and ``config_from_args`` builds it back;
``--quick`` selects the CI size (``QUICK``). An experiment that probes the job's network subclasses it with its
own fields.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ssvepjax.data.datasets import Dataset, load_dataset
from ssvepjax.experiments.framework import ExperimentConfig
from ssvepjax.models.cifar_resnet import ModelConfig
from ssvepjax.models.configs import ARCHITECTURES
from ssvepjax.models.configs import QUICK as QUICK_MODELS
from ssvepjax.models.vggnet import VGGConfig
from ssvepjax.models.vit import ViTConfig
from ssvepjax.spectral.design import SIGNIFICANCE, Design
from ssvepjax.spectral.noise import EXCLUDE, NoiseConfig
from ssvepjax.tagging.masks import part_names
from ssvepjax.tagging.tags import TagConfig
from ssvepjax.training.train import TrainConfig, TrainedModel, train_or_load

#: The CI size that ``--quick`` selects.
#: The CI size: one epoch on 1,000 training images, 4 test images, and each architecture's small version
#: (``models.configs.QUICK``).
QUICK = dict(epochs=1, max_train=1000, n_images=4)

#: Each architecture's training in the job (``--epochs`` and ``--lr`` override): the CNNs with SGD, 3 and 5 epochs;
#: the transformer, which SGD trains poorly on 4,000 digits, with AdamW for longer.
TRAINING = {
    "resnet": TrainConfig(),
    "vgg": TrainConfig(epochs=5),
    "vit": TrainConfig(epochs=25, learning_rate=1e-3, weight_decay=0.05, optimizer="adamw"),
}


@dataclasses.dataclass(frozen=True)
class JobConfig(ExperimentConfig):
    """Sizes and settings of the main job or an experiment that probes its network (static).

    Attributes:
        dataset: passed to ``load_dataset`` (a tfds name needs ``data_dir``).
        data_dir: passed to ``load_dataset``.
        max_train: passed to ``load_dataset``.
        model: the network (``models.configs``: a CIFAR ResNet, a small VGG or a small ViT; cached by
            ``train_or_load``).
        train: how it is trained (cached by ``train_or_load``).
        design: tags, noise, intermodulation order and detection limit.
        n_images: test images tagged and probed.
        out: output folder.
        cache_dir: model/data cache (``$SSVEPJAX_CACHE`` or ``~/.cache/ssvepjax`` when None).
        chunk_size: images per probe step (the probe is checkpointed after each step).
        compile_cache: use JAX's persistent compilation cache under the cache dir.
        one_period: probe one stimulus period per image (exact; False runs every frame).
        pixel_noise: Gaussian noise (pixel units) added to every frame: the injected-noise null of the z rule
            (every frame is probed; use ``design.significance == "z"``).
        quick: the CI size (``QUICK``, set by ``--quick``).
        progress: show progress bars.
    """

    RUNTIME = ("quick", "progress", "out", "cache_dir", "compile_cache", "chunk_size")

    dataset: str = "mnist5k"
    data_dir: str | None = None
    max_train: int | None = None
    model: ModelConfig | VGGConfig | ViTConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    design: Design = Design()
    n_images: int = 16
    out: str = "runs/default"
    cache_dir: str | None = None
    chunk_size: int = 8
    compile_cache: bool = True
    one_period: bool = True
    pixel_noise: float = 0.0

    def __post_init__(self):
        for name in ("n_images", "chunk_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.pixel_noise, (int, float)) and self.pixel_noise >= 0):
            raise ValueError(f"pixel_noise must be a number >= 0, got {self.pixel_noise!r}")
        if self.pixel_noise and self.one_period:
            raise ValueError("pixel_noise > 0 needs every frame probed (one_period=False, --every-frame)")
        if self.pixel_noise and self.design.significance != "z":
            raise ValueError("with injected noise every bin holds noise above the detection limit: use the z rule "
                             "(significance='z', --significance z)")

    @property
    def out_dir(self) -> Path:
        p = Path(self.out)
        p.mkdir(parents=True, exist_ok=True)
        return p


def add_job_arguments(p: argparse.ArgumentParser, *, default_out: str, n_images: int) -> argparse.ArgumentParser:
    """Add the options of :class:`JobConfig` to ``p`` (the main job and every experiment use these)."""
    m, t, tags, noise, design = ModelConfig(), TrainConfig(), TagConfig(), NoiseConfig(), Design()
    parts = "; ".join(f"{n} tag{'s' if n > 1 else ''}: {', '.join(part_names(n))}" for n in (1, 2, 3, 4))
    g = p.add_argument_group("data and model")
    g.add_argument("--quick", action="store_true",
                   help=f"CI size: the architecture's small version (ResNet-8), {QUICK['epochs']} epoch on "
                        f"{QUICK['max_train']} images, {QUICK['n_images']} test images")
    g.add_argument("--dataset", default="mnist5k",
                   help="mnist5k (embedded, default), digits (embedded), or a tensorflow-datasets name read from "
                        "--data-dir")
    g.add_argument("--data-dir", default=None, help="tensorflow-datasets data dir (array_record) for --dataset")
    g.add_argument("--max-train", type=int, default=None, help="use at most this many training images (default all)")
    g.add_argument("--model", choices=sorted(ARCHITECTURES), default="resnet",
                   help="the network: a CIFAR ResNet (default), a small VGG with batch norm, or a small vision "
                        "transformer (models.configs)")
    g.add_argument("--depth", type=int, default=None,
                   help=f"ResNet depth 6n+2 (default {m.depth}; 8 with --quick); ResNet only")
    g.add_argument("--width", type=int, default=None, help=f"filters of the ResNet's first stage (default {m.width})")
    g.add_argument("--epochs", type=int, default=None,
                   help=f"training epochs (default {', '.join(f'{a} {c.epochs}' for a, c in TRAINING.items())}; "
                        f"1 with --quick)")
    g.add_argument("--batch-size", type=int, default=t.batch_size, help=f"training batch size (default {t.batch_size})")
    rates = ", ".join(f"{a} {c.learning_rate:g}" for a, c in TRAINING.items())
    g.add_argument("--lr", type=float, default=None,
                   help=f"peak learning rate (default {rates}; SGD with cosine decay for the CNNs, AdamW with warm-up "
                        f"for the ViT)")
    g.add_argument("--seed", type=int, default=t.seed, help=f"seed of initialisation and shuffling (default {t.seed})")
    g = p.add_argument_group("stimulus and analysis")
    g.add_argument("--n-images", type=int, default=None,
                   help=f"test images to tag and probe (default {n_images}; {QUICK['n_images']} with --quick)")
    g.add_argument("--freqs", type=float, nargs="+", default=list(tags.freqs_hz),
                   help=f"tag frequencies in Hz, one per part (default 6 7.5). Parts: {parts}; "
                        f"5 or more tags: that many vertical stripes")
    g.add_argument("--fps", type=float, default=tags.fps, help=f"frames per second (default {tags.fps:g})")
    g.add_argument("--n-frames", type=int, default=tags.n_frames, help=f"frames per image (default {tags.n_frames})")
    g.add_argument("--min-gain", type=float, default=tags.min_gain,
                   help=f"smallest contrast gain of a part, in [0, 1) (default {tags.min_gain})")
    g.add_argument("--max-order", type=int, default=4, help="highest intermodulation order (default 4)")
    g.add_argument("--n-neighbors", type=int, default=noise.n_neighbors,
                   help=f"noise bins per side of a component (default {noise.n_neighbors})")
    g.add_argument("--skip", type=int, default=noise.skip,
                   help=f"bins next to a component left out of its noise window, per side (default {noise.skip})")
    g.add_argument("--drop-extremes", type=int, default=noise.drop_extremes,
                   help=f"smallest and largest noise bins dropped from each window (default {noise.drop_extremes})")
    g.add_argument("--z-threshold", type=float, default=noise.z_threshold,
                   help=f"z above which the EEG rule calls a component significant (default {noise.z_threshold})")
    g.add_argument("--noise-exclude", choices=EXCLUDE, default=noise.exclude,
                   help="bins left out of every noise window: every listed component (default), every bin of the "
                        "tags' lattice, or none (the plain EEG window)")
    g.add_argument("--significance", choices=SIGNIFICANCE, default=design.significance,
                   help="which units respond: 'amplitude' (default) the amplitude test across images against the "
                        "detection limit, independent of the recording length; 'z' the EEG z rule (for "
                        "--pixel-noise; for a noise-free network it changes with --n-frames alone)")
    g.add_argument("--detection-limit", type=float, default=design.detection_limit,
                   help=f"coefficients at or below this fraction of their series' AC amplitude are float32 rounding "
                        f"(default {design.detection_limit:g}, from a float64 comparison)")
    g.add_argument("--pixel-noise", type=float, default=0.0,
                   help="standard deviation of Gaussian noise added to every pixel of every frame (default 0); "
                        "probes every frame; use with --significance z")
    g = p.add_argument_group("run")
    g.add_argument("--out", default=default_out, help=f"output folder (default {default_out})")
    g.add_argument("--cache-dir", default=None,
                   help="model/data/compilation cache (default $SSVEPJAX_CACHE or ~/.cache/ssvepjax)")
    g.add_argument("--chunk-size", type=int, default=8,
                   help="images per probe step; the probe is checkpointed after each step (default 8)")
    g.add_argument("--every-frame", action="store_true",
                   help="run all frames through the network, not one stimulus period (same result, slower)")
    g.add_argument("--no-compile-cache", action="store_true",
                   help="do not use JAX's persistent compilation cache (<cache-dir>/jax)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def job_parser(description: str, default_out: str, *, n_images: int = 32) -> argparse.ArgumentParser:
    """A parser with the :class:`JobConfig` options, for an experiment script."""
    return add_job_arguments(argparse.ArgumentParser(description=description), default_out=default_out,
                             n_images=n_images)


def config_from_args(args: argparse.Namespace, *, n_images: int = 32) -> JobConfig:
    """A :class:`JobConfig` from ``add_job_arguments`` options (``--quick`` sets the CI sizes).

    Raises ``ValueError`` naming the option for any invalid setting, before any work is done.
    """
    q = QUICK if args.quick else {}

    def pick(value, key, full):
        return value if value is not None else q.get(key, full)

    arch = getattr(args, "model", "resnet")
    if arch != "resnet" and (args.depth is not None or args.width is not None):
        raise ValueError(f"--depth and --width set a ResNet; --model {arch} has its own size (models.configs)")
    if arch == "resnet":
        model = ModelConfig(pick(args.depth, "depth", ModelConfig.depth if not args.quick else 8),
                            args.width if args.width is not None else ModelConfig.width)
    else:
        model = QUICK_MODELS[arch] if args.quick else ARCHITECTURES[arch]()
    base = TRAINING[arch]
    train = dataclasses.replace(base, epochs=pick(args.epochs, "epochs", base.epochs), batch_size=args.batch_size,
                                learning_rate=base.learning_rate if args.lr is None else args.lr, seed=args.seed)
    tags = TagConfig(tuple(args.freqs), args.fps, args.n_frames, args.min_gain)
    noise = NoiseConfig(args.n_neighbors, args.skip, args.drop_extremes, args.z_threshold, args.noise_exclude)
    design = Design(tags, noise, args.max_order, detection_limit=args.detection_limit, significance=args.significance)
    return JobConfig(
        dataset=args.dataset, data_dir=args.data_dir, max_train=pick(args.max_train, "max_train", None),
        model=model, train=train,
        design=design, n_images=pick(args.n_images, "n_images", n_images),
        out=args.out, cache_dir=args.cache_dir, chunk_size=args.chunk_size, progress=not args.no_progress,
        compile_cache=not args.no_compile_cache, one_period=not (args.every_frame or args.pixel_noise),
        pixel_noise=args.pixel_noise, quick=args.quick,
    )


def load_model(cfg: JobConfig) -> tuple[Dataset, TrainedModel, object]:
    """Load the dataset, train or restore the model, and take the first ``n_images`` test images.

    Returns:
        ``(data, trained, images [n_images, H, W, C])``.
    """
    data = load_dataset(cfg.dataset, data_dir=cfg.data_dir, max_train=cfg.max_train, cache_dir=cfg.cache_dir)
    if cfg.n_images > len(data.test_images):
        raise ValueError(f"n_images={cfg.n_images} exceeds the {len(data.test_images)} test images")
    trained = train_or_load(data, cfg.model, cfg.train, cache_dir=cfg.cache_dir, progress=cfg.progress)
    return data, trained, data.test_images[: cfg.n_images]


def job_settings(cfg: JobConfig, data: Dataset, trained: TrainedModel) -> dict:
    """The settings block every experiment writes into its JSON."""
    t = cfg.design.tags
    return {
        "quick": cfg.quick,
        "dataset": {"name": data.name, "source": data.source, "image_shape": list(data.image_shape),
                    "n_train": len(data.train_images), "n_test": len(data.test_images)},
        "model": {"arch": cfg.model.arch, "label": cfg.model.label, **dataclasses.asdict(cfg.model),
                  "epochs": cfg.train.epochs, "optimizer": cfg.train.optimizer,
                  "test_accuracy": trained.test_accuracy, "restored_from_cache": trained.restored},
        "tags": {"freqs_hz": list(t.freqs_hz), "parts": list(part_names(t.n_tags)), "fps": t.fps,
                 "n_frames": t.n_frames, "min_gain": t.min_gain, "phase": t.phase},
        "noise": dataclasses.asdict(cfg.design.noise),
        "max_order": cfg.design.max_order,
        "detection_limit": cfg.design.detection_limit,
        "resolution": cfg.design.resolution,
        "significance": cfg.design.rule,
        "pixel_noise": cfg.pixel_noise,
        "n_images": cfg.n_images,
    }


def run_script(main) -> None:
    """Run an experiment's ``main()``; a ``ValueError`` prints one line and exits with status 2."""
    import sys

    try:
        main()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


__all__ = ["JobConfig", "QUICK", "TRAINING", "add_job_arguments", "config_from_args", "job_parser", "load_model",
           "run_script", "job_settings"]
