"""Short fine-tuning of a pruned network with optax, and its accuracy.

A pruned ``CifarResNet`` (``structure.prune``) is an ordinary Linen model: :func:`finetune` trains
all its parameters for a fixed number of steps with SGD + Nesterov momentum, a cosine-decayed
learning rate and decoupled weight decay (the recipe of ``sj.TrainConfig``), batch norm in training
mode (its running statistics adapt to the removed channels). :func:`recalibrate_bn` only
re-estimates the batch-norm statistics of a pruned network on training images, without changing a
weight (as in EagleEye, Li et al. 2020: a pruned network's accuracy before fine-tuning says more
once its statistics match its remaining channels). :func:`accuracy` is the test accuracy in
inference mode.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ssvepjax.training.train import TrainConfig, optimizer, supervised_update

__all__ = ["FinetuneConfig", "accuracy", "finetune", "recalibrate_bn"]


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning settings (static).

    Attributes:
        steps: optimiser steps (``steps * batch_size / N_train`` epochs).
        optimizer: the optimiser of ``training.train`` (batch size, peak learning rate of the cosine decay,
            Nesterov momentum, decoupled weight decay, seed of the example order; its ``epochs`` is unused).
    """

    steps: int = 60
    optimizer: TrainConfig = TrainConfig(learning_rate=0.01)

    def __post_init__(self):
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not isinstance(self.optimizer, TrainConfig):
            raise ValueError(f"optimizer must be a TrainConfig, got {type(self.optimizer).__name__}")


def _check_data(images, labels) -> None:
    if np.ndim(images) != 4 or len(images) == 0:
        raise ValueError(f"images must be [N, H, W, C] with N >= 1, got shape {np.shape(images)}")
    if np.shape(labels) != (len(images),):
        raise ValueError(f"labels must be [N] = [{len(images)}], got shape {np.shape(labels)}")


@functools.partial(jax.jit, static_argnums=(0, 1))
def _step(model, config: FinetuneConfig, params, batch_stats, opt_state, x, y):
    # Compiled once per (model, settings): the many fine-tunings of a pruning curve share it.
    return supervised_update(model, optimizer(config.optimizer, config.steps), params, batch_stats, opt_state, x, y)


def finetune(model, variables: dict, images: np.ndarray, labels: np.ndarray,
             config: FinetuneConfig = FinetuneConfig(), *, progress: bool = False) -> dict:
    """Train every parameter of ``model`` for ``config.steps`` steps from ``variables``.

    Args:
        model: a Linen model with batch norm (``train`` argument, ``batch_stats`` collection).
        variables: its starting variables (``params``, ``batch_stats``).
        images: ``[N, H, W, C]`` training images.
        labels: ``[N]`` int labels.
        config: :class:`FinetuneConfig`.
        progress: progress bar over steps.

    Returns:
        The fine-tuned variables (same structure).
    """
    _check_data(images, labels)
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    opt_state = optimizer(config.optimizer, config.steps).init(params)
    rng = np.random.default_rng(config.optimizer.seed)
    n, b = len(images), min(config.optimizer.batch_size, len(images))
    order = rng.permutation(n)
    pos = 0
    for _ in tqdm(range(config.steps), desc="fine-tune", disable=not progress, leave=False):
        if pos + b > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + b]
        pos += b
        params, batch_stats, opt_state, _ = _step(model, config, params, batch_stats, opt_state,
                                                  jnp.asarray(images[idx]), jnp.asarray(labels[idx]))
    return {**variables, "params": params, "batch_stats": batch_stats}


def recalibrate_bn(model, variables: dict, images: np.ndarray, *, momentum: float = 0.9) -> dict:
    """Batch-norm running statistics replaced by the statistics of ``images`` (one pass, no weight changes).

    One training-mode pass from zeroed statistics gives ``(1 - momentum) * batch statistics`` (Flax's
    update); dividing by ``1 - momentum`` recovers them exactly. Every layer is normalised with the
    batch's statistics during the pass, as in training.

    Args:
        model: a Linen model whose batch norms use ``momentum`` (0.9 in ``sj.CifarResNet``).
        variables: its variables.
        images: ``[N, H, W, C]`` images (one batch: memory grows with N).
        momentum: the batch norms' momentum, in [0, 1).

    Returns:
        The variables with new ``batch_stats``.
    """
    if np.ndim(images) != 4 or len(images) == 0:
        raise ValueError(f"images must be [N, H, W, C] with N >= 1, got shape {np.shape(images)}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if "batch_stats" not in variables:
        raise ValueError("variables hold no batch_stats to recalibrate")
    zero = jax.tree.map(jnp.zeros_like, variables["batch_stats"])
    _, upd = _train_pass(model, {**variables, "batch_stats": zero}, jnp.asarray(images, jnp.float32))
    stats = jax.tree.map(lambda a: a / (1.0 - momentum), upd["batch_stats"])
    return {**variables, "batch_stats": stats}


@functools.partial(jax.jit, static_argnums=0)
def _train_pass(model, variables, x):
    return model.apply(variables, x, train=True, mutable=["batch_stats"])


@functools.partial(jax.jit, static_argnums=0)
def _predict(model, variables, x):
    return jnp.argmax(model.apply(variables, x, train=False), -1)


def predictions(model, variables: dict, images: np.ndarray, *, batch_size: int = 500) -> np.ndarray:
    """The class each of ``images`` ``[N, H, W, C]`` is given (inference mode): ``[N]`` integers.

    The compiled program is cached per model, so networks of equal shapes (e.g. the masked networks of
    ``structure.apply_masks``) share one compilation.
    """
    return np.concatenate([np.asarray(_predict(model, variables, jnp.asarray(images[i:i + batch_size])))
                           for i in range(0, len(images), batch_size)])


def accuracy(model, variables: dict, images: np.ndarray, labels: np.ndarray, *, batch_size: int = 500) -> float:
    """Share of ``images`` classified as ``labels`` (inference mode), in [0, 1] (see :func:`predictions`)."""
    _check_data(images, labels)
    return float((predictions(model, variables, images, batch_size=batch_size) == labels).mean())
