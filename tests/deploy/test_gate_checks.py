"""The gate's checks from measurements: a stopped load, baselines, missing counters.

The measurements are built here as bench and Triton would report them; the same checks
against a real Triton are in tests/integration/test_gate.py.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.client.metrics import ModelCounters
from orchestrator.deploy.gate_baseline import Baseline, find_baseline
from orchestrator.deploy.gate_checks import (
    GateCheck,
    confirm_throughput,
    level_checks,
    metric_checks,
)
from orchestrator.deploy.gate_config import ModelBudget
from orchestrator.performance.report import BenchReport, LevelResult
from orchestrator.releases.gate_records import write_gate_record
from orchestrator.releases.stores import open_store


def _level(concurrency: int, *, p99_ms: float = 5.0, failures: int = 0) -> LevelResult:
    return LevelResult(
        concurrency=concurrency,
        batch_size=1,
        requests=1000,
        failures=failures,
        duration_s=1.0,
        p50_ms=1.0,
        p90_ms=2.0,
        p95_ms=3.0,
        p99_ms=p99_ms,
        avg_ms=1.5,
        server_queue_ms=0.1,
        server_compute_ms=0.5,
        server_avg_batch=1.0,
        windows=3,
        stable=True,
        client_cpu_fraction=0.2,
    )


def _report(*levels: LevelResult, error: str = "") -> BenchReport:
    return BenchReport("m", "127.0.0.1:1", "http", "orchestrator", 1, 1.0, "golden", levels, error)


def test_a_load_that_stopped_early_fails_with_its_error_and_keeps_the_levels_measured() -> None:
    report = _report(_level(1), error="Stopped at concurrency 4: Triton stopped answering")

    checks = level_checks("m", report, ModelBudget(), None, "the first release")

    assert [(c.name, c.concurrency, c.passed) for c in checks] == [
        ("load", None, False),
        ("server latency", 1, True),
        ("p99 latency", 1, True),
        ("throughput", 1, True),
        ("failed requests", 1, True),
    ]
    assert checks[0].detail == "Stopped at concurrency 4: Triton stopped answering"
    assert checks[3].detail == "infer/s; no baseline: the first release"


def test_failed_requests_over_the_budget_fail_and_name_the_first_failure() -> None:
    report = _report(_level(1, failures=2))
    report = BenchReport(**{**report.__dict__, "first_failure": "HTTP 503: queue full"})

    checks = level_checks("m", report, ModelBudget(max_failures=1), None, "none")

    failed = next(c for c in checks if c.name == "failed requests")
    assert (failed.passed, failed.measured, failed.budget) == (False, 2.0, 1.0)
    assert failed.detail == "of 1000 requests; first: HTTP 503: queue full"


def test_with_one_baseline_run_the_baseline_is_the_newest_passing_measured_record(
    tmp_path: Path,
) -> None:
    store = open_store((tmp_path / "store").as_uri())
    older = {
        "passed": True,
        "bench": {"m": {"levels": [{"concurrency": 1, "throughput_per_s": 5}]}},
    }
    write_gate_record(store, "r0", "staging", older)
    newest_measured = {
        "passed": True,
        "bench": {
            "m": {
                "levels": [
                    {"concurrency": 1, "throughput_per_s": 2000.0},
                    {"concurrency": 4, "throughput_per_s": "fast"},  # not a number: ignored
                    "garbage",
                ]
            }
        },
    }
    key = write_gate_record(store, "r0", "staging", newest_measured).key
    write_gate_record(store, "r0", "staging", {"passed": False, "bench": {}})
    write_gate_record(store, "r0", "staging", {"passed": True, "forced": True})

    baseline = find_baseline(store, "r0", "staging", runs={"m": 1})

    assert baseline is not None
    assert (baseline.release_id, baseline.record_key) == ("r0", key)
    assert baseline.throughput == {"m": {1: 2000.0}}
    assert find_baseline(store, "r1", "staging") is None
    assert find_baseline(store, None, "staging") is None

    checks = level_checks("m", _report(_level(1), _level(4)), ModelBudget(), baseline, "none")
    throughput = [c for c in checks if c.name == "throughput"]
    assert [(c.concurrency, c.passed, c.budget) for c in throughput] == [
        (1, False, 1600.0),
        (4, True, None),
    ]
    assert throughput[1].detail == (
        f"infer/s; no baseline: release r0 was not measured at concurrency 4 ({key})"
    )


def test_counters_missing_for_a_version_fail_and_an_unused_version_has_no_queue_time() -> None:
    before = {("m", "1"): ModelCounters(success=10, queue_duration_us=100)}
    after = {
        ("m", "1"): ModelCounters(success=110, queue_duration_us=600, failure=0),
        ("m", "2"): ModelCounters(),
    }
    budgets = {"m": ModelBudget(max_queue_us=4.0)}

    checks, deltas = metric_checks([("m", "1"), ("m", "2"), ("m", "3")], before, after, budgets)

    assert [(c.name, c.version, c.passed, c.measured) for c in checks] == [
        ("failure counter", "1", True, 0.0),
        ("queue time", "1", False, 5.0),
        ("failure counter", "2", True, 0.0),
        ("queue time", "2", True, None),
        ("metrics", "3", False, None),
    ]
    assert deltas["m/1"].success == 100.0
    assert set(deltas) == {"m/1", "m/2"}


def _slow_level(concurrency: int, requests: int, failures: int = 0) -> LevelResult:
    """A level as bench reports it when (almost) no request completed inside its windows."""
    return LevelResult(
        **{
            **_level(concurrency).__dict__,
            "requests": requests,
            "failures": failures,
            "p50_ms": 0.0,
            "p90_ms": 0.0,
            "p95_ms": 0.0,
            "p99_ms": 0.0,
            "avg_ms": 0.0,
        }
    )


def test_a_level_with_fewer_completed_requests_than_the_minimum_measured_nothing() -> None:
    report = _report(_slow_level(1, 0), _slow_level(4, 12, failures=3), _level(8))

    checks = level_checks("m", report, ModelBudget(max_failures=5), None, "none")

    assert [(c.name, c.concurrency, c.passed) for c in checks] == [
        ("measured requests", 1, False),
        ("failed requests", 1, True),
        ("measured requests", 4, False),
        ("failed requests", 4, True),
        ("server latency", 8, True),
        ("p99 latency", 8, True),
        ("throughput", 8, True),
        ("failed requests", 8, True),
    ]
    assert (checks[0].measured, checks[0].budget) == (0.0, 10.0)
    assert checks[0].detail.startswith(
        "nothing measured: 0 request(s) completed in 1.0 s, fewer than min_requests 10"
    )
    assert checks[2].measured == 9.0  # 12 sent, 3 failed


def test_a_report_without_levels_or_error_measured_nothing() -> None:
    checks = level_checks("m", _report(), ModelBudget(), None, "none")

    assert [(c.name, c.passed, c.detail) for c in checks] == [
        ("measured requests", False, "nothing measured: no level")
    ]


def test_an_empty_measurement_is_never_a_baseline(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())
    measured = {
        "passed": True,
        "bench": {
            "m": {
                "levels": [
                    {"concurrency": 1, "throughput_per_s": 900.0, "requests": 2700, "failures": 0}
                ]
            }
        },
    }
    key = write_gate_record(store, "r0", "staging", measured).key
    # Newer passing records of old gates that passed on nothing measured.
    zero = {"concurrency": 1, "throughput_per_s": 0.0, "requests": 0, "failures": 0}
    write_gate_record(store, "r0", "staging", {"passed": True, "bench": {"m": {"levels": [zero]}}})
    few = {"concurrency": 1, "throughput_per_s": 3.0, "requests": 4, "failures": 0}
    budgets = {"budgets": {"m": {"min_requests": 5}}}
    write_gate_record(
        store,
        "r0",
        "staging",
        {"passed": True, "gates": budgets, "bench": {"m": {"levels": [few]}}},
    )

    baseline = find_baseline(store, "r0", "staging")

    assert baseline is not None
    assert (baseline.record_key, baseline.throughput) == (key, {"m": {1: 900.0}})


def test_a_failed_throughput_is_judged_again_on_a_second_measurement() -> None:
    baseline = Baseline("r0", "gates/r0/staging/k.json", {"m": {1: 1250.0, 4: 1250.0}})
    # duration 1 s, batch size 1: the throughput is the completed requests; budget 1000.
    first = _report(
        LevelResult(**{**_level(1).__dict__, "requests": 900}),
        LevelResult(**{**_level(4).__dict__, "requests": 800}),
    )
    checks = level_checks("m", first, ModelBudget(), baseline, "none")
    assert [c.passed for c in checks if c.name == "throughput"] == [False, False]
    second = _report(
        LevelResult(**{**_level(1).__dict__, "requests": 1100}),
        LevelResult(**{**_level(4).__dict__, "requests": 700}),
    )

    confirmed = confirm_throughput(checks, [second], ModelBudget())

    throughput = [c for c in confirmed if c.name == "throughput"]
    assert [(c.concurrency, c.passed, c.measured) for c in throughput] == [
        (1, True, 1100.0),
        (4, False, 800.0),
    ]
    assert throughput[0].detail.endswith("; a later measurement passed: 900.0 then 1100.0 infer/s")
    assert throughput[1].detail.endswith(
        "; confirmed by a second measurement: 800.0 then 700.0 infer/s, both below 1000.0"
    )
    # The other checks are untouched.
    assert [c for c in confirmed if c.name != "throughput"] == [
        c for c in checks if c.name != "throughput"
    ]


def test_a_throughput_fail_without_a_usable_second_measurement_stands_and_says_why() -> None:
    baseline = Baseline("r0", "k", {"m": {1: 5000.0}})
    checks = level_checks("m", _report(_level(1)), ModelBudget(), baseline, "none")

    confirmed = confirm_throughput(checks, [], ModelBudget(), "could not run: gone")

    throughput = next(c for c in confirmed if c.name == "throughput")
    assert not throughput.passed
    assert throughput.detail.endswith("; a second measurement was tried: could not run: gone")


def test_the_latency_verdict_is_triton_s_own_time_and_the_client_p99_is_judged_only_if_set() -> (
    None
):
    # A slow round trip (p99 900 ms at the client) over a fast server (0.6 ms inside).
    report = _report(_level(1, p99_ms=900.0))

    default = level_checks("m", report, ModelBudget(max_server_ms=1.0), None, "none")
    strict = level_checks("m", report, ModelBudget(max_server_ms=0.5, p99_ms=250.0), None, "")

    server, p99 = default[0], default[1]
    assert (server.name, server.passed, server.measured, server.budget) == (
        "server latency",
        True,
        0.6,
        1.0,
    )
    assert server.detail.startswith("ms per request inside Triton (queue 0.10 + compute 0.50")
    assert (p99.name, p99.passed, p99.measured, p99.budget) == ("p99 latency", True, 900.0, None)
    assert p99.detail.endswith("round trip included: reported, not judged (p99_ms unset)")
    assert [(c.name, c.passed) for c in strict[:2]] == [
        ("server latency", False),
        ("p99 latency", False),
    ]


def test_live_traffic_queue_time_is_judged_against_the_replaced_release(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())
    body = {
        "passed": True,
        "bench": {"m": {"levels": [{"concurrency": 1, "throughput_per_s": 900.0}]}},
        # What the replaced release's gate saw: 30 ms of queue per request (a busy pod).
        "metrics": {
            "m/3": {"success": 500, "queue_us_per_request": 30_000.0},
            "m/2": {"success": 0, "queue_us_per_request": None},
        },
    }
    write_gate_record(store, "r0", "staging", body)
    baseline = find_baseline(store, "r0", "staging")
    assert baseline is not None and baseline.queue_us == {"m": 30_000.0}
    before = {("m", "4"): ModelCounters()}

    def queue_check(queue_us: float, base: Baseline | None, ratio: float = 1.5) -> GateCheck:
        after = {("m", "4"): ModelCounters(success=100, queue_duration_us=100 * queue_us)}
        budgets = {"m": ModelBudget(max_queue_us=20_000.0, max_queue_ratio=ratio)}
        checks, _ = metric_checks([("m", "4")], before, after, budgets, base)
        return checks[1]

    shared = queue_check(35_000.0, baseline)
    assert (shared.name, shared.passed, shared.budget) == ("queue time", True, 45_000.0)
    assert shared.detail.endswith("; 1.5 x 30000.0 seen by release r0 (above max_queue_us 20000)")
    assert not queue_check(50_000.0, baseline).passed
    # Without the replaced release's figure, or with the ratio off: the absolute budget.
    assert (queue_check(35_000.0, None).passed, queue_check(35_000.0, None).budget) == (
        False,
        20_000.0,
    )
    assert not queue_check(35_000.0, baseline, ratio=0).passed
