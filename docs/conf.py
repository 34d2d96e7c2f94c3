"""Sphinx configuration of the ssvepjax documentation site.

Build (from the repository root; the README gives the same command):
    python -m sphinx -W --keep-going -n -b html docs docs/_build/html
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import ssvepjax  # noqa: E402

project = "ssvepjax"
author = "the ssvepjax authors"
copyright = "the ssvepjax authors"
release = version = ssvepjax.__version__

extensions = [
    "myst_nb",  # Markdown pages (myst-parser) and the notebooks as pages, not executed
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "api_pages",  # docs/_ext/api_pages.py: API pages from __all__, the docstring check, notebooks copied
]

# Not pages: stored results, figures, benchmarks and screenshots that the pages and tests read; the build output.
exclude_patterns = [
    "_build", "_ext", "_screenshots", "results", "templates", "figures", "benchmarks", "pruning",
    "**.ipynb_checkpoints",
]

# Notebooks: the tests run them (tests/test_notebooks.py); the site shows them as stored, without outputs.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# Shapes stay as written (``Float[ArrayLike, "h w c"]``) instead of jaxtyping's expanded unions.
autodoc_type_aliases = {"Array": "jax.Array", "ArrayLike": "jax.typing.ArrayLike"}
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # a class's Attributes as one compact field list, not one entry each
python_use_unqualified_type_names = True

# Every cross-reference must resolve, except to libraries whose inventories an offline build cannot read.
EXTERNAL = ("jax", "jaxlib", "jaxtyping", "numpy", "np", "flax", "optax", "orbax", "scipy", "matplotlib", "torch",
            "PIL", "tensorflow_datasets", "typing", "collections", "pathlib", "os", "functools", "argparse", "types")
nitpicky = True
nitpick_ignore_regex = [
    ("py:.*", rf"({'|'.join(EXTERNAL)})(\..*)?"),
    # short names of those libraries' types in signatures, and jaxtyping's dtype annotations
    ("py:.*", r"(Array|ArrayLike|PRNGKeyArray|PyTree|ndarray|Path|Callable|Iterable|Iterator|Mapping|Sequence|Any)"),
    ("py:.*", r"(Float|Float32|Bool|Int|UInt|Integer|Complex|Shaped|Key|Num|Real|Inexact)"),
]

html_theme = "furo"
html_title = f"ssvepjax {version}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]  # a wider content column for 120-column code and result tables
add_module_names = False  # entries read ``tag_frames(...)`` under their module's heading, not the dotted path
