"""bench refuses what cannot run before it sends anything: open files, window lengths."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import ConfigError
from orchestrator.performance.options import BenchOptions


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def _in_a_child(soft: int, hard: int, body: str) -> str:
    # Limits are lowered in a child: a lowered hard limit cannot be raised again.
    script = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        from orchestrator.errors import ConfigError
        from orchestrator.performance.options import BenchOptions
        """
    ) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_a_concurrency_past_the_hard_open_file_limit_is_refused_up_front() -> None:
    out = _in_a_child(
        256,
        1024,
        """
        try:
            BenchOptions("127.0.0.1:8000", "m", concurrency=(1, 5000))
        except ConfigError as exc:
            print(exc)
        """,
    )
    assert out == (
        "Concurrency 5000 needs about 5064 open files (one connection per request in flight "
        "over HTTP), but this process may open at most 1024 (ulimit -Hn). Pass --concurrency "
        "960 or lower, raise the limit, or measure over --protocol grpc, which shares one "
        "connection."
    )


def test_a_concurrency_past_the_soft_limit_raises_it_when_the_hard_one_allows() -> None:
    out = _in_a_child(
        256,
        4096,
        """
        BenchOptions("127.0.0.1:8000", "m", concurrency=(1, 1000))
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
        """,
    )
    assert out == "(1064, 4096)"


def test_grpc_shares_one_connection_so_its_concurrency_needs_no_files() -> None:
    out = _in_a_child(
        256,
        1024,
        """
        BenchOptions("127.0.0.1:8001", "m", protocol="grpc", concurrency=(5000,))
        print(resource.getrlimit(resource.RLIMIT_NOFILE))
        """,
    )
    assert out == "(256, 1024)"


def test_the_cli_refuses_a_concurrency_past_the_limit_as_a_usage_error() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-file limit on this machine")
    args = ["bench", "--url", _closed_url(), "--model", "m", "--concurrency", f"1,{hard + 1}"]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2
    assert f"Concurrency {hard + 1} needs about {hard + 65} open files" in result.stderr


@pytest.mark.parametrize("window", ["nan", "inf", "-inf", "-1", "0", "1e9"])
def test_the_cli_refuses_a_window_that_is_not_finite_and_bounded(window: str) -> None:
    args = ["bench", "--url", _closed_url(), "--model", "m", "--window-s", window]
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--window-s'" in result.stderr


BAD_TIMES = [
    (field, value)
    for field in ("window_s", "warmup_s", "request_timeout_s")
    for value in (float("nan"), float("inf"), -1.0, 1e9)  # request_timeout_s: at most 3600 s
]


@pytest.mark.parametrize(("field", "value"), BAD_TIMES)
def test_bench_options_refuse_a_time_that_is_not_finite_and_bounded(
    field: str, value: float
) -> None:
    with pytest.raises(ConfigError, match=field):
        BenchOptions("127.0.0.1:8000", "m", **{field: value})  # type: ignore[arg-type]
