"""Experiment: the follow-up paper's pipeline on a converted torchvision model and images with object boxes.

Böge et al., "A Biologically Inspired Filter Significance Assessment Method for Model Explanation" (xAI
2025): filters selected by their SSVEP response, plugged into Grad-CAM, Grad-CAM++, LayerCAM and EigenCAM
of ImageNet CNNs (VGG-16, ResNet-50, ResNeXt-50), give maps with a higher energy concentration. This
script measures that claim, and whether the maps sit on the object, against the baselines.

Model: a torchvision state dict (``.pth`` with torch installed, or ``.safetensors``) converted by
``sj.models.load_torch_model``, its ImageNet normalisation applied per frame after tagging. Images: a
folder of JPEGs with their PASCAL VOC XML boxes, as ImageNet's validation set ships them
(``sj.load_box_folder``; resized to ``--size`` without cropping). Tagging: the image's quadrants flicker
at 7, 11, 13 and 16 Hz (120 fps; every fundamental, harmonic and order-2 intermodulation on its own bin).
Selectors at the CAM layer (``sj.explain.selection_scores``): ``tag-image:<kind>`` (the image's own tag
score), ``tag:<kind>`` and ``activation`` (over the first ``n_calib`` images, which are not evaluated),
``activation-image``, ``l1`` and ``random``. Every image's energy in the box, energy concentration (top
20 %), localisation (IoU >= 0.5) and deletion / insertion AUC are kept; the summary is the mean over
images with its standard error, and each selector minus random of the same k paired by image, with a
95 % normal interval: "higher" / "lower" when it excludes 0, else "inconclusive".

With real weights and images (e.g. ImageNet's validation set and torchvision's ResNet-50 weights)::

    python experiments/follow_up.py --arch resnet50 --weights resnet50-0676ba61.pth \\
        --images ILSVRC2012_img_val --annotations val_xml --synsets LOC_synset_mapping.txt --limit 1000

``--quick`` runs a ResNet-18 with random weights on generated images with boxes (CI size, about 20 s).
Writes ``follow_up.json`` (provenance, table, versus random), ``follow_up_table.csv``,
``follow_up_vs_random.csv`` and ``follow_up_metrics.png``; chunks of images are stored as they finish and
a rerun with the same settings resumes after the last one.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

import ssvepjax as sj
from ssvepjax.explain import box_evaluation as B
from ssvepjax.explain import cams as C
from ssvepjax.testing.box_folder import write_box_folder


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of one run (``quick()`` for CI)."""

    arch: str = "resnet50"
    size: int = 224
    layers: tuple[str, ...] = ()  # () = the architecture's last conv layer (default_layer)
    tags_hz: tuple[float, ...] = (7.0, 11.0, 13.0, 16.0)
    fps: float = 120.0
    n_frames: int = 240
    max_order: int = 2
    n_calib: int = 32
    limit: int | None = None  # images evaluated after the calibration images (None: all)
    chunk: int = 16
    ks: tuple[int, ...] = (16, 64, 256)
    n_random: int = 10
    curve_ks: tuple[int, ...] = (64,)
    curve_selectors: tuple[str, ...] = ("tag-image:combined", "tag:combined", "random", "l1", "activation-image")
    curve_steps: int = 16
    seed: int = 0

    @classmethod
    def quick(cls) -> Config:
        # 32 x 32 images: the last stage is 1 x 1 there, so the maps come from stage 3 (2 x 2).
        return cls(arch="resnet18", size=32, layers=("stage3_block1/conv2",), n_frames=120, n_calib=2, limit=3,
                   chunk=2, ks=(8, 64), n_random=2,
                   curve_ks=(64,), curve_selectors=("tag-image:combined", "random"), curve_steps=4)

    def key(self) -> str:
        return sj.config_key(self)


def default_layer(model) -> str:
    """The CAM layer of the follow-up paper and pytorch-grad-cam: the last conv output before the pooling."""
    if isinstance(model, sj.models.ImageNetResNet):
        last = f"stage{len(model.stage_sizes)}_block{model.stage_sizes[-1] - 1}"
        return f"{last}/{'conv2' if model.block == 'basic' else 'conv3'}"  # its output is the block's output
    if isinstance(model, sj.models.VGG):
        return f"conv{len(model.stages)}_{len(model.stages[-1])}"
    raise ValueError(f"the follow-up pipeline explains CNNs (ResNet, ResNeXt, VGG), not {type(model).__name__}")


def load(cfg: Config, weights: str | None):
    """(model, variables): converted torchvision weights, or random ones (said on stdout) without a file."""
    if weights:
        return sj.models.load_torch_model(cfg.arch, weights)
    print(f"no --weights: {cfg.arch} with random weights (a smoke test, not a result)", flush=True)
    model = sj.models.TORCH_ARCHITECTURES[cfg.arch](1000)
    x = jax.ShapeDtypeStruct((1, cfg.size, cfg.size, 3), jnp.float32)
    return model, sj.models.random_variables(model, x, seed=cfg.seed, train=False)


def run(cfg: Config, model, variables, boxes: sj.data.BoxFolder, labels: np.ndarray | None, out: Path,
        progress: bool) -> dict:
    """Score the calibration images once, then evaluate the rest chunk by chunk (each stored as it ends)."""
    layers = cfg.layers or (default_layer(model),)
    design = sj.Design(sj.TagConfig(freqs_hz=cfg.tags_hz, fps=cfg.fps, n_frames=cfg.n_frames), max_order=cfg.max_order)
    masks = sj.quadrants(cfg.size, cfg.size)
    prep = sj.models.imagenet_normalize
    fn = sj.linen_fn(model, variables, capture_intermediates=True, include=list(layers), train=False, preprocess=prep)
    taps = {layer: C.linen_tap(model, variables, layer, (cfg.size, cfg.size, 3), preprocess=prep, train=False)
            for layer in layers}
    prob = jax.jit(lambda x: jax.nn.softmax(model.apply(variables, prep(x), train=False)))
    n_cal = cfg.n_calib
    if len(boxes.images) <= n_cal:
        raise ValueError(f"need more than n_calib={n_cal} images, the folder gives {len(boxes.images)}")
    shared = {layer: sj.resumable_step(out / "chunks", f"calibration_{layer.replace('/', '.')}_{cfg.key()}",
                                       lambda layer=layer: B.selection_scores(fn, variables, layer,
                                                                              boxes.images[:n_cal], masks, design,
                                                                              per_image=False))
              for layer in layers}
    stop = len(boxes.images) if cfg.limit is None else min(len(boxes.images), n_cal + cfg.limit)
    starts = list(range(n_cal, stop, cfg.chunk))
    values: dict[str, dict[str, list]] = {layer: {} for layer in layers}
    for i, start in enumerate(tqdm(starts, desc="image chunks", disable=not progress)):
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

        res = sj.resumable_step(out / "chunks", f"chunk{i:05d}_{cfg.key()}", compute)
        for layer in layers:
            for name, v in res[layer].items():
                values[layer].setdefault(name, []).extend(v)
    table, versus = [], []
    for layer in layers:
        t, v = B.summarize({k: np.asarray(x) for k, x in values[layer].items()})
        table += [{"layer": layer, **r} for r in t]
        versus += [{"layer": layer, **r} for r in v]
    return {"layers": list(layers), "n_evaluated": stop - n_cal, "table": table, "versus_random": versus,
            "filters": {layer: taps[layer].layer_shape[-1] for layer in layers}}


def read_labels(boxes: sj.data.BoxFolder, synsets: str | None) -> np.ndarray | None:
    """Class indices of the boxes' synsets from a file of one synset per line in class order, or None."""
    if synsets is None:
        return None
    order = [line.split()[0] for line in Path(synsets).read_text().splitlines() if line.strip()]
    index = {s: i for i, s in enumerate(order)}
    missing = sorted(set(boxes.classes) - set(index))
    if missing:
        raise ValueError(f"--synsets {synsets} lacks the classes {missing[:5]} of the annotations")
    return np.asarray([index[s] for s in boxes.classes], np.int64)


def parse_args(argv=None) -> argparse.Namespace:
    """The options of the command line (nothing runs)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI size: ResNet-18, random weights, generated images")
    p.add_argument("--arch", default=None, help=f"one of {sorted(sj.models.TORCH_ARCHITECTURES)} (CNNs)")
    p.add_argument("--weights", default=None, help="torchvision state dict (.pth/.pt/.safetensors)")
    p.add_argument("--images", default=None, help="folder of images (default with --quick: generated)")
    p.add_argument("--annotations", default=None, help="folder of the <image stem>.xml boxes (default: --images)")
    p.add_argument("--synsets", default=None, help="one synset per line in class order: explain the labels, "
                   "not the predictions")
    p.add_argument("--limit", type=int, default=None, help="images evaluated after the calibration images")
    p.add_argument("--layers", default=None, help="comma-separated CAM layers (default: the last conv output)")
    p.add_argument("--out", default=None, help="output folder (runs/follow_up[_quick])")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    a = parse_args(argv)
    cfg = Config.quick() if a.quick else Config()
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("arch", a.arch), ("limit", a.limit)) if v is not None},
                              **({"layers": tuple(a.layers.split(","))} if a.layers else {}))
    out = Path(a.out or ("runs/follow_up_quick" if a.quick else "runs/follow_up"))
    (out / "chunks").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    images = a.images
    if images is None:
        if not a.quick:
            raise SystemExit("--images is required without --quick")
        images = out / "generated_images"
        if not (images / "synthetic_00000.xml").exists():
            write_box_folder(images, cfg.n_calib + cfg.limit, seed=cfg.seed)
    boxes = sj.load_box_folder(images, cfg.size, annotations=a.annotations,
                               limit=None if cfg.limit is None else cfg.n_calib + cfg.limit)
    labels = read_labels(boxes, a.synsets)
    model, variables = load(cfg, a.weights)
    res = run(cfg, model, variables, boxes, labels, out, not a.no_progress)
    sources = {"weights": a.weights or "random", "images": str(images), "annotations": a.annotations,
               "targets": "labels" if labels is not None else "predicted class"}
    report = {"experiment": "follow_up", "provenance": sj.provenance(cfg, started=t0), "sources": sources, **res}
    sj.write_json(out / "follow_up.json", report)
    sj.write_csv(out / "follow_up_table.csv", res["table"])
    sj.write_csv(out / "follow_up_vs_random.csv", res["versus_random"])
    first = res["layers"][0]
    title = (f"{cfg.arch} ({sources['weights']} weights), layer {first} ({res['filters'][first]} filters), "
             f"{res['n_evaluated']} images; mean +- s.e. over images")
    sj.plot_selection_metrics([r for r in res["table"] if r["layer"] == first],
                              str(out / "follow_up_metrics.png"), title=title)
    print(f"wrote {out}/follow_up.json, follow_up_table.csv, follow_up_vs_random.csv, follow_up_metrics.png "
          f"in {time.time() - t0:.0f} s")
    return report


if __name__ == "__main__":
    main()
