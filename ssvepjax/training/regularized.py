"""Training with frequency-tagging loss terms, and the held-out measures that judge what they did.

A regulariser is a frozen :class:`Regularizer`: which terms of ``training.losses`` (``TERMS``) with which
weights, at which layers, on how many tagged images per step, with which short bin-aligned stimulus. At
every training step the first ``n_tagged`` images of the batch are tagged (one stimulus period, batch norm
in training mode over the frames) and

    loss = cross_entropy(batch) + sum_t weight_t * term_t(variables, batch[:n_tagged]),

through the one training loop, ``training.train.train_or_load`` (its ``loss_term``): the same optimiser,
shuffles and cache, with checkpoints every ``checkpoint_every`` steps and metrics as JSON lines.

The default stimulus is 3 and 4 Hz at 24 frames/s over 24 frames (one period; 1 Hz resolution): the tags,
their harmonics (6, 8, 9 Hz; 12 Hz is shared) and the order-2 intermodulation components (1 and 7 Hz) lie
on bins of their own, and a tagged image costs 24 forward and backward passes.

Judging a trained model on held-out images (:func:`held_out_measures`, :func:`part_corruption_accuracy`):

- each term's measure at the regulated layers, ``tag_measures`` with the training stimulus and batch
  norm in evaluation mode (the deployed network);
- the library's standard analysis, ``analyse`` + ``layer_summary`` with another stimulus (by default the
  paper's 6 and 7.5 Hz at 120 frames/s): the fraction of units that respond at intermodulation under the
  design's rule and the share of the units' AC power per kind of component (effect sizes);
- accuracy when one part of the image is set to 0 or gets Gaussian noise: whether the network needs both
  parts (integrates them) or classifies from either.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ssvepjax import _checks as V
from ssvepjax.analysis import analyse, layer_summary
from ssvepjax.data import Dataset
from ssvepjax.models import ModelConfig
from ssvepjax.recording import linen_fn
from ssvepjax.spectral import Design
from ssvepjax.tagging import TagConfig, default_parts
from ssvepjax.tagging.masks import PART_NAMES
from ssvepjax.training.losses import TERMS, bin_classes, linen_apply, spectral_loss, tag_measures
from ssvepjax.training.train import TrainConfig, TrainedModel, train_or_load

#: The training stimulus: 3 and 4 Hz at 24 frames/s, 24 frames (one period).
TRAINING_TAGS = TagConfig((3.0, 4.0), fps=24.0, n_frames=24)


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """Static settings of the frequency-tagging loss added to the task loss.

    Attributes:
        terms: ``{term: weight}`` (or pairs), terms from ``TERMS``, weights finite and >= 0. Empty: no term
            (plain training through the same loop).
        layers: the sown layers each term reads (e.g. ``"stage3_block4/conv2/post"``); each layer weighs 1.
        n_tagged: images of each batch that are tagged and go through the terms (each costs one stimulus
            period of forward and backward passes).
        tags: the training stimulus (every tag and component on a bin). Default 3 and 4 Hz, 24 fps, 24 frames.
        max_order: highest intermodulation order listed as a component (``purity`` counts the rest as impure).
    """

    terms: tuple[tuple[str, float], ...] = ()
    layers: tuple[str, ...] = ()
    n_tagged: int = 4
    tags: TagConfig = TRAINING_TAGS
    max_order: int = 2

    def __post_init__(self):
        terms = self.terms.items() if isinstance(self.terms, Mapping) else self.terms
        try:
            terms = tuple((str(t), w) for t, w in terms)
        except (TypeError, ValueError):
            raise ValueError(f"terms must be {{term: weight}} or (term, weight) pairs, got {self.terms!r}") from None
        for t, w in terms:
            if t not in TERMS:
                raise ValueError(f"terms: {t!r} is not a term; valid terms are {TERMS}")
            if not (isinstance(w, (int, float, np.number)) and not isinstance(w, bool) and math.isfinite(w)
                    and w >= 0):
                raise ValueError(f"terms: the weight of {t!r} must be a finite number >= 0, got {w!r}")
        if len({t for t, _ in terms}) != len(terms):
            raise ValueError(f"terms: each term at most once, got {[t for t, _ in terms]}")
        layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
        if terms and not layers:
            raise ValueError("layers must name at least one sown layer when terms are given")
        V.check_positive("n_tagged", self.n_tagged, integer=True)
        if not isinstance(self.tags, TagConfig):
            raise ValueError(f"tags must be a TagConfig, got {type(self.tags).__name__}")
        object.__setattr__(self, "terms", tuple((t, float(w)) for t, w in terms))
        object.__setattr__(self, "layers", layers)
        V.check_positive("max_order", self.max_order, integer=True)
        if "intermodulation" in dict(self.terms) and not bin_classes(
                self.design, self.tags.period_frames, self.tags.repeats)["intermodulation"].any():
            raise ValueError(f"the intermodulation term needs a design with intermodulation components (two or more "
                             f"tags, max_order >= 2), got tags {self.tags.freqs_hz} Hz, max_order={self.max_order}")

    @property
    def design(self) -> Design:
        return Design(self.tags, max_order=self.max_order)

    def key(self) -> str:
        """The settings as a JSON string (the cache key of a model trained with them)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def regularizer(reg: Regularizer, module, image_shape: Sequence[int]):
    """``loss_term(variables, x [B, H, W, C]) -> (total, {term: value})`` for ``train_or_load(loss_term=...)``.

    ``total = sum_t weight_t * term_t(variables, x[:n_tagged])``; the parts are the unweighted terms. Layer
    names are checked now (an abstract trace), so a typo fails before training starts.
    """
    h, w, c = (int(s) for s in image_shape)
    masks = default_parts(h, w, reg.tags.n_tags)
    apply = linen_apply(module, train=True)
    losses = {t: spectral_loss(t, apply, masks, reg.design, layers=list(reg.layers)) for t, _ in reg.terms}
    weights = dict(reg.terms)

    def loss_term(variables, x):
        if x.shape[0] < reg.n_tagged:
            raise ValueError(f"n_tagged={reg.n_tagged} exceeds the batch of {x.shape[0]} images")
        parts = {t: f(variables, x[:reg.n_tagged]) for t, f in losses.items()}
        return sum(weights[t] * v for t, v in parts.items()), parts

    if losses:
        abstract = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, h, w, c)), train=False))
        jax.eval_shape(loss_term, abstract, jax.ShapeDtypeStruct((reg.n_tagged, h, w, c), jnp.float32))
    return loss_term


def train_regularized(
    data: Dataset,
    model: ModelConfig = ModelConfig(),
    train: TrainConfig = TrainConfig(),
    reg: Regularizer = Regularizer(),
    *,
    cache_dir: str | None = None,
    progress: bool = True,
    checkpoint_every: int | None = 50,
    metrics_path=None,
    log_every: int = 10,
) -> TrainedModel:
    """Train (or restore, or resume) ``model`` on ``data`` with the task loss plus ``reg``'s terms.

    ``train_or_load`` with ``loss_term=regularizer(reg, ...)``; with no terms, plain training through the same
    loop (same shuffles, same optimiser), checkpointed by step. Arguments after ``reg`` go to
    ``train_or_load``.
    """
    if reg.n_tagged > train.batch_size:
        raise ValueError(f"n_tagged={reg.n_tagged} must be at most the batch size {train.batch_size}")
    term = key = None
    if reg.terms:
        term = regularizer(reg, model.build(data.num_classes), data.image_shape)
        key = reg.key()
    return train_or_load(data, model, train, cache_dir=cache_dir, progress=progress, loss_term=term, loss_key=key,
                         checkpoint_every=checkpoint_every, metrics_path=metrics_path, log_every=log_every)


def part_corruption_accuracy(
    module,
    variables,
    images,
    labels,
    masks,
    *,
    noise_sd: float = 0.5,
    seed: int = 0,
    batch_size: int = 500,
) -> dict:
    """Accuracy on ``images [N, H, W, C]`` when one part is set to 0, or gets Gaussian noise (clipped to [0, 1]).

    Args:
        module, variables: a Linen classifier (evaluation mode) and its variables.
        images, labels: held-out images in [0, 1] and int labels ``[N]``.
        masks: ``[P, H, W]`` parts (e.g. ``halves``: left, right).
        noise_sd: standard deviation of the noise added to the pixels of the part (image units).
        seed: seed of the noise.

    Returns:
        ``{"clean": a, "zeroed": [a per part], "noised": [a per part], "parts": [names]}``.
    """
    if not (isinstance(noise_sd, (int, float)) and math.isfinite(noise_sd) and noise_sd >= 0):
        raise ValueError(f"noise_sd must be a finite number >= 0, got {noise_sd!r}")
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels)
    masks = np.asarray(masks, bool)
    if masks.ndim != 3 or masks.shape[1:] != images.shape[1:3]:
        raise ValueError(f"masks must be [P, H, W] with H, W = {images.shape[1:3]}, got shape {masks.shape}")
    predict = jax.jit(lambda x: jnp.argmax(module.apply(variables, x, train=False), -1))

    def acc(x):
        pred = np.concatenate([np.asarray(predict(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])
        return float((pred == labels).mean())

    noise = np.random.default_rng(seed).standard_normal(images.shape).astype(np.float32) * noise_sd
    zeroed, noised = [], []
    for m in masks[..., None]:
        zeroed.append(acc(np.where(m, 0.0, images)))
        noised.append(acc(np.where(m, np.clip(images + noise, 0.0, 1.0), images)))
    names = PART_NAMES.get(len(masks), tuple(f"part {i}" for i in range(len(masks))))
    return {"clean": acc(images), "zeroed": zeroed, "noised": noised, "parts": list(names)}


def held_out_measures(
    module,
    variables,
    images,
    reg: Regularizer,
    layers: Sequence[str],
    *,
    analysis_design: Design = Design(),
    progress: bool = False,
) -> dict:
    """The terms' measures and the standard analysis of ``layers`` over held-out ``images [N, H, W, C]``.

    Batch norm in evaluation mode (the deployed network). Returns ``{layer: {...}}`` with

    - ``share``: ``{term: 1 - loss}`` with the training stimulus ``reg.design`` (``tag_measures``: each
      unit's powers summed over the images; higher is more of what the term rewards);
    - ``analysis``: from ``analyse`` + ``layer_summary`` with ``analysis_design``: ``any_intermodulation``
      and ``any_harmonic`` (fractions of units that respond under the design's rule), ``power_share``
      (mean share of the units' AC power per kind of component), ``im_ratio`` (median sqrt of
      intermodulation over fundamental power), ``silent_fraction`` and ``false_positive_rate``.
    """
    images = np.asarray(images, np.float32)
    h, w = images.shape[1:3]
    layers = list(layers)
    shares = tag_measures(linen_apply(module), variables, images, default_parts(h, w, reg.tags.n_tags), reg.design,
                          layers=layers)
    fn = linen_fn(module, variables, capture_intermediates=False, include=layers, train=False)
    results = analyse(fn, images, default_parts(h, w, analysis_design.tags.n_tags), analysis_design,
                      progress=progress)
    out = {}
    for name in layers:
        s = layer_summary(results[name], analysis_design, top_k=0)
        out[name] = {"share": shares[name], "analysis": {
            "any_intermodulation": s["any_intermodulation"], "any_harmonic": s["any_harmonic"],
            "power_share": s["effects"]["share"], "im_ratio": s["effects"]["im_ratio"],
            "silent_fraction": s["silent_fraction"], "false_positive_rate": s["false_positive_rate"]}}
    return out


__all__ = ["TRAINING_TAGS", "Regularizer", "held_out_measures", "part_corruption_accuracy", "regularizer",
           "train_regularized"]
