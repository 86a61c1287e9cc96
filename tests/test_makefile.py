"""The Makefile's installs say what they install and how big, and never hide pip's progress.

``make -n`` prints the recipes without running them (into fresh venv paths, so every
step is due); nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _recipe(tmp_path: Path, target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={tmp_path}/v", f"TOOLS_VENV={tmp_path}/t", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if not line.startswith("make")]


@pytest.mark.parametrize(
    ("target", "big", "size"),
    [("venv", "-e '.[dev,train]'", "2.2 GB"), ("tools", "-r requirements/tools.txt", "450 MB")],
)
def test_the_long_install_is_announced_with_its_size_and_shows_pip_progress(
    tmp_path: Path, target: str, big: str, size: str
) -> None:
    lines = _recipe(tmp_path, target)
    install = next(i for i, line in enumerate(lines) if line.endswith(big))
    assert "--quiet" not in lines[install]  # minutes of silence otherwise
    announced = " ".join(line for line in lines[:install] if line.startswith("echo "))
    assert size in announced and "Installing" in announced
    assert lines[-1].startswith('echo "== ') and lines[-1].endswith(' is ready."')
