"""The documentation's checks that need no Sphinx: every public name has a docstring of its own.

``docs/_ext/public_api.py`` is the one definition of the public API and of "documented" that the docs build
(``docs/_ext/api_pages.py``) uses too; it is loaded here from its file, as the build does.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def public_api():
    path = ROOT / "docs" / "_ext" / "public_api.py"
    spec = importlib.util.spec_from_file_location("ssvepjax_docs_public_api", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look modules up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_every_public_name_has_a_docstring(public_api):
    assert public_api.undocumented() == []


def test_the_api_pages_cover_every_subpackage_that_exports_names(public_api):
    import ssvepjax

    subs = public_api.subpackages()
    assert subs[:5] == ["ssvepjax.tagging", "ssvepjax.recording", "ssvepjax.spectral", "ssvepjax.stats",
                        "ssvepjax.streaming"]  # the layers of the package's docstring, bottom up
    assert {"ssvepjax.pruning", "ssvepjax.explain", "ssvepjax.training", "ssvepjax.models"} <= set(subs)
    assert "ssvepjax.testing" not in subs  # exports nothing: helpers of the tests
    assert set(public_api.public_names(ssvepjax)) == set(ssvepjax.__all__)


def test_the_check_catches_what_it_should(public_api, tmp_path, monkeypatch):
    """A function without a docstring, a dataclass with only its generated one, and a constant without an attribute
    docstring are reported; a ``#:`` comment or a string after the assignment documents a constant."""
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""Fake."""\nfrom fakepkg.mod import *  # noqa\n')
    (package / "mod.py").write_text(
        'import dataclasses\n'
        '__all__ = ["f", "g", "C", "D", "X", "Y", "Z"]\n'
        'def f():\n    """Documented."""\n'
        'def g():\n    pass\n'
        '@dataclasses.dataclass\nclass C:\n    a: int = 0\n'
        '@dataclasses.dataclass\nclass D:\n    """Documented."""\n    a: int = 0\n'
        '#: Documented.\nX = (1, 2)\n'
        'Y = 3\n"""Documented."""\n'
        'Z = {"a": 1}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        missing = public_api.undocumented("fakepkg")
    finally:
        for name in [n for n in sys.modules if n == "fakepkg" or n.startswith("fakepkg.")]:
            del sys.modules[name]
    # Reported where they are defined, and where the package's star import re-exports them.
    assert sorted(missing) == ["fakepkg.C", "fakepkg.Z", "fakepkg.g", "fakepkg.mod.C", "fakepkg.mod.Z", "fakepkg.mod.g"]
