"""Sphinx extension: the API reference generated from the package's ``__all__`` lists, on every build.

- writes ``docs/api/`` (ignored by git): one page for the top-level ``ssvepjax`` and one per subpackage that
  exports names, so the reference follows the API as names move;
- warns (an error under ``-W``) for every exported name without a docstring of its own (``public_api.undocumented``);
- documents constants with the attribute docstring of the module that assigns them;
- resolves references to a name's other spellings (``ssvepjax.probe``, ``ssvepjax.recording.probing.probe``) to the one
  place it is documented;
- copies ``notebooks/*.ipynb`` to ``docs/tutorials/`` (ignored by git) for myst-nb, which does not execute them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shutil
import sys
from pathlib import Path

import public_api
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
API = DOCS / "api"
TUTORIALS = DOCS / "tutorials"
# Filled when the pages are generated, read when references are resolved: other dotted spellings -> canonical
# name, and id of each documented function or class -> canonical name.
_ALIASES: dict[str, str] = {}
_OBJECTS: dict[int, str] = {}


def _write(path: Path, text: str) -> None:
    """Rewrite only what changed, so that an incremental build reads only changed pages."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def _where(modname: str, name: str, obj) -> str:
    """The module that defines an exported name: the section it is listed under."""
    if public_api.is_data(obj):
        return public_api.defining_module(modname, name)
    module = getattr(obj, "__module__", None) or getattr(getattr(obj, "__wrapped__", None), "__module__", None)
    return module if module and module.startswith(modname + ".") else modname


def _import_order(modname: str) -> dict[str, int]:
    """Modules in the order the package's ``__init__`` imports from them (its sections' order)."""
    parsed = public_api.module_ast(modname)
    found: dict[str, int] = {}
    for node in parsed[0].body if parsed else []:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.setdefault(node.module, len(found))
    return found


def _line(where: str, name: str, obj) -> int:
    """Where ``name`` is defined in module ``where``: entries of a section follow their source."""
    if public_api.is_data(obj):
        parsed = public_api.module_ast(where)
        for body in public_api.statement_lists(parsed[0].body) if parsed else []:
            for node in body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    return node.lineno
        return 10**9
    try:
        return inspect.getsourcelines(inspect.unwrap(obj))[1]
    except (OSError, TypeError):
        return 10**9


def _directive(modname: str, name: str, obj) -> str:
    kind = public_api.kind(obj)
    if kind == "class":
        return f".. autoclass:: {name}\n   :members:\n"
    if kind == "function":
        return f".. autofunction:: {name}\n"
    value = repr(obj)
    return f".. autodata:: {name}\n" + ("   :no-value:\n" if len(value) > 90 or "\n" in value else "")


def canonical_map(package: str = public_api.PACKAGE) -> dict[str, dict[str, str]]:
    """For each documented module, ``{name: canonical dotted name}``: a subpackage documents what it exports,
    the top-level page what no subpackage exports (first subpackage in layer order wins)."""
    owner: dict[object, str] = {}
    out: dict[str, dict[str, str]] = {}
    for modname in public_api.subpackages(package):
        module = importlib.import_module(modname)
        out[modname] = {}
        for name in public_api.public_names(module):
            obj = getattr(module, name)
            key = id(obj) if not public_api.is_data(obj) else (modname, name)
            out[modname][name] = owner.setdefault(key, f"{modname}.{name}")
    top = importlib.import_module(package)
    out[package] = {}
    for name in public_api.public_names(top):
        obj = getattr(top, name)
        target = None
        if public_api.is_data(obj):
            target = next((names[name] for names in out.values() if name in names and
                           getattr(importlib.import_module(names[name].rsplit(".", 1)[0]), name) is obj), None)
        else:
            target = owner.get(id(obj))
        out[package][name] = target or f"{package}.{name}"
    return out


def generate(app: Sphinx) -> None:
    API.mkdir(exist_ok=True)
    package = public_api.PACKAGE
    canon = canonical_map(package)
    subs = public_api.subpackages(package)
    _ALIASES.clear()
    _ALIASES.update(aliases(canon))
    _OBJECTS.clear()
    for modname, names in canon.items():
        module = importlib.import_module(modname)
        for name, target in names.items():
            if target == f"{modname}.{name}" and not public_api.is_data(getattr(module, name)):
                _OBJECTS[id(getattr(module, name))] = target

    index = [
        "API reference\n=============\n",
        "Generated on every build from the package's own lists of public names: the top-level ``ssvepjax``'s "
        "``__all__`` and each subpackage's (a subpackage without ``__all__``: the names a star import binds). "
        "A name exported at several levels is documented once, in the subpackage it comes from; the top-level page "
        "lists every name ``import ssvepjax as sj`` gives and links there.\n",
        ".. toctree::\n   :maxdepth: 1\n\n   " + "\n   ".join([package, *subs]) + "\n",
    ]
    _write(API / "index.rst", "\n".join(index))

    for modname in [package, *subs]:
        module = importlib.import_module(modname)
        names = public_api.public_names(module)
        own = [n for n in names if canon[modname][n] == f"{modname}.{n}"]
        elsewhere = [n for n in names if n not in own]
        lines = [_title(f"``{modname}``"), f".. automodule:: {modname}\n   :no-members:\n",
                 f".. currentmodule:: {modname}\n"]
        if modname == package:
            lines.append(f"``import ssvepjax as sj`` gives {len(names)} names. Grouped by the subpackage that "
                         "documents them:\n")
            groups: dict[str, list[str]] = {}
            for n in elsewhere:
                groups.setdefault(canon[modname][n].rsplit(".", 1)[0], []).append(n)
            for sub in subs:
                if sub in groups:
                    lines.append(_title(f":mod:`{sub}`", "-"))
                    lines.append(f".. currentmodule:: {sub}\n")
                    lines.append(".. autosummary::\n   :nosignatures:\n\n   " + "\n   ".join(
                        canon[modname][n].rsplit(".", 1)[1] for n in groups[sub]) + "\n")
            lines.append(f".. currentmodule:: {modname}\n")
            if own:
                lines.append(_title("Exported only here", "-"))
        else:
            lines.append(".. autosummary::\n   :nosignatures:\n\n   " + "\n   ".join(names) + "\n")
            if elsewhere:
                lines.append("Also exported here, documented where they come from: " + ", ".join(
                    f":py:obj:`{n} <{canon[modname][n]}>`" for n in elsewhere) + ".\n")
        sections: dict[str, list[str]] = {}
        for n in own:
            sections.setdefault(_where(modname, n, getattr(module, n)), []).append(n)
        order = _import_order(modname)
        for where in sorted(sections, key=lambda m: order.get(m, len(order))):
            members = sorted(sections[where], key=lambda n: _line(where, n, getattr(module, n)))
            if where != modname:
                doc = _first_line(sys.modules[where].__doc__) if where in sys.modules else ""
                short = where.rsplit(".", 1)[1]
                lines.append(_title(short, "-" if modname != package else "~"))
                if doc:
                    lines.append(f"*{where}*: " + doc + "\n")
            for n in members:
                lines.append(_directive(modname, n, getattr(module, n)))
        _write(API / f"{modname}.rst", "\n".join(lines))


def aliases(canon: dict[str, dict[str, str]]) -> dict[str, str]:
    """Every other dotted spelling of a documented object -> its canonical name."""
    out: dict[str, str] = {}
    for modname, names in canon.items():
        module = importlib.import_module(modname)
        for name, target in names.items():
            if f"{modname}.{name}" != target:
                out[f"{modname}.{name}"] = target
            obj = getattr(module, name)
            if not public_api.is_data(obj):
                obj = inspect.unwrap(obj) if callable(obj) else obj
                qual = getattr(obj, "__qualname__", None)
                mod = getattr(obj, "__module__", None)
                if qual and mod and f"{mod}.{qual}" != target:
                    out.setdefault(f"{mod}.{qual}", target)
            else:
                where = public_api.defining_module(modname, name)
                if f"{where}.{name}" != target:
                    out.setdefault(f"{where}.{name}", target)
    return out


def check_docstrings(app: Sphinx) -> None:
    for name in public_api.undocumented():
        logger.warning("public name without a docstring: %s", name, type="ssvepjax", subtype="docstring")


def data_docstring(app, what, name, obj, options, lines) -> None:
    """A constant's docstring is written where it is assigned, not in the ``__init__`` that re-exports it."""
    if what != "data" or "." not in name:
        return
    modname, attr = name.rsplit(".", 1)
    doc = public_api.attribute_doc(public_api.defining_module(modname, attr), attr)
    lines[:] = doc.splitlines() + [""] if doc else []


def _by_namespace(module: str, name: str) -> str | None:
    """A short name in a docstring documented under ``module``: the object that name is bound to in ``module``
    or in the one of its submodules that binds it (the module the docstring was written in), if documented."""
    found = set()
    for modname, mod in list(sys.modules.items()):
        if mod is not None and (modname == module or modname.startswith(module + ".")):
            obj = vars(mod).get(name)
            if obj is not None and not public_api.is_data(obj) and id(obj) in _OBJECTS:
                found.add(_OBJECTS[id(obj)])
    return found.pop() if len(found) == 1 else None


def resolve_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    module = node.get("py:module") or ""
    canonical = _ALIASES.get(target) or (module and _ALIASES.get(f"{module}.{target}"))
    if not canonical and module and "." not in target:
        canonical = _by_namespace(module, target)
    if not canonical:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], canonical, node, contnode)


_UNPARSABLE_DEFAULTS = [
    # Flax modules: ``parent`` is set by Flax, never by a caller, and its default's repr is no Python.
    (re.compile(r",?\s*parent: [^=]*= <flax\.linen\.module\._Sentinel object>"), ""),
    # dataclass fields with a default factory; other object reprs.
    (re.compile(r"<factory>"), "..."),
    (re.compile(r"<[^<>]* object( at 0x[0-9a-f]+)?>"), "..."),
    # conf.autodoc_type_aliases inside a builtin generic (``dict[str, Array]``) prints as its forward reference.
    (re.compile(r"TypeAliasForwardRef\('(?:[\w.]+\.)?(\w+)'\)"), r"\1"),
]


def clean_signature(app, what, name, obj, options, signature, return_annotation):
    """Default values whose repr is not Python (``<factory>``, ``<... object>``) would make Sphinx print the
    signature as plain text, unlinked; type aliases inside builtin generics print as their forward reference."""
    if not signature:
        return None
    for pattern, replacement in _UNPARSABLE_DEFAULTS:
        signature = pattern.sub(replacement, signature)
        return_annotation = return_annotation and pattern.sub(replacement, return_annotation)
    return signature.replace("(, ", "("), return_annotation


def copy_notebooks(app: Sphinx) -> None:
    TUTORIALS.mkdir(exist_ok=True)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        dest = TUTORIALS / nb.name
        if not dest.exists() or dest.read_bytes() != nb.read_bytes():
            shutil.copy2(nb, dest)


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", generate)
    app.connect("builder-inited", copy_notebooks)
    app.connect("builder-inited", check_docstrings)
    app.connect("autodoc-process-docstring", data_docstring)
    app.connect("autodoc-process-signature", clean_signature)
    app.connect("missing-reference", resolve_alias)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
