"""The notebooks run to the end at a small size (SSVEPJAX_NOTEBOOK_QUICK=1) and are stored without outputs."""

import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["quickstart.ipynb", "paper_reproduction.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_stored_without_outputs(name):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert "google.colab" in code[0].source  # the install cell runs only on Colab
    imports = [line for c in code for line in c.source.splitlines() if line.startswith(("import ", "from "))]
    project = [line for line in imports if "ssvepjax" in line or "experiments" in line]
    assert all(line.split()[1].split(".")[0] == "ssvepjax" for line in project)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("nb_cache"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path, cache_dir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SSVEPJAX_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("SSVEPJAX_CACHE", cache_dir)
    monkeypatch.setenv("SSVEPJAX_NOTEBOOK_OUT", str(tmp_path / "notebook_figures"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert (tmp_path / "notebook_figures").is_dir() and any((tmp_path / "notebook_figures").glob("*.png"))
    assert not any(run_dir.iterdir())  # nothing left in the folder the notebook ran in
