"""Train a classifier with optax, checkpointed by orbax so a run resumes or reuses its model.

Checkpoints live in ``<cache_dir>/models/<key>/`` where ``key`` hashes the dataset, model and
training settings: a second ``ssvepjax run`` with the same settings restores the trained model
instead of training again, and an interrupted training resumes from its last finished epoch.
Orbax writes each checkpoint to a temporary folder and renames it, so a crash never leaves a
half-written model behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ssvepjax import _checks as V
from ssvepjax.data.datasets import Dataset, default_cache_dir
from ssvepjax.models.cifar_resnet import ModelConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: SGD with Nesterov momentum, cosine decay, decoupled weight decay."""

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        V.check_positive("epochs", self.epochs, integer=True)
        V.check_positive("batch_size", self.batch_size, integer=True)
        V.check_positive("learning_rate", self.learning_rate)


@dataclasses.dataclass
class TrainedModel:
    """A trained model: the Linen module, its variables and its test accuracy."""

    module: object
    variables: dict
    test_accuracy: float
    restored: bool
    checkpoint_dir: str


def cache_key(data: Dataset, model: ModelConfig, train: TrainConfig) -> str:
    desc = json.dumps({
        "dataset": data.name, "n_train": len(data.train_images), "shape": list(data.image_shape),
        "classes": data.num_classes, "model": dataclasses.asdict(model), "train": dataclasses.asdict(train),
    }, sort_keys=True)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def optimizer(cfg: TrainConfig, steps: int):
    """SGD with Nesterov momentum, cosine decay over ``steps`` and decoupled weight decay, from ``cfg``."""
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, max(steps, 1))
    return optax.chain(
        optax.add_decayed_weights(cfg.weight_decay),
        optax.sgd(schedule, momentum=cfg.momentum, nesterov=True),
    )


def supervised_update(module, tx, params, batch_stats, opt_state, x, y):
    """One optax step on the cross-entropy of a batch, batch norm in training mode. Traceable.

    Returns:
        ``(params, batch_stats, opt_state, loss)``.
    """
    def loss_fn(p):
        logits, upd = module.apply({"params": p, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd["batch_stats"]

    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_stats, opt_state, loss


def make_steps(module, tx):
    """Jitted ``train_step(state, x, y) -> (state, loss)`` and ``predict(variables, x) -> labels``."""

    @jax.jit
    def train_step(state, x, y):
        params, batch_stats, opt_state, loss = supervised_update(module, tx, state["params"], state["batch_stats"],
                                                                 state["opt_state"], x, y)
        return {"params": params, "batch_stats": batch_stats, "opt_state": opt_state, "epoch": state["epoch"]}, loss

    @jax.jit
    def predict(variables, x):
        return jnp.argmax(module.apply(variables, x, train=False), -1)

    return train_step, predict


def accuracy(predict, variables, images, labels, batch_size: int = 500) -> float:
    correct = 0
    for i in range(0, len(images), batch_size):
        pred = np.asarray(predict(variables, images[i:i + batch_size]))
        correct += int((pred == labels[i:i + batch_size]).sum())
    return correct / len(images)


def train_or_load(
    data: Dataset,
    model: ModelConfig = ModelConfig(),
    train: TrainConfig = TrainConfig(),
    *,
    cache_dir: str | None = None,
    progress: bool = True,
) -> TrainedModel:
    """Restore the cached model for these settings, or train it (resuming from its last epoch).

    Args:
        data: the dataset (train split for training, test split for the accuracy).
        model: the architecture.
        train: optimisation settings.
        cache_dir: checkpoint cache root (``default_cache_dir()``).
        progress: show tqdm progress bars.

    Returns:
        A :class:`TrainedModel` with the test accuracy.
    """
    import orbax.checkpoint as ocp

    module = model.build(data.num_classes)
    ckpt_dir = Path(cache_dir or default_cache_dir()) / "models" / cache_key(data, model, train)
    n = len(data.train_images)
    steps_per_epoch = max(n // train.batch_size, 1)
    tx = optimizer(train, steps_per_epoch * train.epochs)
    rng = jax.random.key(train.seed)
    variables = module.init(rng, jnp.zeros((1, *data.image_shape)), train=False)
    state = {"params": variables["params"], "batch_stats": variables["batch_stats"],
             "opt_state": tx.init(variables["params"]), "epoch": jnp.zeros((), jnp.int32)}
    train_step, predict = make_steps(module, tx)

    mngr = ocp.CheckpointManager(ckpt_dir.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=1))
    start, restored = 0, False
    latest = mngr.latest_step()
    if latest is not None:
        state = mngr.restore(latest, args=ocp.args.StandardRestore(state))
        start, restored = int(state["epoch"]), True
    order_rng = np.random.default_rng(train.seed)
    for _ in range(start):  # replay the shuffles of finished epochs so a resumed run matches
        order_rng.permutation(n)
    for epoch in range(start, train.epochs):
        order = order_rng.permutation(n)
        bar = tqdm(range(steps_per_epoch), desc=f"train epoch {epoch + 1}/{train.epochs}",
                   disable=not progress, leave=False)
        for s in bar:
            idx = order[s * train.batch_size:(s + 1) * train.batch_size]
            state, loss = train_step(state, data.train_images[idx], data.train_labels[idx])
            if s % 10 == 0:
                bar.set_postfix(loss=f"{float(loss):.3f}")
        state["epoch"] = jnp.asarray(epoch + 1, jnp.int32)
        mngr.save(epoch + 1, args=ocp.args.StandardSave(state))
        mngr.wait_until_finished()
    mngr.close()
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    meta = ckpt_dir / "meta.json"
    done = restored and start >= train.epochs
    if done and meta.exists():  # a finished model's accuracy was measured when it was trained
        acc = json.loads(meta.read_text())["test_accuracy"]
    else:
        acc = accuracy(predict, variables, data.test_images, data.test_labels)
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps({"test_accuracy": acc, "epochs": train.epochs, "n_test": len(data.test_images)}))
        os.replace(tmp, meta)
    return TrainedModel(module, variables, acc, done, str(ckpt_dir))


__all__ = ["TrainConfig", "TrainedModel", "accuracy", "cache_key", "make_steps", "optimizer", "supervised_update",
           "train_or_load"]
