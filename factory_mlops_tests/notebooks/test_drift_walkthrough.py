"""The drift walkthrough notebook runs top to bottom (its last cell asserts the story) and is in sync
with its generator."""

import importlib.util

import nbformat
import pytest
from nbclient import NotebookClient

from factory_mlops_tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "drift_walkthrough.ipynb"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "_build", REPO / "notebooks" / "_build_drift_walkthrough.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_matches_its_generator_and_has_no_outputs():
    stored = nbformat.read(NOTEBOOK, as_version=4)
    built = _generator().build()
    assert [c.source for c in stored.cells] == [c.source for c in built.cells], (
        "notebook out of sync: run python notebooks/_build_drift_walkthrough.py"
    )
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code")


@pytest.mark.slow
def test_notebook_executes_and_tells_the_story(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "retrain (drift)" in text and "PROMOTED" in text
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 3  # distributions, PSI over time, control chart + recall
    nbformat.write(nb, tmp_path / "drift_walkthrough.executed.ipynb")
