"""Reading perf_analyzer's CSV and building its command (the binary is not installable here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.errors import ServerError
from orchestrator.performance.options import BenchOptions
from orchestrator.performance.perf_analyzer import input_data_json, parse_csv, perf_analyzer_command

# The column layout perf_analyzer's -f option writes (times in microseconds).
CSV = """Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,\
Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,\
p90 latency,p95 latency,p99 latency
1,500.5,30,400,100,20,1200,30,20,1700,1900,2000,2500
8,2000,40,900,1500,40,1900,40,30,4200,4800,5100,6000
"""


def test_parse_csv_converts_microseconds_to_milliseconds():
    levels = parse_csv(CSV, batch_size=2, window_s=5.0)
    assert [level.concurrency for level in levels] == [1, 8]
    first = levels[0]
    assert first.throughput_per_s == pytest.approx(500.5)
    assert first.p99_ms == pytest.approx(2.5)
    assert first.server_queue_ms == pytest.approx(0.1)
    assert first.server_compute_ms == pytest.approx(1.25)
    assert first.avg_ms == pytest.approx(1.8)


def test_parse_csv_without_perf_analyzer_columns_says_so():
    with pytest.raises(ServerError, match="not in the expected format"):
        parse_csv("a,b\n1,2\n", batch_size=1, window_s=1.0)


def test_command_carries_window_stability_and_one_concurrency(tmp_path: Path):
    options = BenchOptions("127.0.0.1:8001", "m", protocol="grpc", batch_size=4, window_s=2.5)
    command = perf_analyzer_command(Path("pa"), options, 16, tmp_path / "o.csv", None)
    joined = " ".join(command)
    assert "-m m -u 127.0.0.1:8001 -i grpc -b 4" in joined
    assert "--concurrency-range 16:16 --measurement-interval 2500" in joined
    assert "--stability-percentage 10.0 --max-trials 10" in joined


def test_input_data_sends_one_row_that_perf_analyzer_batches():
    data = input_data_json({"x": np.arange(6, dtype=np.float32).reshape(2, 3)}, batching=True)
    assert data == {"data": [{"x": {"content": [0.0, 1.0, 2.0], "shape": [3]}}]}
