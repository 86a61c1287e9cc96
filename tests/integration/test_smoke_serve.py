"""`orchestrator smoke --serve`: start a local Triton on the repository, smoke it, stop it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.core.golden import golden_path, read_golden, write_golden
from tests.support.golden_versions import write_affine_version

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"


def _leftover_servers(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("orchestrator-triton-*"))


def test_smoke_serve_checks_the_shipped_repository_and_stops_its_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repo = shutil.copytree(SHIPPED, tmp_path / "model_repository")

    result = CliRunner().invoke(cli, ["smoke", "--serve", "--repo", str(repo), "--format", "json"])

    assert result.exception is None, result.output
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    checked = {(r["model"], r["version"], r["protocol"]) for r in body["results"]}
    assert checked == {
        (model, "1", protocol)
        for model in ("cancer_mlp", "digits_cnn")
        for protocol in ("http", "grpc")
    }
    assert all(r["ok"] for r in body["results"])
    assert _leftover_servers(tmp_path) == []


def test_smoke_serve_fails_with_exit_1_when_a_version_answers_wrongly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repo = tmp_path / "repo"
    folder = write_affine_version(repo, "alpha", 1)
    golden = read_golden(golden_path(folder))
    wrong = {name: value + np.float32(1) for name, value in golden.outputs.items()}
    write_golden(golden_path(folder), golden.inputs, wrong)

    result = CliRunner().invoke(cli, ["smoke", "--serve", "--repo", str(repo)])

    assert result.exit_code == 1
    assert not isinstance(result.exception, AssertionError | TypeError | ValueError)
    assert "alpha" in result.output
    assert _leftover_servers(tmp_path) == []


def test_smoke_serve_reports_a_model_that_fails_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repo = tmp_path / "repo"
    write_affine_version(repo, "alpha", 1, broken=True)

    result = CliRunner().invoke(cli, ["smoke", "--serve", "--repo", str(repo)])

    assert result.exit_code == 1
    assert "failed to load" in result.output and "alpha" in result.output
    assert _leftover_servers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--serve", "--url", "127.0.0.1:8000"], "leave out --url"),
        (["--serve", "--grpc-url", "127.0.0.1:8001"], "leave out --url and --grpc-url"),
        ([], "--serve"),
    ],
)
def test_smoke_needs_either_a_url_or_serve(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(cli, ["smoke", *args, "--repo", str(SHIPPED)])

    assert result.exit_code == 2
    assert expected in result.output


def test_smoke_serve_in_markdown_names_the_failure_for_the_job_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    repo = tmp_path / "repo"
    folder = write_affine_version(repo, "alpha", 1)
    write_affine_version(repo, "beta", 1)
    golden = read_golden(golden_path(folder))
    wrong = {name: value + np.float32(1) for name, value in golden.outputs.items()}
    write_golden(golden_path(folder), golden.inputs, wrong)

    result = CliRunner().invoke(
        cli, ["smoke", "--serve", "--repo", str(repo), "--format", "markdown"]
    )

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "### Golden smoke: 2 of 4 checks passed"
    rows = [line for line in lines if line.startswith("| alpha") or line.startswith("| beta")]
    assert len(rows) == 4
    assert all("**FAILED**" in row and "abs error" in row for row in rows if "alpha" in row)
    assert all(row.endswith("| ok |") for row in rows if "beta" in row)
