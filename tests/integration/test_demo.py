"""``orchestrator demo`` end to end, as ``make demo`` runs it, with and without PyTorch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Both tests run the demo, which serves with the local Triton.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("tritonserver")]

ROOT = Path(__file__).resolve().parents[2]


def _demo(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "demo", "--workdir", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _accuracies(stdout: str) -> list[tuple[str, str, str]]:
    pattern = r"accuracy +version (\d+): served ([\d.]+)% vs in-process ([\d.]+)% .*on 360"
    return re.findall(pattern, stdout)


def test_demo_trains_publishes_serves_and_swaps_with_zero_failed_requests(tmp_path: Path) -> None:
    result = _demo(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Training digits_cnn (PyTorch, CPU, seed 1)" in result.stderr
    # the long steps of training are announced, and the epochs reported as they pass
    assert "Loading PyTorch and the digits data" in result.stderr
    assert "Exporting to ONNX; parity gate: ONNX Runtime against PyTorch" in result.stderr
    assert re.search(r"^  epoch (\d+)/\1, loss [\d.]+$", result.stderr, re.MULTILINE)
    swap_line = next(line for line in result.stdout.splitlines() if line.startswith("swap"))
    match = re.search(r"version 1 -> 2 under load .*: (\d+) requests sent, 0 failed$", swap_line)
    assert match and int(match.group(1)) >= 3000, swap_line
    accuracies = _accuracies(result.stdout)
    assert [version for version, _, _ in accuracies] == ["1", "2"]
    for _, served, in_process in accuracies:
        assert served == in_process and float(served) >= 95.0
    # The workspace is gone and the shipped repository untouched.
    assert list((tmp_path / "work").iterdir()) == []
    assert sorted(p.name for p in (ROOT / "model_repository" / "digits_cnn").iterdir()) == [
        "1",
        "config.pbtxt",
    ]


def test_demo_without_torch_reuses_the_shipped_version_and_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "torch.py").write_text('raise ImportError("torch is blocked for this test")\n')
    result = _demo(tmp_path, {"PYTHONPATH": str(blocker)})
    assert result.returncode == 0, result.stderr
    assert (
        "PyTorch is not installed (Training needs torch, which could not be imported (torch is "
        "blocked for this test)." in result.stderr
    )
    assert "reusing the shipped digits_cnn version 1 as the new bundle" in result.stderr
    assert "model        digits_cnn: reused the shipped version (no torch)" in result.stdout
    assert re.search(r"requests sent, 0 failed$", result.stdout, re.MULTILINE)
    assert [v for v, _, _ in _accuracies(result.stdout)] == ["1", "2"]
