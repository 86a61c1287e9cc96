"""Pure parts of bench: parsing, inputs, windows, percentiles, statistics, CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.errors import ConfigError
from orchestrator.performance.http_wire import HttpResponseParser
from orchestrator.performance.inputs import find_golden, model_inputs
from orchestrator.performance.loadgen import Samples
from orchestrator.performance.options import BenchOptions, parse_concurrency
from orchestrator.performance.report import (
    CSV_COLUMNS,
    BenchReport,
    ServerStats,
    Window,
    level_result,
    report_csv,
    stable,
)

CONFIG = {
    "name": "m",
    "max_batch_size": 8,
    "input": [
        {"name": "x", "data_type": "TYPE_FP32", "dims": [1, 8, 8]},
        {"name": "ids", "data_type": "TYPE_INT64", "dims": [-1]},
    ],
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", (1,)), ("1,2,4", (1, 2, 4)), (" 8 , 32 ", (8, 32))],
    ids=["one", "three", "spaces"],
)
def test_parse_concurrency_reads_comma_separated_positive_integers(text, expected):
    assert parse_concurrency(text) == expected


@pytest.mark.parametrize("text", ["", "1,,2", "0", "-1", "2.5", "a,b"])
def test_parse_concurrency_rejects_what_is_not_a_positive_integer_list(text):
    with pytest.raises(ConfigError, match="is not a positive integer"):
        parse_concurrency(text)


def test_bench_options_need_enough_windows_for_stability():
    with pytest.raises(ConfigError, match="max_windows 2 must be at least 3"):
        BenchOptions("h:1", "m", max_windows=2)


def test_stable_means_every_value_within_the_percentage_of_the_mean():
    assert stable([100.0, 105.0, 95.0], 10.0)
    assert not stable([100.0, 125.0, 95.0], 10.0)
    assert stable([0.0, 0.0, 0.0], 10.0)


def test_random_inputs_have_the_config_dtype_and_a_batch_dimension():
    inputs, source = model_inputs(CONFIG, batch_size=4)
    assert source == "random"
    assert inputs["x"].shape == (4, 1, 8, 8) and inputs["x"].dtype == np.float32
    assert inputs["ids"].shape == (4, 1) and inputs["ids"].dtype == np.int64


def test_inputs_of_a_model_without_batching_have_no_batch_dimension():
    config = {**CONFIG, "max_batch_size": 0}
    inputs, _ = model_inputs(config, batch_size=1)
    assert inputs["x"].shape == (1, 8, 8)
    with pytest.raises(ConfigError, match="does not batch"):
        model_inputs(config, batch_size=2)


def test_batch_size_above_max_batch_size_is_refused():
    with pytest.raises(ConfigError, match="larger than model 'm'.s max_batch_size 8"):
        model_inputs(CONFIG, batch_size=9)


def test_golden_rows_are_repeated_to_fill_the_batch(tmp_path: Path):
    golden = tmp_path / "golden.npz"
    x = np.arange(3 * 64, dtype=np.float32).reshape(3, 1, 8, 8)
    ids = np.array([[1], [2], [3]], dtype=np.int64)
    arrays: dict[str, Any] = {"inputs/x": x, "inputs/ids": ids, "outputs/y": x}
    np.savez(golden, **arrays)
    inputs, source = model_inputs(CONFIG, batch_size=5, golden=golden)
    assert source == f"golden:{golden}"
    np.testing.assert_array_equal(inputs["x"], np.concatenate([x, x[:2]]))
    np.testing.assert_array_equal(inputs["ids"][:, 0], [1, 2, 3, 1, 2])


def test_golden_without_an_input_names_what_it_has(tmp_path: Path):
    golden = tmp_path / "golden.npz"
    np.savez(golden, **{"inputs/x": np.zeros((1, 1, 8, 8), np.float32)})
    with pytest.raises(ConfigError, match=r"no array 'inputs/ids' \(it has \['inputs/x'\]\)"):
        model_inputs(CONFIG, batch_size=1, golden=golden)


def test_find_golden_takes_the_highest_version_that_has_one(tmp_path: Path):
    for version in (1, 2, 10):
        (tmp_path / "m" / str(version)).mkdir(parents=True)
    (tmp_path / "m" / "1" / "golden.npz").write_bytes(b"")
    (tmp_path / "m" / "2" / "golden.npz").write_bytes(b"")
    assert find_golden(tmp_path, "m") == tmp_path / "m" / "2" / "golden.npz"
    assert find_golden(tmp_path, "other") is None


def test_server_stats_sum_versions_and_read_grpc_string_counts():
    def entry(count: int | str, ns: int | str) -> dict[str, Any]:
        timing = {"count": count, "ns": ns}
        return {
            "inference_count": count,
            "execution_count": count,
            "inference_stats": {
                "success": timing,
                "queue": timing,
                "compute_input": timing,
                "compute_infer": timing,
                "compute_output": timing,
            },
        }

    stats = ServerStats.from_json({"model_stats": [entry(10, 1000), entry("5", "500")]})
    assert stats == ServerStats(15, 15, 15, 1500, 4500)
    assert stats - ServerStats(5, 5, 5, 500, 1500) == ServerStats(10, 10, 10, 1000, 3000)


def _window(latencies_ms: list[float], duration_s: float, ok: bool = True) -> Window:
    latency_ns = np.array([int(ms * 1e6) for ms in latencies_ms], dtype=np.int64)
    samples = Samples(latency_ns, np.full(latency_ns.size, ok))
    return Window(samples, duration_s, 0.1, ServerStats(), ServerStats())


def testlevel_result_merges_the_last_three_windows_only():
    first = _window([100.0] * 10, 1.0)  # the warm-ish window that did not agree
    windows = [first, *(_window([float(i) for i in range(1, 101)], 1.0) for _ in range(3))]
    before = ServerStats(100, 50, 100, 0, 0)
    after = ServerStats(400, 100, 400, 300 * 2_000_000, 300 * 4_000_000)
    windows[1].stats_before, windows[3].stats_after = before, after
    level = level_result(8, 2, windows, True)
    assert level.requests == 300 and level.failures == 0
    assert level.requests_per_s == pytest.approx(100.0)
    assert level.throughput_per_s == pytest.approx(200.0)
    assert level.p50_ms == pytest.approx(50.5)
    assert level.p99_ms == pytest.approx(99.01)
    assert level.server_queue_ms == pytest.approx(2.0)
    assert level.server_compute_ms == pytest.approx(4.0)
    assert level.server_avg_batch == pytest.approx(6.0)
    assert level.windows == 4 and level.stable


def test_failed_requests_count_as_failures_not_as_throughput():
    windows = [_window([1.0] * 8, 1.0), _window([1.0] * 8, 1.0), _window([1.0] * 4, 1.0, ok=False)]
    level = level_result(1, 1, windows, False)
    assert level.failures == 4
    assert level.requests_per_s == pytest.approx(16 / 3)


def test_report_csv_has_one_row_per_level_in_column_order():
    windows = [_window([1.0, 2.0], 1.0)] * 3
    levels = (level_result(1, 1, windows, True), level_result(4, 1, windows, True))
    report = BenchReport("m", "h:1", "http", "orchestrator", 1, 1.0, "random", levels)
    lines = report_csv(report).splitlines()
    assert lines[0].split(",") == list(CSV_COLUMNS)
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "4"]
    assert report.best() is not None and report.best(latency_budget_ms=0.5) is None


def test_response_parser_splits_pipelined_and_fragmented_responses():
    one = b"HTTP/1.1 200 OK\r\nContent-Type: x\r\nInference-Header-Content-Length: 2\r\n"
    one += b"Content-Length: 5\r\n\r\n{}abc"
    two = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 3\r\n\r\nbad"
    parser = HttpResponseParser()
    stream = one + two
    responses = [r for i in range(0, len(stream), 7) for r in parser.feed(stream[i : i + 7])]
    assert [(r.status, r.body, r.header_length) for r in responses] == [
        (200, b"{}abc", 2),
        (400, b"bad", None),
    ]
    with pytest.raises(ValueError, match="chunked"):
        HttpResponseParser().feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")


def test_the_closed_loop_parser_keeps_only_the_bodies_of_failed_answers():
    stream = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    stream += b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"
    responses = HttpResponseParser(keep_ok_body=False).feed(stream)
    assert [(r.status, r.body) for r in responses] == [(200, b""), (500, b"oops")]
