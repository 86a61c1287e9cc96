"""The Kaggle notebook runs headless on a CPU (nbclient) with few epochs; it only calls training."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path
from typing import Any

import pytest

# Whether torch is there, not torch itself: each worker of make unit collects this module.
if importlib.util.find_spec("torch") is None:
    pytest.skip("could not import 'torch': No module named 'torch'", allow_module_level=True)
pytest.importorskip("nbclient")

import nbclient  # noqa: E402
import nbformat  # noqa: E402

from tests.support.unit_loop import skip_in_unit_loop  # noqa: E402
from training.bundle import read_bundle  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[2] / "training" / "notebook.ipynb"


def _with_parameters(notebook: Any, source: str) -> Any:
    """Insert ``source`` after the cell tagged ``parameters``, as papermill does."""
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))  # type: ignore[no-untyped-call]
    return notebook


def test_notebook_trains_and_exports_every_model_and_ends_with_next_steps(tmp_path: Path) -> None:
    skip_in_unit_loop("model training")
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    out_root = tmp_path / "models" / "exports"
    _with_parameters(notebook, f'OUT_ROOT = {str(out_root)!r}\nDEVICE = "cpu"\nEPOCHS = 2')
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    for name in ("digits_cnn", "cancer_mlp"):
        export, _ = read_bundle(out_root / name)
        assert export["model_name"] == name and export["training"]["epochs"] == 2
    outputs = "".join(
        str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "digits_cnn: held-out accuracy" in outputs
    assert "cancer_mlp: held-out accuracy" in outputs
    with zipfile.ZipFile(tmp_path / "models-exports.zip") as archive:
        assert {"digits_cnn/model.onnx", "cancer_mlp/export.json"} <= set(archive.namelist())
    last = notebook.cells[-1]
    assert last.cell_type == "markdown"
    assert "orchestrator publish" in last.source and "git push" in last.source


def test_notebook_code_only_calls_the_training_package() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    imports = [line for line in code.splitlines() if line.startswith(("import ", "from "))]
    assert imports == [
        "from pathlib import Path",
        "from training import train_and_export",
        "import shutil",
    ]
    assert "torch" not in code
