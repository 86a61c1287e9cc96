"""Without the train extra: orchestrator and training import, and training says what is missing.

torch is hidden from a child interpreter (``sys.modules["torch"] = None`` makes every
``import torch`` fail), so these tests need no second environment.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HIDE_TORCH = "import sys; sys.modules['torch'] = None; "


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDE_TORCH + code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_orchestrator_and_training_import_without_torch(tmp_path: Path) -> None:
    result = _python(
        "import orchestrator.cli, training, training.cli, training.bundle, training.parity; "
        "print(sorted(training.MODEL_NAMES))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['cancer_mlp', 'digits_cnn']"


def test_training_without_torch_exits_1_naming_the_train_extra(tmp_path: Path) -> None:
    out = tmp_path / "digits_cnn"
    result = _python(
        "from training.cli import main; "
        f"main(['digits_cnn', '--out', {str(out)!r}], prog_name='python -m training')",
        tmp_path,
    )
    assert result.returncode == 1
    assert "Training needs torch, which could not be imported" in result.stderr
    assert "Install the train extra: pip install -e '.[train]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_occupied_out_folder_is_refused_before_torch_is_imported(tmp_path: Path) -> None:
    # The README's first command on a fresh clone: the folder holds the shipped bundle.
    # The refusal comes first (torch is hidden: importing it would fail differently),
    # so it takes a fraction of a second instead of torch's import time.
    out = tmp_path / "digits_cnn"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"shipped")
    result = _python(
        "from training.cli import main; "
        f"main(['digits_cnn', '--out', {str(out)!r}], prog_name='python -m training')",
        tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: Output folder {out} already holds a bundle (model.onnx). An export never "
        "overwrites a bundle unasked: pass --force (force=True) to replace it, or choose "
        "another folder.\n"
    )
    assert (out / "model.onnx").read_bytes() == b"shipped"
