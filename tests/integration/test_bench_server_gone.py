"""bench, from the command line, against a server that goes away after the first level."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration


class _StopAfterFirstLevel(logging.Handler):
    """Sends the server a signal when bench logs its first finished level."""

    def __init__(self, server: TritonServer, signum: signal.Signals) -> None:
        super().__init__(logging.INFO)
        self.server, self.signum, self.sent = server, signum, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.sent and record.getMessage().startswith("concurrency 1:"):
            assert self.server.pid is not None
            os.kill(self.server.pid, self.signum)
            self.sent = True


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("signum", "protocol"),
    [(signal.SIGTERM, "http"), (signal.SIGTERM, "grpc"), (signal.SIGKILL, "http")],
    ids=["graceful-http", "graceful-grpc", "killed-http"],
)
def test_bench_keeps_the_finished_levels_and_exits_1_when_the_server_goes(
    tmp_path: Path, write_model, signum: signal.Signals, protocol: str
) -> None:
    config = AFFINE_CONFIG.format(name="going", max_batch_size=8, delay_us=100)
    write_model(tmp_path / "repo", "going", config, make_affine_onnx)
    server = TritonServer(ServerOptions(tmp_path / "repo", stop_timeout_s=20))
    logger = logging.getLogger("orchestrator.performance.bench")
    handler = _StopAfterFirstLevel(server, signum)
    with server:
        load_models(server.http_url, tmp_path / "repo", ["going"], cpu_override=True)
        args = ["bench", "--url", server.http_url, "--grpc-url", server.grpc_url]
        args += ["--model", "going", "--protocol", protocol, "--concurrency", "1,4,8"]
        args += ["--window-s", "0.3", "--warmup-s", "0.1", "--max-windows", "3"]
        args += ["--engine", "orchestrator", "--format", "json", "--repo", str(tmp_path)]
        previous = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            result = CliRunner().invoke(cli, args)
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)
    assert handler.sent
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [level["concurrency"] for level in report["levels"]] == [1]
    assert report["levels"][0]["requests"] > 0
    assert report["error"].startswith("Stopped at concurrency 4: ")
    assert result.stderr.splitlines()[-1] == f"Error: {report['error']}"
