"""Measure a served model the way perf_analyzer does: closed-loop load per concurrency.

For every concurrency level: a warm-up that is thrown away, then measurement windows
until three consecutive ones agree within ``stability_pct`` on throughput and average
latency (perf_analyzer's rule), or ``max_windows`` is reached (the level is then marked
unstable). The level's result merges those last three windows: throughput, latency
percentiles, failures, and the server's own queue and compute time per request from
Triton's statistics over the same span. ``perf_analyzer`` runs instead when it is on
``PATH`` (see ``orchestrator.perf_analyzer``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import Protocol
from orchestrator.errors import ConfigError, OrchestratorError, ServerError
from orchestrator.loadgen import LoadGenerator, Samples, ServerGone
from orchestrator.repository import version_numbers

__all__ = [
    "BenchOptions",
    "BenchReport",
    "Engine",
    "LevelResult",
    "ServerStats",
    "bench",
    "find_golden",
    "model_inputs",
    "parse_concurrency",
    "report_csv",
    "stable",
]

logger = logging.getLogger(__name__)

Engine = Literal["auto", "orchestrator", "perf_analyzer"]
STABLE_WINDOWS = 3
GOLDEN_FILENAME = "golden.npz"

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "TYPE_BOOL": np.bool_,
    "TYPE_UINT8": np.uint8,
    "TYPE_UINT16": np.uint16,
    "TYPE_UINT32": np.uint32,
    "TYPE_UINT64": np.uint64,
    "TYPE_INT8": np.int8,
    "TYPE_INT16": np.int16,
    "TYPE_INT32": np.int32,
    "TYPE_INT64": np.int64,
    "TYPE_FP16": np.float16,
    "TYPE_FP32": np.float32,
    "TYPE_FP64": np.float64,
    "TYPE_STRING": np.object_,
}


def parse_concurrency(text: str) -> tuple[int, ...]:
    """Parse a concurrency list such as ``1,2,4,8``.

    Raises:
        ConfigError: an item is not a positive integer.

    Example:
        >>> parse_concurrency("1, 4,16")
        (1, 4, 16)
    """
    levels = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise ConfigError(
                f"Concurrency {item!r} in {text!r} is not a positive integer. "
                "Expected a comma-separated list such as 1,2,4,8."
            )
        levels.append(int(item))
    return tuple(levels)


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how long.

    Attributes:
        url: the endpoint (HTTP or gRPC ``host:port``, matching ``protocol``).
        model: the served model.
        protocol: "http" or "grpc".
        concurrency: the levels, in the order they run.
        batch_size: rows per request (1 for models without batching).
        window_s: the length of one measurement window.
        warmup_s: load before the first window of every level, not measured.
        max_windows: give up waiting for stability after this many windows.
        stability_pct: how far three consecutive windows may differ.
        golden: an ``.npz`` with ``inputs/<tensor>`` arrays; random inputs when None.
        request_timeout_s: the deadline of one request.
    """

    url: str
    model: str
    protocol: Protocol = "http"
    concurrency: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    batch_size: int = 1
    window_s: float = 5.0
    warmup_s: float = 1.0
    max_windows: int = 10
    stability_pct: float = 10.0
    golden: Path | None = None
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise ConfigError(f"Concurrency levels {self.concurrency} must be positive integers.")
        if self.batch_size < 1:
            raise ConfigError(f"Batch size {self.batch_size} must be at least 1.")
        if self.window_s <= 0 or self.warmup_s < 0 or self.request_timeout_s <= 0:
            raise ConfigError(
                f"window_s ({self.window_s}) and request_timeout_s must be positive and "
                f"warmup_s ({self.warmup_s}) not negative."
            )
        if self.max_windows < STABLE_WINDOWS:
            raise ConfigError(
                f"max_windows {self.max_windows} must be at least {STABLE_WINDOWS}: stability "
                f"needs {STABLE_WINDOWS} windows that agree."
            )


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


# -- inputs ----------------------------------------------------------------------------


def find_golden(repository: Path, model: str) -> Path | None:
    """``<repository>/<model>/<highest version>/golden.npz`` when it exists.

    Example:
        >>> find_golden(Path("model_repository"), "digits_cnn")  # doctest: +SKIP
        PosixPath('model_repository/digits_cnn/3/golden.npz')
    """
    model_dir = repository / model
    if not model_dir.is_dir():
        return None
    for version in sorted(version_numbers(model_dir), reverse=True):
        candidate = model_dir / str(version) / GOLDEN_FILENAME
        if candidate.is_file():
            return candidate
    return None


def model_inputs(
    config: dict[str, Any], batch_size: int, golden: Path | None = None, seed: int = 0
) -> tuple[dict[str, NDArray[Any]], str]:
    """One request's inputs: rows of ``golden`` (repeated as needed), else random ones.

    Args:
        config: the model config as Triton reports it (JSON form).
        batch_size: rows per request; must be 1 for a model without batching.
        golden: an ``.npz`` with ``inputs/<tensor>`` arrays.
        seed: the random generator's seed for the fallback.

    Returns:
        The inputs by name and where they came from ("golden:<path>" or "random").

    Raises:
        ConfigError: the batch size does not fit the model, or the golden file does not
            hold every input.
    """
    name = config.get("name", "?")
    max_batch_size = int(config.get("max_batch_size", 0))
    if max_batch_size == 0 and batch_size != 1:
        raise ConfigError(
            f"Model {name!r} does not batch (max_batch_size 0), so --batch-size must be 1, "
            f"not {batch_size}."
        )
    if max_batch_size and batch_size > max_batch_size:
        raise ConfigError(
            f"Batch size {batch_size} is larger than model {name!r}'s max_batch_size "
            f"{max_batch_size}. Pick a batch size up to {max_batch_size}."
        )
    if golden is not None:
        return _golden_inputs(config, batch_size, golden), f"golden:{golden}"
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in config.get("input", []):
        dims = [1 if int(d) < 0 else int(d) for d in spec.get("dims", [])]
        shape = [batch_size, *dims] if max_batch_size else dims
        inputs[str(spec["name"])] = _random_array(rng, str(spec.get("data_type")), shape)
    return inputs, "random"


def _golden_inputs(config: dict[str, Any], batch_size: int, golden: Path) -> dict[str, Any]:
    try:
        with np.load(golden, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"Cannot read golden inputs {golden}: {exc}. Expected an .npz with "
            "inputs/<tensor> arrays, as `python -m training` writes it."
        ) from exc
    batching = int(config.get("max_batch_size", 0)) > 0
    inputs = {}
    for spec in config.get("input", []):
        key = f"inputs/{spec['name']}"
        if key not in arrays:
            raise ConfigError(
                f"{golden} has no array {key!r} (it has {sorted(arrays)}). Expected one "
                "inputs/<tensor> array per model input; omit --golden for random inputs."
            )
        array = arrays[key]
        if batching:
            repeats = -(-batch_size // max(1, array.shape[0]))
            array = np.concatenate([array] * repeats)[:batch_size]
        inputs[str(spec["name"])] = np.ascontiguousarray(array)
    return inputs


def _random_array(rng: np.random.Generator, data_type: str, shape: list[int]) -> NDArray[Any]:
    dtype = _NUMPY_TYPES.get(data_type)
    if dtype is None:
        raise ConfigError(f"Cannot make random inputs of type {data_type}; pass --golden.")
    if dtype is np.object_:
        return np.full(shape, b"x", dtype=np.object_)
    if dtype is np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 8, size=shape).astype(dtype)
    return rng.random(size=shape).astype(dtype)


# -- windows and stability ----------------------------------------------------------------


@dataclass
class _Window:
    samples: Samples
    duration_s: float
    cpu_s: float
    stats_before: ServerStats
    stats_after: ServerStats

    @property
    def throughput(self) -> float:
        return self.samples.succeeded / self.duration_s

    @property
    def avg_latency_ns(self) -> float:
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


def _windows_stable(windows: Sequence[_Window], stability_pct: float) -> bool:
    if len(windows) < STABLE_WINDOWS:
        return False
    last = windows[-STABLE_WINDOWS:]
    return stable([w.throughput for w in last], stability_pct) and stable(
        [w.avg_latency_ns for w in last], stability_pct
    )


def _level_result(
    concurrency: int, batch_size: int, windows: Sequence[_Window], is_stable: bool
) -> LevelResult:
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


# -- the run -------------------------------------------------------------------------------


def bench(
    options: BenchOptions,
    on_level: Callable[[LevelResult], None] | None = None,
    *,
    engine: Engine = "auto",
) -> BenchReport:
    """Measure ``options.model`` at every concurrency level.

    A server that dies mid-run (or Ctrl-C) ends the run: the report keeps the levels
    finished so far and says what happened in ``error`` (it is not raised).

    Args:
        options: what to measure.
        on_level: called with each level as soon as it is measured.
        engine: "auto" runs perf_analyzer when it is on PATH and the built-in generator
            otherwise; "orchestrator" and "perf_analyzer" force one.

    Raises:
        ServerError: the server cannot be reached or does not serve the model at all,
            or perf_analyzer was asked for and is not on PATH.
        ConfigError: the inputs do not fit the model.

    Example:
        >>> report = bench(BenchOptions("127.0.0.1:8000", "digits_cnn"))  # doctest: +SKIP
        >>> report.best().throughput_per_s  # doctest: +SKIP
        2140.5
    """
    config = _served_config(options)
    inputs, source = model_inputs(config, options.batch_size, options.golden)
    # One request first: a model that cannot answer fails here with Triton's reason.
    try:
        client.infer(options.url, options.model, inputs, protocol=options.protocol)
    except ServerError as exc:
        raise ServerError(
            f"Model {options.model!r} at {options.url} failed a first request with inputs "
            f"from {source}: {exc}"
        ) from exc
    if engine != "orchestrator":
        from orchestrator import perf_analyzer  # imports this module: import it late

        binary = perf_analyzer.find_perf_analyzer()
        if binary is None and engine == "perf_analyzer":
            raise ServerError(
                "perf_analyzer is not on PATH. Install Triton's client SDK (it ships in the "
                "tritonserver:<release>-py3-sdk container), or use --engine orchestrator."
            )
        if binary is not None:
            batching = int(config.get("max_batch_size", 0)) > 0
            return perf_analyzer.run(binary, options, inputs, source, batching)
    report = BenchReport(
        model=options.model,
        url=options.url,
        protocol=options.protocol,
        engine="orchestrator",
        batch_size=options.batch_size,
        window_s=options.window_s,
        inputs=source,
    )
    generator = LoadGenerator(
        options.url,
        options.model,
        inputs,
        protocol=options.protocol,
        request_timeout_s=options.request_timeout_s,
    )
    levels: list[LevelResult] = []
    for concurrency in options.concurrency:
        try:
            level = asyncio.run(_measure_level(generator, options, concurrency))
        except (ServerGone, ServerError) as exc:
            logger.warning("Run stopped at concurrency %d: %s", concurrency, exc)
            return replace(
                report,
                levels=tuple(levels),
                error=f"Stopped at concurrency {concurrency}: {exc}",
                first_failure=generator.first_error,
            )
        except KeyboardInterrupt:
            return replace(
                report,
                levels=tuple(levels),
                error=f"Interrupted at concurrency {concurrency}; the levels before it are kept.",
                first_failure=generator.first_error,
            )
        levels.append(level)
        logger.info(
            "concurrency %d: %.1f infer/s, p99 %.2f ms%s",
            concurrency,
            level.throughput_per_s,
            level.p99_ms,
            "" if level.stable else " (not stable)",
        )
        if on_level is not None:
            on_level(level)
    return replace(report, levels=tuple(levels), first_failure=generator.first_error)


def _served_config(options: BenchOptions) -> dict[str, Any]:
    try:
        return client.model_config(options.url, options.model, protocol=options.protocol)
    except ServerError as exc:
        raise ServerError(
            f"Model {options.model!r} is not served at {options.url} ({options.protocol}): "
            f"{exc}. Check the model name and that `orchestrator serve` loaded it "
            f"(its table lists the READY models), and that the URL is the "
            f"{options.protocol.upper()} endpoint."
        ) from exc


async def _server_stats(options: BenchOptions) -> ServerStats:
    loop = asyncio.get_running_loop()
    try:
        stats = await loop.run_in_executor(
            None,
            lambda: client.inference_statistics(
                options.url, options.model, protocol=options.protocol
            ),
        )
    except OrchestratorError as exc:
        raise ServerGone(f"Triton at {options.url} stopped answering: {exc}") from exc
    return ServerStats.from_json(stats)


async def _measure_level(
    generator: LoadGenerator, options: BenchOptions, concurrency: int
) -> LevelResult:
    windows: list[_Window] = []

    async def controller(gen: LoadGenerator) -> None:
        await asyncio.sleep(options.warmup_s)
        gen.take_samples()
        before = await _server_stats(options)
        started, cpu = time.perf_counter(), time.process_time()
        while len(windows) < options.max_windows:
            await asyncio.sleep(options.window_s)
            samples = gen.take_samples()
            ended, cpu_now = time.perf_counter(), time.process_time()
            after = await _server_stats(options)
            if gen.gone:
                return
            windows.append(_Window(samples, ended - started, cpu_now - cpu, before, after))
            if _windows_stable(windows, options.stability_pct):
                return
            # The statistics call is outside the window: start the next one after it.
            gen.take_samples()
            before, started, cpu = after, time.perf_counter(), time.process_time()

    await generator.run(concurrency, controller)
    if len(windows) < 1:
        raise ServerGone(generator.gone or f"no measurement window finished at {concurrency}")
    is_stable = _windows_stable(windows, options.stability_pct)
    return _level_result(concurrency, options.batch_size, windows, is_stable)
