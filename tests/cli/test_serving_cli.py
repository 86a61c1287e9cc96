"""Usage errors of the serving commands, caught before any server is started or called."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.cli.output.serving import print_serve
from orchestrator.client.control import ModelState
from orchestrator.client.endpoints import parse_host_port
from orchestrator.serving.serve import ServeReport
from orchestrator.serving.triton import free_port
from tests.support.golden_versions import write_affine_version


def test_serve_names_a_model_that_is_not_in_the_repository_before_starting(
    tmp_path: Path,
) -> None:
    write_affine_version(tmp_path, "affine", 1)
    result = CliRunner().invoke(cli, ["serve", "--repo", str(tmp_path), "--model", "nope"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Model(s) 'nope' not found in {tmp_path} (it has: affine). Pass --model with "
        "one of those, or leave it out to load every model.\n"
    )


def test_smoke_url_without_a_port_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["smoke", "--url", "localhost"])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: Invalid value for '--url': URL 'localhost' is not HOST:PORT (a host, a colon, "
        "a port from 1 to 65535). Pass the server's endpoint, e.g. --url 127.0.0.1:8000.\n"
    )


def test_swap_to_version_0_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["swap", "--url", "h:1", "--model", "m", "--to", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--to': 0 is not in the range x>=1." in result.stderr


def test_swap_and_infer_with_nothing_listening_are_one_message(tmp_path: Path) -> None:
    write_affine_version(tmp_path, "affine", 1)
    url = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli, ["swap", "--url", url, "--repo", str(tmp_path), "--model", "affine", "--to", "1"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: No Triton answers HTTP at {url}. Check that the server runs and that the URL "
        "is its HTTP HOST:PORT.\n"
    )

    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    result = CliRunner().invoke(
        cli, ["infer", "--url", url, "--model", "affine", "--input", str(tmp_path / "x.npy")]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: Cannot read the metadata of model 'affine': Cannot reach Triton at {url}: "
    )


def test_serve_prints_every_endpoint_as_a_url_with_its_scheme(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = ServeReport(
        http_url="127.0.0.1:8000",
        grpc_url="127.0.0.1:8001",
        metrics_url="http://127.0.0.1:8002/metrics",
        startup_s=1.0,
        log_path=Path("triton.log"),
        models=(ModelState("affine", "1", "READY", ""),),
    )
    print_serve(report)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "HTTP     http://127.0.0.1:8000",
        "gRPC     grpc://127.0.0.1:8001",
        "metrics  http://127.0.0.1:8002/metrics",
    ]
    # each one is what --url / --grpc-url take as printed
    assert parse_host_port(lines[0].split()[1]) == report.http_url
    assert parse_host_port(lines[1].split()[1]) == report.grpc_url
