"""Results on disk, written atomically: JSON (inf as "inf", NaN as null) and compressed npz."""

from __future__ import annotations

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


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as JSON atomically (temporary file, then rename); return the path."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(jsonable(obj), indent=1, allow_nan=False))
    os.replace(tmp, path)
    return path


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Write compressed npz atomically; return the path."""
    path = Path(path)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


__all__ = ["jsonable", "write_json", "write_npz"]
