"""--grpc-url against the real Triton: bench and smoke send gRPC where it points."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.serving.triton import TritonServer, load_models
from tests.support.golden_versions import write_affine_version

pytestmark = pytest.mark.integration

NAME = "grpc_url_affine"


@pytest.fixture(scope="module")
def served(triton_server: TritonServer, triton_repo: Path) -> TritonServer:
    write_affine_version(triton_repo, NAME, 1)
    states = load_models(triton_server.http_url, triton_repo, [NAME], cpu_override=True)
    assert [s.state for s in states] == ["READY"]
    return triton_server


def _urls(server: TritonServer) -> list[str]:
    return ["--url", server.http_url, "--grpc-url", server.grpc_url, "--protocol", "grpc"]


def test_bench_over_grpc_measures_at_the_grpc_url(served: TritonServer) -> None:
    args = ["bench", *_urls(served), "--model", NAME, "--concurrency", "1", "--format", "json"]
    args += ["--window-s", "0.2", "--warmup-s", "0.1", "--max-windows", "3", "--repo", "none"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    report = json.loads(result.stdout)
    assert (report["url"], report["protocol"], report["error"]) == (served.grpc_url, "grpc", "")
    assert [level["concurrency"] for level in report["levels"]] == [1]
    # Nothing on stderr but the one progress line of the one level (no warning).
    assert re.fullmatch(
        rf"bench {NAME}: level 1/1, concurrency 1: [\d,.]+ infer/s, p99 [\d.]+ ms"
        r"( \(not stable\))?\n",
        result.stderr,
    ), result.stderr


def test_smoke_over_grpc_only_checks_at_the_grpc_url(
    served: TritonServer, triton_repo: Path
) -> None:
    args = ["smoke", *_urls(served), "--model", NAME, "--repo", str(triton_repo)]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    body = json.loads(result.stdout)
    assert [(r["model"], r["protocol"], r["ok"]) for r in body["results"]] == [(NAME, "grpc", True)]
