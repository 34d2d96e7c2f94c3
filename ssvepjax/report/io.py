"""Results on disk, written atomically: text, CSV, JSON and compressed npz, with one rule for numbers.

The JSON rule, for every file the library writes: strict JSON (any reader parses it), NumPy scalars and arrays as
numbers and lists, tuples as lists, and the three non-finite floats as the strings ``"nan"``, ``"inf"`` and
``"-inf"``; :func:`read_json` turns those strings back into floats, so a stored result reads back exactly as it was
written (a missing value stays ``null``: ``None``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def jsonable(x):
    """``x`` with NumPy scalars and arrays as Python numbers and lists, tuples as lists, and NaN / infinities as the
    strings ``"nan"`` / ``"inf"`` / ``"-inf"`` (the module's JSON rule)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("nan" if x != x else "inf" if x > 0 else "-inf")
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def from_jsonable(x):
    """The inverse of :func:`jsonable` on parsed JSON: ``"nan"``, ``"inf"`` and ``"-inf"`` become floats again."""
    if isinstance(x, dict):
        return {k: from_jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [from_jsonable(v) for v in x]
    if isinstance(x, str) and x in _NON_FINITE:
        return _NON_FINITE[x]
    return x


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` atomically (temporary file, then rename); return the path."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Write ``rows`` as CSV atomically, one column per key seen (in order); list values joined by ``;``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
    w.writeheader()
    for r in rows:
        w.writerow({k: (";".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
    return write_text(path, buf.getvalue())


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON atomically (temporary file, then rename) by the module's rule; return the path."""
    return write_text(path, json.dumps(jsonable(obj), indent=1, allow_nan=False))


def read_json(path: str | os.PathLike):
    """A JSON file written by :func:`write_json`, with its non-finite numbers restored."""
    return from_jsonable(json.loads(Path(path).read_text()))


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write compressed npz atomically; return the path."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def resumable_step(folder: str | os.PathLike, key: str, compute):
    """``compute()``'s JSON-able result, stored as ``<folder>/<key>.json`` so a killed run resumes after it.

    A long experiment calls this once per finished piece (one recording length, one condition): a rerun with
    the same ``key`` reads the piece back instead of computing it (``key`` must name every setting the piece
    depends on). The file is written atomically by the module's JSON rule and read back through JSON in the
    first run too, so a fresh and a resumed run return the same values. A file that cannot be read back (cut
    short) is computed again, with one line saying so.
    """
    path = Path(folder) / f"{key}.json"
    if path.exists():
        try:
            return read_json(path)
        except ValueError:
            print(f"ssvepjax: {path} is damaged: computing it again", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, compute())
    return read_json(path)


__all__ = ["from_jsonable", "jsonable", "read_json", "resumable_step", "write_csv", "write_json", "write_npz",
           "write_text"]
