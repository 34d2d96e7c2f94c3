"""Resumable results for the experiment drivers: one JSON file per configuration, written atomically.

A killed run leaves every finished configuration on disk; the next run skips them. Arrays (scores)
go to ``.npz`` files the same way. Writes go to a temporary file first and are renamed into place,
so a file is either complete or absent.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["ResultStore", "write_csv", "write_json"]


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=float))
    os.replace(tmp, path)


def write_csv(path, rows: list[dict]) -> None:
    """Write a list of flat dicts as CSV (columns from the first row) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class ResultStore:
    """Per-configuration JSON records and per-seed ``.npz`` arrays under one folder."""

    def __init__(self, folder):
        self.folder = Path(folder)
        (self.folder / "records").mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / "records" / f"{key}.json"

    def has(self, key: str) -> bool:
        return self._path(key).exists()

    def get(self, key: str) -> dict:
        return json.loads(self._path(key).read_text())

    def put(self, key: str, record: dict) -> None:
        write_json(self._path(key), record)

    def records(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted((self.folder / "records").glob("*.json"))]

    def load_arrays(self, name: str) -> dict[str, dict[str, np.ndarray]] | None:
        """``{method: {layer: array}}`` saved by :meth:`save_arrays`, or None."""
        path = self.folder / f"{name}.npz"
        if not path.exists():
            return None
        out: dict[str, dict[str, np.ndarray]] = {}
        with np.load(path) as z:
            for k in z.files:
                method, layer = k.split("|", 1)
                out.setdefault(method, {})[layer] = z[k]
        return out

    def save_arrays(self, name: str, arrays: dict[str, dict[str, np.ndarray]]) -> None:
        path = self.folder / f"{name}.npz"
        tmp = self.folder / f"{name}.tmp.npz"
        np.savez(tmp, **{f"{m}|{layer}": np.asarray(a) for m, d in arrays.items() for layer, a in d.items()})
        os.replace(tmp, path)
