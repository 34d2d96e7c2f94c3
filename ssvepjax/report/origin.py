"""Where a stored result comes from, and whether the code it came from has changed since.

:func:`provenance` is the record every stored result carries: the commit and whether the tree was dirty, the full
configuration, library versions, the machine and its load, the wall time, and the **code fingerprint**: for every
library definition the run executed (:class:`trace_code`: each top-level function, or the class whose method ran,
and the statements of their modules outside definitions), a hash of its syntax tree without docstrings (comments are
not in the tree): editing prose changes nothing, editing code that ran changes the hash, editing code that did not
run does not. :func:`stale_modules` compares a stored fingerprint with the code as it is now: a result is stale
when any of it has changed.
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

__all__ = ["code_fingerprint", "config_key", "provenance", "stale_modules", "trace_code"]

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


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _hash(node: ast.AST) -> str:
    return hashlib.sha256(ast.dump(node).encode()).hexdigest()[:16]


def _source_hash(path: str) -> str:
    """Hash of a whole file's syntax tree without docstrings."""
    return _hash(_strip_docstrings(ast.parse(Path(path).read_text())))


def _module_parts(module: str) -> dict[str, str] | None:
    """``{"": module statements other than definitions, name: each top-level definition}`` hashed; None if the
    module is gone."""
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    tree = _strip_docstrings(ast.parse(Path(spec.origin).read_text()))
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    parts = {node.name: _hash(node) for node in tree.body if isinstance(node, defs)}
    parts[""] = _hash(ast.Module(body=[n for n in tree.body if not isinstance(n, defs)], type_ignores=[]))
    return parts


_PACKAGE = str(Path(__file__).resolve().parents[1])


class trace_code:  # noqa: N801 (used as a context manager, like contextlib's)
    """Record which top-level definitions of the library run inside the ``with`` block.

    ``with trace_code() as used: ...`` then ``code_fingerprint(used.names)`` fingerprints exactly what ran
    (a function, or the whole class whose method ran, and the module-level statements of their modules). Uses
    ``sys.settrace`` (all threads; a debugger's tracing is suspended meanwhile): each Python call costs a little
    more while it is on.
    """

    def __init__(self):
        self.names: set[str] = set()
        self._files: dict[str, str | None] = {}

    def _module_of(self, filename: str) -> str | None:
        if filename not in self._files:
            path = Path(filename).resolve()
            inside = str(path).startswith(_PACKAGE + "/") and path.suffix == ".py"
            rel = path.relative_to(Path(_PACKAGE).parent).with_suffix("") if inside else None
            name = ".".join(rel.parts) if rel is not None else None
            self._files[filename] = name.removesuffix(".__init__") if name else None
        return self._files[filename]

    def _trace(self, frame, event, arg):
        # A global trace function sees only Python calls (no C calls, unlike a profile function) and, returning
        # None, traces no lines: the cost is one Python call per Python function call.
        code = frame.f_code
        if code not in self._seen:
            self._seen.add(code)
            module = self._module_of(code.co_filename)
            if module and not module.startswith("ssvepjax.testing"):
                self.names.add(f"{module}:{getattr(code, 'co_qualname', code.co_name).split('.')[0]}")
        return None

    def __enter__(self):
        import threading

        self._seen: set = set()
        self._old = sys.gettrace()
        sys.settrace(self._trace)
        threading.settrace(self._trace)
        return self

    def __exit__(self, *exc):
        import threading

        sys.settrace(self._old)
        threading.settrace(None)
        return False


def code_fingerprint(names=None) -> dict[str, str]:
    """Hashes of library code, docstrings and comments left out (editing prose changes nothing).

    Args:
        names: ``"module:definition"`` names (``trace_code().names``): each definition's hash and its module's
            statements outside definitions (key ``"module:"``); a name without ``:`` is a whole module; None: every
            loaded ``ssvepjax`` module whole, test helpers excepted.

    Returns:
        ``{name: hash}``; a definition or module that does not exist is left out.
    """
    if names is None:
        names = sorted(m for m in list(sys.modules) if m.split(".")[0] == "ssvepjax"
                       and not m.startswith("ssvepjax.testing"))
    out: dict[str, str] = {}
    cache: dict[str, dict | None] = {}
    for name in sorted(names):
        module, colon, top = name.partition(":")
        if not colon:
            spec = importlib.util.find_spec(module)
            if spec is not None and spec.origin and spec.origin.endswith(".py"):
                out[module] = _source_hash(spec.origin)
            continue
        parts = cache.setdefault(module, _module_parts(module))
        if parts is None:
            continue
        out[f"{module}:"] = parts[""]
        if top in parts:
            out[name] = parts[top]
    return out


def stale_modules(fingerprint: dict[str, str]) -> list[str]:
    """The entries of a stored ``fingerprint`` (``code_fingerprint``'s keys) whose code differs now, or that no
    longer exist."""
    now = code_fingerprint(fingerprint)
    return sorted(k for k, h in fingerprint.items() if now.get(k) != h)


def provenance(config=None, *, started: float | None = None, experiment: str | None = None,
               code: set[str] | None = None) -> dict:
    """A JSON-able record to store beside a result.

    Args:
        config: the run's configuration (a dataclass or a dict), stored in full.
        started: ``time.time()`` at the run's start, for its wall time.
        experiment: the experiment's name (``ssvepjax.experiments``), if any.
        code: the library definitions the run used (``trace_code().names``); None: every loaded module.

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
        "code": code_fingerprint(code),
    }
