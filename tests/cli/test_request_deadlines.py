"""infer --timeout-s, bench --request-timeout-s: each call ends at its deadline.

Before, neither had the option: against a server that trickles its answer a byte at a
time, each infer call waited the client's 60 s and bench's calls their fixed 30 s. Here a
real loopback server trickles (or, for gRPC, accepts and never answers:
tests/support/trickle_server.py) long past the deadline plus the slack allowed, so a
per-read timeout alone would not pass.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import ConfigError
from orchestrator.performance.options import BenchOptions
from orchestrator.serving.inference import infer_file
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(60)

serving = contextmanager(trickle)
# HEAD a byte every 0.3 s: 24 s of answer, each byte well inside a 2 s read timeout.
EVERY_S = 0.3
SLACK_S = 3.0


def _infer(url: str, inputs: Path, *extra: str) -> list[str]:
    return ["infer", "--url", url, "--model", "m", "--input", str(inputs), *extra]


@pytest.mark.parametrize(
    ("protocol", "answer"), [("http", HEAD), ("grpc", b"")], ids=["http-trickled", "grpc-silent"]
)
def test_infer_ends_at_its_timeout_against_a_server_that_trickles(
    tmp_path: Path, protocol: str, answer: bytes
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    with serving(answer, EVERY_S) as url:
        started = time.monotonic()
        result = CliRunner().invoke(
            cli,
            _infer(url, tmp_path / "x.npy", "--timeout-s", "2", "--protocol", protocol)
            + ["--grpc-url", url],
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert elapsed < 2 + SLACK_S, elapsed
    assert result.stderr.startswith("Error: Cannot read the metadata of model 'm': ")
    if protocol == "http":
        assert "no complete answer to get_model_metadata within 2 s" in result.stderr
    else:
        assert "did not answer within 2 s" in result.stderr


@pytest.mark.parametrize("value", ["0", "0.5", "3601", "1e300", "nan", "inf"])
def test_an_absurd_infer_timeout_is_a_usage_error(tmp_path: Path, value: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    result = CliRunner().invoke(
        cli, _infer("127.0.0.1:1", tmp_path / "x.npy", "--timeout-s", value)
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for '--timeout-s'" in result.stderr
    assert "1<=x<=3600" in result.stderr


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), 1e300])
def test_the_library_refuses_an_absurd_deadline_before_any_call(
    tmp_path: Path, value: float
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    with pytest.raises(ConfigError, match="is not between 0 and 3600 s"):
        infer_file("127.0.0.1:1", "m", tmp_path / "x.npy", timeout_s=value)


@pytest.mark.parametrize(
    ("protocol", "answer"), [("http", HEAD), ("grpc", b"")], ids=["http-trickled", "grpc-silent"]
)
def test_bench_ends_at_its_request_timeout_against_a_server_that_trickles(
    tmp_path: Path, protocol: str, answer: bytes
) -> None:
    with serving(answer, EVERY_S) as url:
        started = time.monotonic()
        result = CliRunner().invoke(
            cli,
            ["bench", "--url", url, "--grpc-url", url, "--model", "m", "--repo", str(tmp_path)]
            + ["--protocol", protocol, "--request-timeout-s", "2", "--quiet"],
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert elapsed < 2 + SLACK_S, elapsed
    assert result.stderr.startswith(f"Error: Model 'm' is not served at {url} ({protocol}): ")
    assert "within 2 s" in result.stderr


@pytest.mark.parametrize("value", ["0", "3601", "1e300", "nan"])
def test_an_absurd_bench_request_timeout_is_a_usage_error(value: str) -> None:
    result = CliRunner().invoke(
        cli, ["bench", "--url", "127.0.0.1:1", "--model", "m", "--request-timeout-s", value]
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for '--request-timeout-s'" in result.stderr


@pytest.mark.parametrize("value", [0.0, float("nan"), 1e300])
def test_bench_options_refuse_an_absurd_request_timeout(value: float) -> None:
    with pytest.raises(ConfigError, match="request_timeout_s .* at most 3600 s"):
        BenchOptions("127.0.0.1:1", "m", request_timeout_s=value)
