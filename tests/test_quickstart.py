"""``examples/quickstart.ipynb`` runs from top to bottom on the CPU (so that it never goes stale), and its jupytext
twin ``examples/quickstart.py`` holds the same cells."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"


def _cells(notebook) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in notebook.cells]


def test_notebook_and_script_hold_the_same_cells():
    assert _cells(jupytext.read(NOTEBOOK)) == _cells(jupytext.read(NOTEBOOK.with_suffix(".py"))), (
        "the notebook and its script differ: jupytext --sync examples/quickstart.py")


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"), "commit it without outputs"
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "| method | input invariance | noise stability | insertion & region perturbation |" in text
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure is drawn"
    assert not list(tmp_path.iterdir()), "the notebook writes no files"
