"""Where a stored result comes from, and whether the code it came from has changed since.

:func:`provenance` is the record every stored result carries: the commit and whether the tree was dirty, the full
configuration, library versions, the machine and its load, the wall time, and the **code fingerprint**: for every
``ssvepjax`` module the run had loaded, a hash of its syntax tree without docstrings (comments are not in the tree),
so editing prose changes nothing and editing code changes the hash. :func:`stale_modules` compares a stored
fingerprint with the code as it is now: a result is stale when any module it ran has changed.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["code_fingerprint", "config_key", "provenance", "stale_modules"]

_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def config_key(config) -> str:
    """12 hex digits naming a configuration (a dataclass or dict of JSON-able fields): stored pieces of a run are
    keyed by it, so a rerun with the same settings resumes and one with other settings starts anew."""
    fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def _source_hash(path: str) -> str:
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_fingerprint(modules=None) -> dict[str, str]:
    """``{module: hash}`` of ``modules`` (default: every loaded ``ssvepjax`` module but the test helpers).

    The hash is of the module's syntax tree with docstrings removed: prose and comments do not change it.
    """
    if modules is None:
        modules = sorted(m for m in list(sys.modules) if m.split(".")[0] == "ssvepjax"
                         and not m.startswith("ssvepjax.testing"))
    out = {}
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            out[name] = _source_hash(spec.origin)
    return out


def stale_modules(fingerprint: dict[str, str]) -> list[str]:
    """The modules of a stored ``fingerprint`` whose code differs now (or that no longer exist)."""
    now = code_fingerprint([m for m in fingerprint])
    return sorted(m for m, h in fingerprint.items() if now.get(m) != h)


def provenance(config=None, *, started: float | None = None, experiment: str | None = None) -> dict:
    """A JSON-able record to store beside a result.

    Args:
        config: the run's configuration (a dataclass or a dict), stored in full.
        started: ``time.time()`` at the run's start, for its wall time.
        experiment: the experiment's name (``ssvepjax.experiments``), if any.

    Returns:
        ``{"experiment", "commit", "dirty", "config", "versions", "machine", "load_average", "wall_s", "written",
        "code"}``; ``commit`` is None outside a git checkout, ``dirty`` says whether tracked files differed from it,
        ``code`` is :func:`code_fingerprint`.
    """
    import flax
    import jax
    import numpy as np
    import optax

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    return {
        "experiment": experiment,
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
        "code": code_fingerprint(),
    }
