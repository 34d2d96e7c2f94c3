"""Where a stored result comes from: the commit, the configuration, the library versions and the machine."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["config_key", "provenance"]

_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def config_key(config) -> str:
    """12 hex digits naming a configuration (a dataclass of JSON-able fields): stored pieces of a run are keyed by
    it, so a rerun with the same settings resumes and one with other settings starts anew."""
    return hashlib.sha256(json.dumps(dataclasses.asdict(config), sort_keys=True).encode()).hexdigest()[:12]


def provenance(config=None, *, started: float | None = None) -> dict:
    """A JSON-able record to store beside a result.

    Args:
        config: the run's configuration (a dataclass or a dict), stored in full.
        started: ``time.time()`` at the run's start, for its wall time.

    Returns:
        ``{"commit", "dirty", "config", "versions", "machine", "load_average", "wall_s", "written"}``;
        ``commit`` is None outside a git checkout, ``dirty`` says whether tracked files differed from it.
    """
    import flax
    import jax
    import numpy as np
    import optax

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    return {
        "commit": commit,
        "dirty": None if status is None else bool(status),
        "config": cfg,
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__, "flax": flax.__version__,
                     "optax": optax.__version__, "numpy": np.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "backend": jax.default_backend(),
                    "devices": [str(d) for d in jax.devices()]},
        "load_average": list(os.getloadavg()),
        "wall_s": None if started is None else round(time.time() - started, 1),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
