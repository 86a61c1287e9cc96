"""What a bench run measured: server statistics, windows, levels, the report, CSV.

A level merges its last ``STABLE_WINDOWS`` measurement windows: client throughput and
latency percentiles from the samples, the server's queue and compute time per request
and its average batch from the difference of Triton's cumulative statistics.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.performance.loadgen import Samples

__all__ = [
    "CSV_COLUMNS",
    "STABLE_WINDOWS",
    "BenchReport",
    "LevelResult",
    "ServerStats",
    "Window",
    "level_result",
    "report_csv",
    "stable",
    "windows_stable",
]

STABLE_WINDOWS = 3


@dataclass(frozen=True)
class ServerStats:
    """Triton's cumulative statistics for one model (summed over its versions)."""

    inference_count: int = 0
    execution_count: int = 0
    success_count: int = 0
    queue_ns: int = 0
    compute_ns: int = 0

    @staticmethod
    def from_json(stats: dict[str, Any]) -> ServerStats:
        """Sum ``model_stats`` entries of Triton's statistics answer (HTTP or gRPC JSON)."""
        total = ServerStats()
        for entry in stats.get("model_stats", []):
            inference = entry.get("inference_stats", {})

            def ns(key: str, inference: dict[str, Any] = inference) -> int:
                return int(inference.get(key, {}).get("ns", 0))

            total = ServerStats(
                inference_count=total.inference_count + int(entry.get("inference_count", 0)),
                execution_count=total.execution_count + int(entry.get("execution_count", 0)),
                success_count=total.success_count
                + int(inference.get("success", {}).get("count", 0)),
                queue_ns=total.queue_ns + ns("queue"),
                compute_ns=total.compute_ns
                + ns("compute_input")
                + ns("compute_infer")
                + ns("compute_output"),
            )
        return total

    def __sub__(self, other: ServerStats) -> ServerStats:
        return ServerStats(
            self.inference_count - other.inference_count,
            self.execution_count - other.execution_count,
            self.success_count - other.success_count,
            self.queue_ns - other.queue_ns,
            self.compute_ns - other.compute_ns,
        )


@dataclass(frozen=True)
class LevelResult:
    """The measurement of one concurrency level (latencies in milliseconds)."""

    concurrency: int
    batch_size: int
    requests: int
    failures: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    server_queue_ms: float
    server_compute_ms: float
    server_avg_batch: float
    windows: int
    stable: bool
    client_cpu_fraction: float

    @property
    def requests_per_s(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.failures) / self.duration_s if self.duration_s else 0.0

    @property
    def throughput_per_s(self) -> float:
        """Successful inferences (rows) per second: what perf_analyzer calls infer/sec."""
        return self.requests_per_s * self.batch_size

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field plus the derived throughput."""
        data: dict[str, Any] = {
            "concurrency": self.concurrency,
            "throughput_per_s": round(self.throughput_per_s, 2),
            "requests_per_s": round(self.requests_per_s, 2),
        }
        for key, value in self.__dict__.items():
            if key not in data:
                data[key] = round(value, 4) if isinstance(value, float) else value
        return data


@dataclass(frozen=True)
class BenchReport:
    """A whole run: the levels measured so far, and why it stopped early (if it did)."""

    model: str
    url: str
    protocol: str
    engine: str
    batch_size: int
    window_s: float
    inputs: str
    levels: tuple[LevelResult, ...] = ()
    error: str = ""
    first_failure: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "model": self.model,
            "url": self.url,
            "protocol": self.protocol,
            "engine": self.engine,
            "batch_size": self.batch_size,
            "window_s": self.window_s,
            "inputs": self.inputs,
            "levels": [level.as_dict() for level in self.levels],
            "error": self.error,
            "first_failure": self.first_failure,
        }

    def best(self, latency_budget_ms: float | None = None) -> LevelResult | None:
        """The level with the highest throughput (whose p99 fits the budget, when given)."""
        fits = [
            level
            for level in self.levels
            if latency_budget_ms is None or level.p99_ms <= latency_budget_ms
        ]
        return max(fits, key=lambda level: level.throughput_per_s, default=None)


CSV_COLUMNS = (
    "concurrency",
    "throughput_per_s",
    "requests_per_s",
    "p50_ms",
    "p90_ms",
    "p95_ms",
    "p99_ms",
    "avg_ms",
    "failures",
    "server_queue_ms",
    "server_compute_ms",
    "server_avg_batch",
    "stable",
    "client_cpu_fraction",
)


def report_csv(report: BenchReport) -> str:
    """The levels as CSV, one row per concurrency (``CSV_COLUMNS``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for level in report.levels:
        data = level.as_dict()
        writer.writerow([data[column] for column in CSV_COLUMNS])
    return buffer.getvalue()


@dataclass
class Window:
    """One measurement window: its samples, length, client CPU and server statistics."""

    samples: Samples
    duration_s: float
    cpu_s: float
    stats_before: ServerStats
    stats_after: ServerStats

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.samples.succeeded / self.duration_s

    @property
    def avg_latency_ns(self) -> float:
        """Mean latency of the successful requests."""
        ok = self.samples.latency_ns[self.samples.ok]
        return float(ok.mean()) if ok.size else 0.0


def stable(values: Sequence[float], stability_pct: float) -> bool:
    """Whether every value lies within ``stability_pct`` percent of their mean.

    Example:
        >>> stable([100, 104, 97], 10.0), stable([100, 130, 97], 10.0)
        (True, False)
    """
    mean = float(np.mean(values))
    if mean == 0:
        return all(v == 0 for v in values)
    return all(abs(v - mean) / mean * 100 <= stability_pct for v in values)


def windows_stable(windows: Sequence[Window], stability_pct: float) -> bool:
    """Whether the last three windows agree on throughput and average latency."""
    if len(windows) < STABLE_WINDOWS:
        return False
    last = windows[-STABLE_WINDOWS:]
    return stable([w.throughput for w in last], stability_pct) and stable(
        [w.avg_latency_ns for w in last], stability_pct
    )


def level_result(
    concurrency: int, batch_size: int, windows: Sequence[Window], is_stable: bool
) -> LevelResult:
    """Merge the last three windows into one level (all of them when fewer)."""
    last = windows[-STABLE_WINDOWS:]
    samples = Samples.concat([w.samples for w in last])
    latencies_ms = samples.latency_ns[samples.ok].astype(np.float64) / 1e6
    failures = samples.count - samples.succeeded
    duration_s = sum(w.duration_s for w in last)
    server = last[-1].stats_after - last[0].stats_before

    def pct(q: float) -> float:
        return float(np.percentile(latencies_ms, q)) if latencies_ms.size else 0.0

    per_request = max(1, server.success_count)
    return LevelResult(
        concurrency=concurrency,
        batch_size=batch_size,
        requests=samples.count,
        failures=failures,
        duration_s=duration_s,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p95_ms=pct(95),
        p99_ms=pct(99),
        avg_ms=float(latencies_ms.mean()) if latencies_ms.size else 0.0,
        server_queue_ms=server.queue_ns / per_request / 1e6,
        server_compute_ms=server.compute_ns / per_request / 1e6,
        server_avg_batch=server.inference_count / max(1, server.execution_count),
        windows=len(windows),
        stable=is_stable,
        client_cpu_fraction=sum(w.cpu_s for w in last) / duration_s if duration_s else 0.0,
    )
