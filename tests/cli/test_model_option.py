"""``--model`` is checked by the one model name rule (core.names) on every command.

An empty name, or one with a trailing newline, is a usage error (exit 2) naming the
rule, before anything is read, published or connected to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.onnx_models import make_affine_onnx

CLOSED = "127.0.0.1:9"  # nothing listens on the discard port here


def commands(tmp_path: Path) -> dict[str, list[str]]:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    (tmp_path / "x.json").write_text('{"x": [[1, 2, 3, 4]]}')
    repo = tmp_path / "repo"
    repo.mkdir()
    return {
        "publish": ["publish", str(source), "--repo", str(repo)],
        "bench": ["bench", "--url", CLOSED],
        "tune": ["tune", "--repo", str(repo), "--latency-budget-ms", "20"],
        "infer": ["infer", "--url", CLOSED, "--input", str(tmp_path / "x.json")],
        "swap": ["swap", "--url", CLOSED, "--to", "2", "--repo", str(repo)],
        "serve": ["serve", "--repo", str(repo), "--tritonserver", str(tmp_path / "none")],
        "smoke": ["smoke", "--url", CLOSED, "--repo", str(repo)],
    }


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["", "digits\n", "x" * 129], ids=["empty", "newline", "long"])
@pytest.mark.parametrize("command", ["publish", "bench", "tune", "infer", "swap", "serve", "smoke"])
def test_a_bad_model_name_is_a_usage_error(tmp_path: Path, command: str, name: str) -> None:
    args = commands(tmp_path)[command]
    result = CliRunner().invoke(cli, [*args, "--model", name])
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Invalid value for '--model'" in result.stderr, result.stderr
    assert "1 to 128 characters: letters, digits, '_', '-' or '.'" in result.stderr
    assert list((tmp_path / "repo").iterdir()) == []
