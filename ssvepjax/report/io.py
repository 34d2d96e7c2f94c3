"""Results on disk, written atomically: text, CSV, JSON (inf as "inf", NaN as null) and compressed npz."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np


def jsonable(x):
    """``x`` with NumPy scalars as Python numbers, tuples as lists and non-finite floats as "inf"/"-inf"/None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else None)
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
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
    """Write ``obj`` as JSON atomically (temporary file, then rename); return the path."""
    return write_text(path, json.dumps(jsonable(obj), indent=1, allow_nan=False))


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write compressed npz atomically; return the path."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


def _plain(x):
    """:func:`jsonable` with NaN and infinities kept as floats (Python's JSON writes and reads them)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x)
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def resumable_step(folder: str | os.PathLike, key: str, compute):
    """``compute()``'s JSON-able result, stored as ``<folder>/<key>.json`` so a killed run resumes after it.

    A long experiment calls this once per finished piece (one recording length, one condition): a rerun with
    the same ``key`` reads the piece back instead of computing it (``key`` must name every setting the piece
    depends on). The file is written atomically, NaN and infinities kept, and read back through JSON in the
    first run too, so a fresh and a resumed run return the same values. A file that cannot be read back (cut
    short) is computed again, with one line saying so.
    """
    path = Path(folder) / f"{key}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            print(f"ssvepjax: {path} is damaged: computing it again", flush=True)
    text = json.dumps(_plain(compute()))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return json.loads(text)


__all__ = ["jsonable", "resumable_step", "write_csv", "write_json", "write_npz", "write_text"]
