"""Usage errors of the serving commands, caught before any server is started or called."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from tests.serving import write_affine_version


def test_serve_names_a_model_that_is_not_in_the_repository_before_starting(
    tmp_path: Path,
) -> None:
    write_affine_version(tmp_path, "affine", 1)
    result = CliRunner().invoke(cli, ["serve", str(tmp_path), "--model", "nope"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Model(s) 'nope' not found in {tmp_path} (it has: affine). Pass --model with "
        "one of those, or leave it out to load every model.\n"
    )


def test_smoke_url_without_a_port_is_one_message() -> None:
    result = CliRunner().invoke(cli, ["smoke", "--url", "localhost"])
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: URL 'localhost' is not HOST:PORT. Pass the server's HTTP endpoint, "
        "e.g. --url 127.0.0.1:8000.\n"
    )


def test_swap_to_version_0_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["swap", "--url", "h:1", "--model", "m", "--to", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--to': 0 is not in the range x>=1." in result.stderr
