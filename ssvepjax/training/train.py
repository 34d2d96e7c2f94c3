"""Train a classifier with optax, checkpointed by orbax so a run resumes or reuses its model.

Checkpoints live in ``<cache_dir>/models/<key>/`` where ``key`` hashes the dataset, model and
training settings: a second ``ssvepjax run`` with the same settings restores the trained model
instead of training again, and an interrupted training resumes from its last finished epoch.
Orbax writes each checkpoint to a temporary folder and renames it, so a crash never leaves a
half-written model behind.

Optional, for regularised training (``training.regularized``): an extra loss term added to the task loss
(``loss_term``, named in the cache key by ``loss_key``), checkpoints every ``checkpoint_every`` steps (a
killed run then loses at most that many steps, not an epoch) and metrics as JSON lines (``metrics_path``).
Without them the training, its checkpoints and its cache key are those of plain training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from ssvepjax import _checks as V
from ssvepjax._locks import waiting_lock
from ssvepjax.data.datasets import Dataset, default_cache_dir
from ssvepjax.models.cifar_resnet import ModelConfig

#: The optimisers of :class:`TrainConfig`.
OPTIMIZERS = ("sgd", "adamw")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (see :func:`optimizer`).

    Attributes:
        epochs: passes over the training images.
        batch_size: images per step.
        learning_rate: the peak learning rate.
        momentum: SGD's (Nesterov) momentum.
        weight_decay: decoupled weight decay.
        seed: initialisation and shuffling.
        optimizer: ``"sgd"`` (Nesterov momentum, cosine decay: the CNNs) or ``"adamw"`` (a linear warm-up over the
            first tenth of the steps, then cosine decay: the transformer, which SGD trains poorly here).
    """

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    optimizer: str = "sgd"

    def __post_init__(self):
        V.check_positive("epochs", self.epochs, integer=True)
        V.check_positive("batch_size", self.batch_size, integer=True)
        V.check_positive("learning_rate", self.learning_rate)
        V.check_choice("optimizer", self.optimizer, OPTIMIZERS)


@dataclasses.dataclass
class TrainedModel:
    """A trained model: the Linen module, its variables and its test accuracy."""

    module: object
    variables: dict
    test_accuracy: float
    restored: bool
    checkpoint_dir: str


def cache_key(data: Dataset, model: ModelConfig, train: TrainConfig, extra: dict | None = None) -> str:
    """Hash of the settings that determine a trained model; ``extra`` (e.g. a loss term) joins it when given."""
    desc = {
        "dataset": data.name, "n_train": len(data.train_images), "shape": list(data.image_shape),
        "classes": data.num_classes, "model": dataclasses.asdict(model), "train": dataclasses.asdict(train),
    }
    if model.arch != "resnet":  # the CIFAR ResNet's keys stay those of its cached models
        desc["model"]["arch"] = model.arch
    if train.optimizer == "sgd":  # likewise: the field came later, SGD runs keep their keys
        del desc["train"]["optimizer"]
    if extra:
        desc["extra"] = extra
    desc = json.dumps(desc, sort_keys=True)
    return hashlib.sha256(desc.encode()).hexdigest()[:16]


def learning_rates(cfg: TrainConfig, steps: int) -> optax.Schedule:
    """The learning rate at each step: cosine decay from ``cfg.learning_rate`` over ``steps`` (``"sgd"``), after a
    linear warm-up over the first tenth of them (``"adamw"``)."""
    if cfg.optimizer == "adamw":
        return optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, max(steps // 10, 1), max(steps, 1))
    return optax.cosine_decay_schedule(cfg.learning_rate, max(steps, 1))


def optimizer(cfg: TrainConfig, steps: int) -> optax.GradientTransformation:
    """The optimiser of ``cfg.optimizer`` over ``steps`` steps, on ``learning_rates``.

    ``"sgd"``: SGD with Nesterov momentum and decoupled weight decay. ``"adamw"``: AdamW.
    """
    if cfg.optimizer == "adamw":
        return optax.adamw(learning_rates(cfg, steps), weight_decay=cfg.weight_decay)
    return optax.chain(
        optax.add_decayed_weights(cfg.weight_decay),
        optax.sgd(learning_rates(cfg, steps), momentum=cfg.momentum, nesterov=True),
    )


def supervised_update(module, tx, params, batch_stats, opt_state, x, y, loss_term=None):
    """One optax step on the cross-entropy of a batch (plus an optional loss term), batch norm in training mode.

    Traceable (jit it, or call it inside a jitted step).

    Args:
        module: a Linen classifier taking ``(x [B, H, W, C], train)``.
        tx: the optax optimiser; ``opt_state`` its state.
        x, y: images ``[B, H, W, C]`` and integer labels ``[B]``.
        loss_term: optional ``(variables, x) -> scalar`` or ``-> (scalar, {name: scalar})`` added to the
            cross-entropy (e.g. ``training.regularized.regularizer``); ``variables`` are the current
            ``params`` and ``batch_stats``.

    Returns:
        ``(params, batch_stats, opt_state, logs)`` with ``logs = {"loss": total, "task_loss": cross-entropy,
        **parts}`` (scalars).
    """
    def loss_fn(p):
        logits, upd = module.apply({"params": p, "batch_stats": batch_stats}, x, train=True, mutable=["batch_stats"])
        task = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        logs, total = {"task_loss": task}, task
        if loss_term is not None:
            extra = loss_term({"params": p, "batch_stats": batch_stats}, x)
            value, parts = extra if isinstance(extra, tuple) else (extra, {})
            total = task + value
            logs.update(parts)
        return total, (upd.get("batch_stats", batch_stats), logs)  # a network without batch norm has none

    (loss, (new_stats, logs)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_stats, opt_state, {"loss": loss, **logs}


def make_steps(module, tx, loss_term=None):
    """Jitted ``train_step(state, x, y) -> (state, logs)`` and ``predict(variables, x) -> labels``.

    ``train_step`` is ``supervised_update`` on ``state = {params, batch_stats, opt_state, epoch}``; ``logs``
    as there.
    """

    @jax.jit
    def train_step(state, x, y):
        params, batch_stats, opt_state, logs = supervised_update(
            module, tx, state["params"], state["batch_stats"], state["opt_state"], x, y, loss_term)
        return {"params": params, "batch_stats": batch_stats, "opt_state": opt_state, "epoch": state["epoch"]}, logs

    @jax.jit
    def predict(variables, x):
        return jnp.argmax(module.apply(variables, x, train=False), -1)

    return train_step, predict


def accuracy(predict, variables, images, labels, batch_size: int = 500) -> float:
    """Fraction of ``images`` whose ``predict(variables, batch)`` class equals the label, in batches of
    ``batch_size``."""
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
    loss_term=None,
    loss_key: str | None = None,
    checkpoint_every: int | None = None,
    metrics_path: str | os.PathLike | None = None,
    log_every: int = 10,
) -> TrainedModel:
    """Restore the cached model for these settings, or train it (resuming from its last checkpoint).

    Args:
        data: the dataset (train split for training, test split for the accuracy).
        model: the architecture.
        train: optimisation settings.
        cache_dir: checkpoint cache root (``default_cache_dir()``).
        progress: show tqdm progress bars.
        loss_term: optional ``(variables, x) -> scalar`` or ``-> (scalar, {name: scalar})`` added to the
            task loss at every step (:func:`make_steps`).
        loss_key: a string that identifies ``loss_term`` in the cache key (required with it).
        checkpoint_every: also checkpoint every this many steps (checkpoints are then labelled by step, not
            epoch); None checkpoints at the end of each epoch only.
        metrics_path: append one JSON line per ``log_every`` steps (``step``, ``epoch``, ``loss``,
            ``task_loss``, the loss term's parts, ``learning_rate``, ``seconds`` since this call started) and
            one at the end (``test_accuracy``); on resume, lines past the restored checkpoint are dropped and
            ``{"step": s, "resumed_from": s}`` is written.
        log_every: steps between metric lines and progress-bar updates.

    Returns:
        A :class:`TrainedModel` with the test accuracy.
    """

    if (loss_term is None) != (loss_key is None):
        raise ValueError("loss_term and loss_key go together: pass both (a loss term and the string that names "
                         "it in the cache key) or neither")
    if checkpoint_every is not None:
        V.check_positive("checkpoint_every", checkpoint_every, integer=True)
    V.check_positive("log_every", log_every, integer=True)
    module = model.build(data.num_classes)
    extra = {}
    if loss_key is not None:
        extra["loss_term"] = loss_key
    if checkpoint_every is not None:
        extra["checkpoints"] = "by step"  # labels differ from per-epoch checkpoints: never share a folder
    ckpt_dir = Path(cache_dir or default_cache_dir()) / "models" / cache_key(data, model, train, extra)
    # Two runs that need the same model: the first trains it, the other waits and restores the finished one.
    with waiting_lock(ckpt_dir.with_name(ckpt_dir.name + ".lock"), f"the model cache {ckpt_dir}", _say):
        return _train_or_restore(data, train, module, ckpt_dir, progress=progress, loss_term=loss_term,
                                 checkpoint_every=checkpoint_every, metrics_path=metrics_path, log_every=log_every)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _train_or_restore(data, train, module, ckpt_dir: Path, *, progress, loss_term, checkpoint_every, metrics_path,
                      log_every) -> TrainedModel:
    import orbax.checkpoint as ocp

    n = len(data.train_images)
    steps_per_epoch = max(n // train.batch_size, 1)
    total = steps_per_epoch * train.epochs
    tx = optimizer(train, total)
    schedule = learning_rates(train, total)
    rng = jax.random.key(train.seed)
    variables = module.init(rng, jnp.zeros((1, *data.image_shape)), train=False)
    state = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {}),
             "opt_state": tx.init(variables["params"]), "epoch": jnp.zeros((), jnp.int32)}
    train_step, predict = make_steps(module, tx, loss_term)

    def manager():
        return ocp.CheckpointManager(ckpt_dir.absolute(), options=ocp.CheckpointManagerOptions(max_to_keep=1))

    start, restored = 0, False  # start: finished steps
    mngr = None
    try:
        mngr = manager()
        latest = mngr.latest_step()
        if latest is not None:
            state = mngr.restore(latest, args=ocp.args.StandardRestore(state))
    except Exception as e:  # noqa: BLE001 (any failure to read it back: a file cut short, a half-written step)
        _say(f"ssvepjax: the model cache {ckpt_dir} is damaged ({type(e).__name__}): training the model again")
        if mngr is not None:
            with contextlib.suppress(Exception):
                mngr.close()
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        mngr, latest = manager(), None
    if latest is not None:
        start = int(latest) if checkpoint_every is not None else int(state["epoch"]) * steps_per_epoch
        restored = True
    log = None
    if metrics_path is not None and start < total:  # a finished run's log stays as it is
        log = _MetricsLog(Path(metrics_path), start)
        if restored:
            log.write({"step": start, "resumed_from": start})
    order_rng = np.random.default_rng(train.seed)
    for _ in range(start // steps_per_epoch):  # replay the shuffles of finished epochs so a resumed run matches
        order_rng.permutation(n)
    t0 = time.time()
    for epoch in range(start // steps_per_epoch, train.epochs):
        order = order_rng.permutation(n)
        first = start - epoch * steps_per_epoch if epoch == start // steps_per_epoch else 0
        bar = tqdm(range(first, steps_per_epoch), desc=f"train epoch {epoch + 1}/{train.epochs}",
                   disable=not progress, leave=False)
        for s in bar:
            idx = order[s * train.batch_size:(s + 1) * train.batch_size]
            state, logs = train_step(state, data.train_images[idx], data.train_labels[idx])
            step = epoch * steps_per_epoch + s + 1
            if s % log_every == 0:
                bar.set_postfix(loss=f"{float(logs['loss']):.3f}")
            if log is not None and (step % log_every == 0 or step == total):
                log.write({"step": step, "epoch": step / steps_per_epoch,
                           **{k: float(v) for k, v in logs.items()},
                           "learning_rate": float(schedule(step - 1)), "seconds": round(time.time() - t0, 3)})
            if checkpoint_every is not None and step % checkpoint_every == 0 and s + 1 < steps_per_epoch:
                mngr.save(step, args=ocp.args.StandardSave(state))
                mngr.wait_until_finished()
        state["epoch"] = jnp.asarray(epoch + 1, jnp.int32)
        mngr.save((epoch + 1) * (steps_per_epoch if checkpoint_every is not None else 1),
                  args=ocp.args.StandardSave(state))
        mngr.wait_until_finished()
    mngr.close()
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    meta = ckpt_dir / "meta.json"
    done = restored and start >= total
    acc = None
    if done and meta.exists():  # a finished model's accuracy was measured when it was trained
        try:
            acc = float(json.loads(meta.read_text())["test_accuracy"])
        except (ValueError, KeyError, TypeError):
            _say(f"ssvepjax: {meta} is damaged: measuring the test accuracy again")
    if acc is None:
        acc = accuracy(predict, variables, data.test_images, data.test_labels)
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps({"test_accuracy": acc, "epochs": train.epochs, "n_test": len(data.test_images)}))
        os.replace(tmp, meta)
    if log is not None:
        log.write({"step": total, "epoch": train.epochs, "test_accuracy": acc})
    return TrainedModel(module, variables, acc, done, str(ckpt_dir))


class _MetricsLog:
    """JSON lines appended as training goes; on resume, lines past the restored step are dropped first."""

    def __init__(self, path: Path, start: int):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill
                    continue
                if rec.get("step", 0) <= start and "test_accuracy" not in rec:  # resumed: the end is not yet reached
                    kept.append(line)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept))
        os.replace(tmp, path)

    def write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


__all__ = ["TrainConfig", "TrainedModel", "accuracy", "cache_key", "make_steps", "optimizer", "supervised_update",
           "train_or_load"]
