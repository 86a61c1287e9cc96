"""bench against a real Triton: the load generator, the statistics, the CLI outputs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator import client
from orchestrator.cli import cli
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.errors import ServerError
from orchestrator.performance.bench import bench
from orchestrator.performance.http_wire import http_request_once
from orchestrator.performance.loadgen import LoadGenerator
from orchestrator.performance.options import BenchOptions
from orchestrator.performance.report import ServerStats
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration

MODEL = "bench_affine"
SHORT: dict[str, Any] = {"window_s": 0.2, "warmup_s": 0.1, "max_windows": 3}


@pytest.fixture(scope="module")
def served(triton_server: TritonServer, triton_repo: Path) -> TritonServer:
    config = AFFINE_CONFIG.format(name=MODEL, max_batch_size=16, delay_us=200)
    make_affine_onnx(triton_repo / MODEL / "1" / "model.onnx")
    (triton_repo / MODEL / "config.pbtxt").write_text(config)
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_golden(golden_path(triton_repo / MODEL / "1"), {"x": rows}, {"y": rows})
    states = load_models(triton_server.http_url, triton_repo, [MODEL], cpu_override=True)
    assert [s.state for s in states] == ["READY"]
    return triton_server


def test_raw_http_request_gets_the_models_answer(served: TritonServer):
    x = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    request = client.encode_http_request(MODEL, {"x": x})
    status, body, header_length = asyncio.run(http_request_once(served.http_url, request))
    assert status == 200
    outputs = client.decode_http_response(body, header_length)
    np.testing.assert_array_equal(outputs["y"], x * 2 + 1)
    np.testing.assert_array_equal(outputs["s"], x.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_every_request_the_generator_counts_is_one_the_server_counts(
    served: TritonServer, protocol: Any
):
    url = served.http_url if protocol == "http" else served.grpc_url
    x = np.ones((2, 4), dtype=np.float32)
    before = ServerStats.from_json(client.inference_statistics(served.http_url, MODEL))
    generator = LoadGenerator(url, MODEL, {"x": x}, protocol=protocol)

    async def for_half_a_second(_: LoadGenerator) -> None:
        await asyncio.sleep(0.5)

    asyncio.run(generator.run(4, for_half_a_second))
    samples = generator.take_samples()
    after = ServerStats.from_json(client.inference_statistics(served.http_url, MODEL))
    assert samples.count > 0 and samples.succeeded == samples.count
    assert (after - before).success_count == samples.count
    assert (after - before).inference_count == 2 * samples.count
    assert (samples.latency_ns > 0).all()


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_bench_measures_every_level_with_the_servers_own_times(
    served: TritonServer, triton_repo: Path, protocol: Any
):
    url = served.http_url if protocol == "http" else served.grpc_url
    golden = golden_path(triton_repo / MODEL / "1")
    options = BenchOptions(
        url, MODEL, protocol=protocol, concurrency=(1, 8), batch_size=2, golden=golden, **SHORT
    )
    report = bench(options, engine="orchestrator")
    assert report.error == "" and report.inputs == f"golden:{golden}"
    assert [level.concurrency for level in report.levels] == [1, 8]
    for level in report.levels:
        assert level.requests > 0 and level.failures == 0
        assert level.throughput_per_s == pytest.approx(2 * level.requests_per_s)
        assert 0 < level.p50_ms <= level.p90_ms <= level.p95_ms <= level.p99_ms
        assert level.server_compute_ms > 0 and level.server_queue_ms > 0
        assert level.server_avg_batch >= 2.0  # each request carries two rows
        # Stability needs three windows that agree and max_windows stops at three, so a
        # level runs exactly three windows, stable or not.
        assert level.windows == SHORT["max_windows"] == 3
        assert 0 < level.client_cpu_fraction
    # With one request in flight there is nothing to batch; with eight there is.
    assert report.levels[0].server_avg_batch == pytest.approx(2.0)


def test_bench_names_a_model_that_is_not_served(served: TritonServer):
    with pytest.raises(ServerError, match="Model 'no_such_model' is not served at"):
        bench(BenchOptions(served.http_url, "no_such_model", **SHORT))


@pytest.mark.usefixtures("tritonserver")
def test_a_server_that_dies_mid_run_keeps_the_levels_measured_before(
    tmp_path: Path, write_model: Callable[..., Path]
):
    config = AFFINE_CONFIG.format(name="dying", max_batch_size=8, delay_us=100)
    write_model(tmp_path / "repo", "dying", config, make_affine_onnx)
    server = TritonServer(ServerOptions(tmp_path / "repo", stop_timeout_s=5.0))
    with server:
        load_models(server.http_url, tmp_path / "repo", ["dying"], cpu_override=True)
        options = BenchOptions(server.http_url, "dying", concurrency=(1, 2, 4), **SHORT)
        report = bench(options, on_level=lambda level: server.stop(), engine="orchestrator")
    assert [level.concurrency for level in report.levels] == [1]
    assert report.error.startswith("Stopped at concurrency 2: ")
    assert server.http_url in report.error


def test_cli_bench_prints_a_table_json_csv_and_writes_a_png(served: TritonServer, tmp_path: Path):
    args = ["bench", "--url", served.http_url, "--model", MODEL, "--concurrency", "1,4"]
    args += ["--window-s", "0.2", "--warmup-s", "0.1", "--max-windows", "3", "--repo", "none"]
    table = CliRunner().invoke(cli, [*args, "--plot", str(tmp_path / "b.png")])
    assert table.exit_code == 0, table.output
    assert "concurrency" in table.stdout and "p99 ms" in table.stdout
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    as_json = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["inputs"] == "random" and data["error"] == ""
    assert [level["concurrency"] for level in data["levels"]] == [1, 4]

    as_csv = CliRunner().invoke(cli, [*args, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    lines = as_csv.stdout.splitlines()
    assert lines[0].startswith("concurrency,throughput_per_s,") and len(lines) == 3


def test_cli_bench_reports_each_level_on_stderr_as_it_finishes(served: TritonServer):
    # stderr is not a terminal under CliRunner: one plain line per level (a CI log's view).
    args = ["bench", "--url", served.http_url, "--model", MODEL, "--concurrency", "1,2"]
    args += ["--window-s", "0.2", "--warmup-s", "0.1", "--max-windows", "3", "--repo", "none"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exception is None, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("bench ")]
    assert [line.split(" infer/s")[0].rsplit(": ", 1)[0] for line in lines] == [
        f"bench {MODEL}: level 1/2, concurrency 1",
        f"bench {MODEL}: level 2/2, concurrency 2",
    ]
    assert all(" ms" in line for line in lines)
    assert [level["concurrency"] for level in json.loads(result.stdout)["levels"]] == [1, 2]


def test_cli_bench_refuses_a_concurrency_list_that_does_not_parse():
    result = CliRunner().invoke(
        cli, ["bench", "--url", "127.0.0.1:1", "--model", "m", "--concurrency", "1,x"]
    )
    assert result.exit_code == 2
    assert "Concurrency 'x' in '1,x' is not a positive integer" in result.output


def test_cli_bench_on_an_unserved_model_exits_1_without_a_traceback(served: TritonServer):
    result = CliRunner().invoke(cli, ["bench", "--url", served.http_url, "--model", "nope"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Error: Model 'nope' is not served at" in result.stderr


# perf_analyzer cannot be installed on these machines (TRITON_LOCAL.md): this stand-in,
# named as such, only checks the arguments it is given and writes a CSV in its format.
FAKE_PERF_ANALYZER = """#!/bin/sh
set -e
while [ $# -gt 0 ]; do
  case "$1" in
    -f) out="$2"; shift 2 ;;
    --concurrency-range) c="${2%%:*}"; shift 2 ;;
    --input-data) test -s "$2"; shift 2 ;;
    *) shift ;;
  esac
done
printf 'Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,' > "$out"
printf 'Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,' >> "$out"
printf 'p50 latency,p90 latency,p95 latency,p99 latency\\n' >> "$out"
printf '%s,%s,10,100,50,5,200,5,10,400,450,470,500\\n' "$c" "$((c * 100))" >> "$out"
"""


def test_bench_runs_perf_analyzer_when_it_is_on_path(
    served: TritonServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake = tmp_path / "bin" / "perf_analyzer"
    fake.parent.mkdir()
    fake.write_text(FAKE_PERF_ANALYZER)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    seen: list[int] = []
    report = bench(
        BenchOptions(served.http_url, MODEL, concurrency=(2, 4), **SHORT),
        on_level=lambda level: seen.append(level.concurrency),
    )
    assert report.engine == f"perf_analyzer ({fake})" and report.error == ""
    assert seen == [2, 4]  # progress per level, as with the built-in generator
    assert [level.concurrency for level in report.levels] == [2, 4]
    assert [level.throughput_per_s for level in report.levels] == [200.0, 400.0]
    assert report.levels[0].p99_ms == pytest.approx(0.5)


def test_bench_asked_for_perf_analyzer_without_it_says_how_to_get_it(
    served: TritonServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServerError, match="perf_analyzer is not on PATH"):
        bench(BenchOptions(served.http_url, MODEL, **SHORT), engine="perf_analyzer")


def test_ctrl_c_keeps_the_levels_measured_before(served: TritonServer):
    def interrupt_soon(level: object) -> None:
        # SIGINT to this process while the next level runs, as Ctrl-C would send it.
        threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT)).start()

    options = BenchOptions(served.http_url, MODEL, concurrency=(1, 2, 4), **SHORT)
    report = bench(options, on_level=interrupt_soon, engine="orchestrator")
    assert [level.concurrency for level in report.levels] == [1]
    assert report.error == "Interrupted at concurrency 2; the levels before it are kept."
