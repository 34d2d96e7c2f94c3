"""The public surface says what it is: ssvepjax's top level is the core's names; a name has one home; no module
is shadowed by a name its package exports (the rule in ssvepjax/__init__.py's docstring)."""

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import ssvepjax as sj

CORE = ("tagging", "recording", "spectral", "stats", "streaming", "analysis", "data", "models", "training", "report")
APPLICATIONS = ("scores", "pruning", "explain", "experiments", "report.plots")
PACKAGES = CORE + APPLICATIONS


def _package(name):
    return importlib.import_module(f"ssvepjax.{name}")


def test_the_top_level_is_the_core_and_only_the_core():
    assert isinstance(sj.__all__, list) and len(sj.__all__) == len(set(sj.__all__))
    core = [n for pkg in CORE for n in _package(pkg).__all__]
    assert sj.__all__ == core  # subpackage by subpackage, every core name once
    for name in sj.__all__:
        assert getattr(sj, name) is getattr(_package(next(p for p in CORE if name in _package(p).__all__)), name)
    public = {n for n in dir(sj) if not n.startswith("_")} - set(sj.__all__)
    # Beyond __all__ the top level holds only the subpackages themselves (and the version).
    assert all(isinstance(getattr(sj, n), types.ModuleType) for n in public), sorted(public)
    for pkg in APPLICATIONS:  # an application's names are reached through it, not at the top level
        assert not set(_package(pkg).__all__) & set(sj.__all__), pkg


def test_every_subpackage_lists_its_names_and_each_name_has_one_home():
    for pkg in PACKAGES:
        module = _package(pkg)
        assert isinstance(module.__all__, list), pkg
        assert all(hasattr(module, n) for n in module.__all__), pkg
        # The package's __init__ re-exports from its own modules only ("from ssvepjax.<pkg>.<module> import ...").
        tree = ast.parse(Path(module.__file__).read_text())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ssvepjax."):
                assert node.module.startswith(f"ssvepjax.{pkg}."), (pkg, node.module)
        assert set(module.__all__) == {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom)
                                       and (node.module or "").startswith(f"ssvepjax.{pkg}.") for a in node.names}, pkg


def test_no_module_is_shadowed_by_an_exported_name():
    for info in pkgutil.walk_packages(sj.__path__, "ssvepjax."):
        if not info.ispkg:
            continue
        package = importlib.import_module(info.name)
        for sub in pkgutil.iter_modules(package.__path__):
            value = getattr(package, sub.name, None)
            assert value is None or isinstance(value, types.ModuleType), (info.name, sub.name, type(value))
