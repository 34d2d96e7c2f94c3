"""One result store for every experiment: resumable pieces, arrays, figures and the final result with provenance.

A :class:`Store` is one output folder:

- ``steps/<key>.json``: finished pieces of a run (one condition, one seed, one configuration), written atomically
  as they finish (:meth:`Store.step`): a killed run resumes after the last one; a piece that cannot be read back
  is computed again;
- ``<name>.npz``: arrays (:meth:`Store.save_arrays`, :meth:`Store.load_arrays`);
- figures and tables at :meth:`Store.path`;
- ``<name>.json``: the result (:meth:`Store.write`), with its provenance (``report.origin.provenance``: commit,
  dirty tree, the full configuration, versions, machine, load, wall time, the fingerprint of the code it ran).

Every JSON file follows ``report.io``'s rule (strict JSON, ``"nan"`` / ``"inf"`` for non-finite numbers).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ssvepjax.report.io import read_json, resumable_step, write_csv, write_json, write_text
from ssvepjax.report.origin import provenance

__all__ = ["Store"]


class Store:
    """The output folder of one experiment run.

    Args:
        folder: created if missing.
        config: the run's configuration (a dataclass), stored in full in the result's provenance.
        name: the experiment's name: the result is ``<folder>/<name>.json``.
        trace: a running ``report.origin.trace_code``: the result's code fingerprint is what it recorded (None:
            every loaded library module).
    """

    def __init__(self, folder, config=None, *, name: str = "result", trace=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.name = name
        self.trace = trace
        self.started = time.time()

    def seconds(self) -> float:
        """Wall time since the store was opened."""
        return time.time() - self.started

    def path(self, filename: str) -> Path:
        """``<folder>/<filename>`` (for a figure or a table)."""
        return self.folder / filename

    def step(self, key: str, compute):
        """``compute()``'s JSON-able result, kept as ``steps/<key>.json``; read back when it is already there."""
        return resumable_step(self.folder / "steps", key, compute)

    def has(self, key: str) -> bool:
        """Whether the piece ``key`` is stored."""
        return (self.folder / "steps" / f"{key}.json").exists()

    def get(self, key: str):
        """The stored piece ``key``."""
        return read_json(self.folder / "steps" / f"{key}.json")

    def put(self, key: str, record) -> None:
        """Store (or replace) the piece ``key``."""
        (self.folder / "steps").mkdir(exist_ok=True)
        write_json(self.folder / "steps" / f"{key}.json", record)

    def records(self, prefix: str = "") -> list:
        """Every stored piece whose key starts with ``prefix``, in key order."""
        return [read_json(p) for p in sorted((self.folder / "steps").glob(f"{prefix}*.json"))]

    def save_arrays(self, name: str, arrays: dict[str, dict[str, np.ndarray]]) -> None:
        """``{group: {name: array}}`` to ``<name>.npz`` atomically."""
        tmp = self.folder / f"{name}.tmp.npz"
        np.savez(tmp, **{f"{g}|{k}": np.asarray(a) for g, d in arrays.items() for k, a in d.items()})
        os.replace(tmp, self.folder / f"{name}.npz")

    def load_arrays(self, name: str) -> dict[str, dict[str, np.ndarray]] | None:
        """What :meth:`save_arrays` wrote under ``name``, or None."""
        path = self.folder / f"{name}.npz"
        if not path.exists():
            return None
        out: dict[str, dict[str, np.ndarray]] = {}
        with np.load(path) as z:
            for k in z.files:
                g, n = k.split("|", 1)
                out.setdefault(g, {})[n] = z[k]
        return out

    def write(self, result: dict, *, tables: dict[str, list[dict]] | None = None) -> dict:
        """Write ``<name>.json``: ``result`` with its ``provenance``; each of ``tables`` as ``<key>.csv``.

        Returns the result as stored (with the provenance).
        """
        for name, rows in (tables or {}).items():
            write_csv(self.folder / f"{name}.csv", rows)
        code = None if self.trace is None else self.trace.names
        stored = {**result, "provenance": provenance(self.config, started=self.started, experiment=self.name,
                                                     code=code)}
        write_json(self.folder / f"{self.name}.json", stored)
        return stored

    def text(self, filename: str, text: str) -> Path:
        """Write a text file atomically."""
        return write_text(self.folder / filename, text)
