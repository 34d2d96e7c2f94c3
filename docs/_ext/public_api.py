"""The public API as the package declares it, and which public names lack a docstring.

No Sphinx here: the docs build (``api_pages.py``) and the tests (``tests/test_docs.py``) share it.

Public names of a module: its ``__all__``; a subpackage without one exports what ``from module import *`` would
(every bound name not starting with ``_`` that is not a module). The top-level ``ssvepjax`` and each subpackage that
exports a name are documented; a name exported by several of them is documented once, in the subpackage it comes
from (the top-level page lists it and links there). Every name in any ``__all__`` of the package, and every name a
documented subpackage exports, must have a docstring: a constant's is the string after its assignment or the ``#:``
comment above it (Sphinx's conventions).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "ssvepjax"


def public_names(module: ModuleType) -> list[str]:
    """The names ``module`` exports: its ``__all__``, or what a star import would bind."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return sorted(n for n, v in vars(module).items() if not n.startswith("_") and not inspect.ismodule(v))


def subpackages(package: str = PACKAGE) -> list[str]:
    """Dotted names of the package's subpackages that export at least one name, in the order of the package's
    docstring (its layers, bottom up), then alphabetically."""
    root = importlib.import_module(package)
    found = [m.name for m in pkgutil.iter_modules(root.__path__) if m.ispkg and not m.name.startswith("_")]
    doc = root.__doc__ or ""
    order = {name: doc.find(f"``{name}``") for name in found}
    ranked = sorted(found, key=lambda n: (order[n] < 0, order[n] if order[n] >= 0 else 0, n))
    out = []
    for name in ranked:
        module = importlib.import_module(f"{package}.{name}")
        if public_names(module):
            out.append(module.__name__)
    return out


def is_data(obj) -> bool:
    """Constants and other values: documented by an attribute docstring where they are assigned."""
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj))


def kind(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if is_data(obj):
        return "data"
    return "function"


def module_ast(modname: str) -> tuple[ast.Module, list[str]] | None:
    """The parsed source of a module and its lines (None for a module without Python source)."""
    module = sys.modules.get(modname) or importlib.import_module(modname)
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        return None
    source = Path(path).read_text()
    return ast.parse(source), source.splitlines()


def defining_module(modname: str, name: str, _depth: int = 0) -> str:
    """The module whose source assigns ``name``, following ``from x import name`` re-exports of ``modname``."""
    parsed = module_ast(modname)
    if parsed is None or _depth > 10:
        return modname
    tree, _ = parsed
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = modname.split(".")
                is_pkg = Path(sys.modules[modname].__file__).name == "__init__.py"
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                source = ".".join(base + ([source] if source else []))
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return defining_module(source, alias.name, _depth + 1)
                if alias.name == "*" and name in public_names(importlib.import_module(source)):
                    return defining_module(source, name, _depth + 1)
    return modname


def attribute_doc(modname: str, name: str) -> str | None:
    """The docstring of a module-level assignment: a string right after it, or ``#:`` comments right above it
    (Sphinx's two conventions)."""
    parsed = module_ast(modname)
    if parsed is None:
        return None
    tree, lines = parsed
    for body in statement_lists(tree.body):
        doc = _attribute_doc_in(body, lines, name)
        if doc is not None:
            return doc
    return None


def statement_lists(body: list[ast.stmt]):
    """Module-level statement lists, including the branches of top-level ``if`` and ``try`` blocks."""
    yield body
    for node in body:
        if isinstance(node, ast.If):
            yield from statement_lists(node.body)
            yield from statement_lists(node.orelse)
        elif isinstance(node, ast.Try):
            for branch in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from statement_lists(branch)


def _attribute_doc_in(body: list[ast.stmt], lines: list[str], name: str) -> str | None:
    for i, node in enumerate(body):
        targets = []
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        if name not in targets:
            continue
        nxt = body[i + 1] if i + 1 < len(body) else None
        if isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            return inspect.cleandoc(nxt.value.value)
        comment = []
        j = node.lineno - 2
        while j >= 0 and lines[j].lstrip().startswith("#:"):
            comment.insert(0, lines[j].lstrip()[2:].strip())
            j -= 1
        return "\n".join(comment) if comment else None
    return None


def _auto_class_doc(cls) -> bool:
    """Dataclasses and NamedTuples without a docstring get one like ``Name(a, b)``: not documentation."""
    doc = vars(cls).get("__doc__")
    if not doc:
        return True
    return (dataclasses.is_dataclass(cls) or hasattr(cls, "_fields")) and re.fullmatch(
        rf"{re.escape(cls.__name__)}\(.*\)", doc.strip(), flags=re.S) is not None


def docstring(modname: str, name: str) -> str | None:
    """The documentation a reader gets for ``modname.name``, or None when there is none of its own."""
    obj = getattr(importlib.import_module(modname), name)
    if is_data(obj):
        return attribute_doc(defining_module(modname, name), name)
    if inspect.isclass(obj):
        return None if _auto_class_doc(obj) else inspect.cleandoc(obj.__doc__)
    doc = getattr(obj, "__doc__", None)
    wrapped = getattr(obj, "__wrapped__", None)  # jax.jit and functools wrappers
    if (not doc or not doc.strip()) and wrapped is not None:
        doc = wrapped.__doc__
    return inspect.cleandoc(doc) if doc and doc.strip() else None


def modules_with_all(package: str = PACKAGE) -> list[str]:
    """Every module of the package that declares ``__all__`` (its optional-dependency modules included: they
    import their dependency lazily)."""
    root = importlib.import_module(package)
    names = [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
    return [n for n in names if hasattr(importlib.import_module(n), "__all__")]


def checked_modules(package: str = PACKAGE) -> list[str]:
    """The modules whose public names must have docstrings: every ``__all__`` in the package, and the
    documented subpackages (whose public names are their star-import names where they have no ``__all__``)."""
    return list(dict.fromkeys([package, *subpackages(package), *modules_with_all(package)]))


def undocumented(package: str = PACKAGE) -> list[str]:
    """Every ``module.name`` exported by a checked module without a docstring of its own."""
    missing = []
    for modname in checked_modules(package):
        module = importlib.import_module(modname)
        for name in public_names(module):
            if not hasattr(module, name):
                missing.append(f"{modname}.{name} (listed in __all__, not defined)")
            elif docstring(modname, name) is None:
                missing.append(f"{modname}.{name}")
    return missing
