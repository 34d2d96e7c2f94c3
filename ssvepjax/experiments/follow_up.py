"""Experiment 12: the follow-up paper's pipeline on a converted torchvision model and images with object boxes.

Böge et al., "A Biologically Inspired Filter Significance Assessment Method for Model Explanation" (xAI 2025):
filters selected by their SSVEP response, plugged into Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM of ImageNet CNNs
(VGG-16, ResNet-50, ResNeXt-50), give maps with a higher energy concentration. This experiment measures that claim,
and whether the maps sit on the object, against the baselines.

Model: a torchvision state dict (``.pth`` with torch installed, or ``.safetensors``) converted by
``models.load_torch_model``, its ImageNet normalisation applied per frame after tagging; without ``weights``, random
weights (a smoke test, not a result). Images: a folder of JPEGs with their PASCAL VOC XML boxes, as ImageNet's
validation set ships them (``data.load_box_folder``; resized to ``size`` without cropping); with ``quick`` and no
``images``, generated images with boxes. Tagging: the image's quadrants flicker at 7, 11, 13 and 16 Hz (120 fps;
every fundamental, harmonic and order-2 intermodulation on its own bin). Selectors at the CAM layer
(``explain.selection_scores``): ``tag-image:<kind>`` (the image's own tag score), ``tag:<kind>`` and ``activation``
(over the first ``n_calib`` images, which are not evaluated), ``activation-image``, ``l1`` and ``random``. Every
image's energy in the box, energy concentration (top 20 %), localisation (IoU >= 0.5) and deletion / insertion AUC
are kept (``explain.evaluate_selections``); the summary (``explain.box_evaluation.summarize``) is the mean over images
with its standard error, and each selector minus random of the same k paired by image with the project's verdict
(``stats.verdicts``: paired t-test, Holm-corrected within one CAM method and one metric, "matches" within
``margin``).

Writes ``follow_up.json`` (provenance, sources, table, versus random with verdicts), ``follow_up_table.csv``,
``follow_up_vs_random.csv`` and ``follow_up_metrics.png``; the calibration scores and each chunk of images are steps
of the store (``steps/``), so a rerun with the same settings resumes after the last finished chunk.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax.data.box_folder import BoxFolder, load_box_folder
from ssvepjax.experiments.framework import ExperimentConfig
from ssvepjax.experiments.seed_verdicts import check_rule
from ssvepjax.experiments.store import Store
from ssvepjax.explain import box_evaluation as B
from ssvepjax.explain import cams as C
from ssvepjax.models import (
    TORCH_ARCHITECTURES,
    VGG,
    ImageNetResNet,
    imagenet_normalize,
    load_torch_model,
    random_variables,
)
from ssvepjax.recording.adapters import linen_fn
from ssvepjax.report import plots
from ssvepjax.spectral.design import Design
from ssvepjax.tagging.masks import quadrants
from ssvepjax.tagging.tags import TagConfig
from ssvepjax.testing.box_folder import write_box_folder

__all__ = ["Config", "default_layer", "load", "read_labels", "report", "run"]



@dataclasses.dataclass(frozen=True)
class Config(ExperimentConfig):
    """Sizes and sources of one run (``QUICK``: the CI size, a ResNet-18 with random weights on generated images,
    about 20 s).

    Attributes:
        arch: a CNN of ``models.TORCH_ARCHITECTURES`` (ResNet, ResNeXt, VGG).
        weights: torchvision state dict (``.pth``/``.pt``/``.safetensors``); None: random weights (a smoke test).
        images: folder of images with VOC boxes; None: generated images (with ``quick`` only).
        annotations: folder of the ``<image stem>.xml`` boxes (None: ``images``).
        synsets: one synset per line in class order: explain the labels, not the predictions (None: predictions).
        size: images are resized to ``size x size``.
        layers: CAM layers (empty: the architecture's last conv output, :func:`default_layer`); ``"a,b"`` splits.
        tags_hz, fps, n_frames, max_order: the quadrants' tags and the design's intermodulation order.
        n_calib: the first images, scored for the shared selectors and not evaluated.
        limit: images evaluated after the calibration images (None: all).
        chunk: images per stored step.
        ks: filters kept (those above a layer's filters are dropped).
        n_random: random subsets per image and k.
        curve_ks, curve_selectors, curve_steps: deletion / insertion AUC at these ks, for these selectors, in steps.
        seed: random weights and random subsets.
        alpha, margin, correction: the verdict rule's level, equivalence margin (metric units) and correction over
            each family (``explain.box_evaluation.FAMILY``).
    """

    QUICK = dict(arch="resnet18", size=32, layers=("stage3_block1/conv2",), n_frames=120, n_calib=2, limit=2,
                 chunk=1, ks=(8, 64), n_random=2, curve_ks=(64,), curve_selectors=("tag-image:combined", "random"),
                 curve_steps=4)
    RULE = ("alpha", "margin", "correction")

    arch: str = "resnet50"
    weights: str | None = None
    images: str | None = None
    annotations: str | None = None
    synsets: str | None = None
    size: int = 224
    layers: tuple[str, ...] = ()
    tags_hz: tuple[float, ...] = (7.0, 11.0, 13.0, 16.0)
    fps: float = 120.0
    n_frames: int = 240
    max_order: int = 2
    n_calib: int = 32
    limit: int | None = None
    chunk: int = 16
    ks: tuple[int, ...] = (16, 64, 256)
    n_random: int = 10
    curve_ks: tuple[int, ...] = (64,)
    curve_selectors: tuple[str, ...] = ("tag-image:combined", "tag:combined", "random", "l1", "activation-image")
    curve_steps: int = 16
    seed: int = 0
    alpha: float = 0.05
    margin: float = 0.01
    correction: str = "holm"

    def __post_init__(self):
        # The command line took comma-separated layers before the framework's space-separated lists: both work.
        object.__setattr__(self, "layers", tuple(n for x in self.layers for n in x.split(",") if n))
        if self.arch not in TORCH_ARCHITECTURES:
            raise ValueError(f"arch must be one of {sorted(TORCH_ARCHITECTURES)}, got {self.arch!r}")
        check_rule(self.alpha, self.margin, self.correction)

    @property
    def design(self) -> Design:
        """The tags of the four quadrants and the highest intermodulation order."""
        return Design(TagConfig(freqs_hz=self.tags_hz, fps=self.fps, n_frames=self.n_frames), max_order=self.max_order)


def default_layer(model) -> str:
    """The CAM layer of the follow-up paper and pytorch-grad-cam: the last conv output before the pooling."""
    if isinstance(model, ImageNetResNet):
        last = f"stage{len(model.stage_sizes)}_block{model.stage_sizes[-1] - 1}"
        return f"{last}/{'conv2' if model.block == 'basic' else 'conv3'}"  # its output is the block's output
    if isinstance(model, VGG):
        return f"conv{len(model.stages)}_{len(model.stages[-1])}"
    raise ValueError(f"the follow-up pipeline explains CNNs (ResNet, ResNeXt, VGG), not {type(model).__name__}")


def load(cfg: Config):
    """(model, variables): converted torchvision weights, or random ones (said on stdout) without a file."""
    if cfg.weights:
        return load_torch_model(cfg.arch, cfg.weights)
    print(f"no --weights: {cfg.arch} with random weights (a smoke test, not a result)", flush=True)
    model = TORCH_ARCHITECTURES[cfg.arch](1000)
    x = jax.ShapeDtypeStruct((1, cfg.size, cfg.size, 3), jnp.float32)
    return model, random_variables(model, x, seed=cfg.seed, train=False)


def read_labels(boxes: BoxFolder, synsets: str | None) -> np.ndarray | None:
    """Class indices of the boxes' synsets from a file of one synset per line in class order, or None."""
    if synsets is None:
        return None
    order = [line.split()[0] for line in Path(synsets).read_text().splitlines() if line.strip()]
    index = {s: i for i, s in enumerate(order)}
    missing = sorted(set(boxes.classes) - set(index))
    if missing:
        raise ValueError(f"--synsets {synsets} lacks the classes {missing[:5]} of the annotations")
    return np.asarray([index[s] for s in boxes.classes], np.int64)


def _evaluate(cfg: Config, model, variables, boxes: BoxFolder, labels: np.ndarray | None, store: Store) -> dict:
    """Score the calibration images once, then evaluate the rest chunk by chunk (each stored as it ends)."""
    layers = cfg.layers or (default_layer(model),)
    design = cfg.design
    key = cfg.piece_key()
    masks = quadrants(cfg.size, cfg.size)
    prep = imagenet_normalize
    fn = linen_fn(model, variables, capture_intermediates=True, include=list(layers), train=False, preprocess=prep)
    taps = {layer: C.linen_tap(model, variables, layer, (cfg.size, cfg.size, 3), preprocess=prep, train=False)
            for layer in layers}
    prob = jax.jit(lambda x: jax.nn.softmax(model.apply(variables, prep(x), train=False)))
    n_cal = cfg.n_calib
    if len(boxes.images) <= n_cal:
        raise ValueError(f"need more than n_calib={n_cal} images, the folder gives {len(boxes.images)}")
    shared = {layer: store.step(f"calibration_{layer.replace('/', '.')}_{key}",
                                lambda layer=layer: B.selection_scores(fn, variables, layer, boxes.images[:n_cal],
                                                                       masks, design, per_image=False))
              for layer in layers}
    stop = len(boxes.images) if cfg.limit is None else min(len(boxes.images), n_cal + cfg.limit)
    starts = list(range(n_cal, stop, cfg.chunk))
    values: dict[str, dict[str, list]] = {layer: {} for layer in layers}
    for i, start in enumerate(tqdm(starts, desc="image chunks", disable=not cfg.progress)):
        x = boxes.images[start:start + cfg.chunk]
        b = boxes.boxes[start:start + cfg.chunk]

        def compute(x=x, b=b, start=start):
            predicted = np.asarray(prob(jnp.asarray(x))).argmax(1)
            targets = predicted if labels is None else labels[start:start + len(x)]
            res = {"targets": targets, "top1_correct": None if labels is None else predicted == targets}
            for layer in layers:
                c = taps[layer].layer_shape[-1]
                scores = {**shared[layer], **B.selection_scores(fn, variables, layer, x, masks, design,
                                                                per_image=True)}
                res[layer] = B.evaluate_selections(
                    taps[layer], x, b, targets, scores, [k for k in cfg.ks if k <= c], n_random=cfg.n_random,
                    key=jax.random.fold_in(jax.random.key(cfg.seed), start), prob_fn=prob,
                    curve_ks=[k for k in cfg.curve_ks if k <= c], curve_selectors=cfg.curve_selectors,
                    curve_steps=cfg.curve_steps, batch_size=cfg.chunk)
            return res

        res = store.step(f"chunk{i:05d}_{key}", compute)
        for layer in layers:
            for name, v in res[layer].items():
                values[layer].setdefault(name, []).extend(v)
    table, versus = [], []
    for layer in layers:
        t, v = B.summarize({k: np.asarray(x) for k, x in values[layer].items()}, alpha=cfg.alpha, margin=cfg.margin,
                           correction=cfg.correction)
        table += [{"layer": layer, **r} for r in t]
        versus += [{"layer": layer, **r} for r in v]
    return {"layers": list(layers), "n_evaluated": stop - n_cal, "table": table, "versus_random": versus,
            "filters": {layer: taps[layer].layer_shape[-1] for layer in layers}}


def run(cfg: Config, store: Store) -> dict:
    """Load the images, their labels and the model, evaluate every selection, summarise and draw the metrics."""
    images = cfg.images
    if images is None:
        if not cfg.quick:
            raise ValueError("--images is required without --quick")
        images = store.path("generated_images")
        if not (images / "synthetic_00000.xml").exists():
            write_box_folder(images, cfg.n_calib + cfg.limit, seed=cfg.seed)
    boxes = load_box_folder(images, cfg.size, annotations=cfg.annotations,
                            limit=None if cfg.limit is None else cfg.n_calib + cfg.limit)
    labels = read_labels(boxes, cfg.synsets)
    model, variables = load(cfg)
    res = _evaluate(cfg, model, variables, boxes, labels, store)
    sources = {"weights": cfg.weights or "random", "images": str(images), "annotations": cfg.annotations,
               "targets": "labels" if labels is not None else "predicted class"}
    first = res["layers"][0]
    title = (f"{cfg.arch} ({sources['weights']} weights), layer {first} ({res['filters'][first]} filters), "
             f"{res['n_evaluated']} images; mean +- s.e. over images")
    plots.plot_selection_metrics([r for r in res["table"] if r["layer"] == first],
                                 str(store.path("follow_up_metrics.png")), title=title)
    verdicts = {"alpha": cfg.alpha, "correction": cfg.correction, "margin": cfg.margin, "n_images": res["n_evaluated"],
                "values": "a metric of each image's map with a selector's k filters minus its mean over random "
                          "subsets of k filters, paired by image", "higher_is_better": "every metric but deletion AUC",
                "family": B.FAMILY}
    tally = dict(Counter(r["verdict"] for r in res["versus_random"]))
    return store.write({"experiment": "follow_up", "sources": sources, **res, "verdict_rule": verdicts,
                        "verdict_tally": tally},
                       tables={"follow_up_table": res["table"], "follow_up_vs_random": res["versus_random"]})


def report(result: dict) -> str:
    """The evaluated images, the layers and the verdicts' tally against random."""
    return (f"{result['n_evaluated']} images, layers {', '.join(result['layers'])} ({result['sources']['weights']} "
            f"weights); against random, paired by image: {result['verdict_tally']}")
