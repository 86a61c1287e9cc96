"""tune's progress on a real local Triton: every measured level is reported as it finishes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration


def test_cli_tune_reports_each_level_of_each_candidate(
    tmp_path: Path, write_model: Callable[..., Path]
) -> None:
    config = AFFINE_CONFIG.format(name="affine", max_batch_size=16, delay_us=500)
    repo = write_model(tmp_path / "repo", "affine", config, make_affine_onnx).parent
    args = ["tune", "--model", "affine", "--repo", str(repo), "--max-trials", "2"]
    args += ["--concurrency", "2", "--window-s", "0.2", "--confirm-rounds", "0"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exception is None, result.output
    levels = [line for line in result.stderr.splitlines() if line.startswith("tune affine ")]
    measured = [line for line in result.stderr.splitlines() if line.startswith("measured ")]
    # each candidate: its levels first (stderr is not a terminal: plain lines), then its trial
    assert len(levels) >= len(measured) >= 2
    shape = re.compile(r"tune affine \S.*: level \d+/\d+, concurrency \d+: [\d.]+ infer/s, p99 ")
    assert all(shape.match(line) for line in levels), levels
    assert any(", concurrency 2: " in line for line in levels)
