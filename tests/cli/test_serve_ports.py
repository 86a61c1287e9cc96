"""serve checks its ports and address before anything starts: one line, exit 2 or 1."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli


@pytest.fixture
def fake_triton(tmp_path: Path) -> Path:
    # Never reached when the ports are wrong: the checks come first.
    binary = tmp_path / "bin" / "tritonserver"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)
    return binary


def _serve(fake_triton: Path, *args: str) -> tuple[int, str]:
    repo = fake_triton.parent.parent / "repo"
    repo.mkdir(exist_ok=True)
    base = ["serve", "--repo", str(repo), "--tritonserver", str(fake_triton)]
    result = CliRunner().invoke(cli, [*base, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, result.stderr
    return result.exit_code, error_lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--http-port", "8500", "--grpc-port", "8500"],
            "Error: --http-port and --grpc-port are both 8500; each endpoint needs its own "
            "port. Pass another --grpc-port, or leave it out for a free one.",
        ),
        (
            ["--grpc-port", "8501", "--metrics-port", "8501"],
            "Error: --grpc-port and --metrics-port are both 8501; each endpoint needs its own "
            "port. Pass another --metrics-port, or leave it out for a free one.",
        ),
        (
            ["--http-port", "65536"],
            "Error: Invalid value for '--http-port': 65536 is not in the range 1<=x<=65535.",
        ),
        (
            ["--metrics-port", "0"],
            "Error: Invalid value for '--metrics-port': 0 is not in the range 1<=x<=65535.",
        ),
        (
            ["--ready-timeout-s", "nan"],
            "Error: Invalid value for '--ready-timeout-s': 'nan' is not a finite number; "
            "0.0<x<=86400.0.",
        ),
        (
            ["--address", ""],
            "Error: --address is empty. Pass 127.0.0.1 for this machine only, or 0.0.0.0 for "
            "every interface.",
        ),
    ],
    ids=[
        "http-equals-grpc",
        "grpc-equals-metrics",
        "out-of-range",
        "zero",
        "nan-timeout",
        "empty-address",
    ],
)
def test_ports_that_cannot_work_are_a_usage_error(
    fake_triton: Path, args: list[str], expected: str
) -> None:
    assert _serve(fake_triton, *args) == (2, expected)


def test_a_port_in_use_is_one_line_and_exit_1(fake_triton: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = _serve(fake_triton, "--grpc-port", str(port))
    assert code == 1
    assert line == (
        f"Error: Port {port} on 127.0.0.1 is already in use (Address already in use). "
        "Pick another with --grpc-port, or stop whatever listens there."
    )


@pytest.mark.parametrize("address", ["no-such-host.invalid", "::1", "a b"])
def test_an_address_that_is_not_this_machines_is_one_line_and_exit_1(
    fake_triton: Path, address: str
) -> None:
    code, line = _serve(fake_triton, "--address", address)
    assert code == 1
    assert line.startswith(f"Error: --address {address!r} is not an IPv4 address or host name")
