"""Measure a served model the way perf_analyzer does: closed-loop load per concurrency.

For every concurrency level: a warm-up that is thrown away, then measurement windows
until three consecutive ones agree within ``stability_pct`` on throughput and average
latency (perf_analyzer's rule), or ``max_windows`` is reached (the level is then marked
unstable). The level's result merges those last three windows: throughput, latency
percentiles, failures, and the server's own queue and compute time per request from
Triton's statistics over the same span. ``perf_analyzer`` runs instead when it is on
``PATH`` (see ``perf_analyzer``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from orchestrator import client
from orchestrator.errors import OrchestratorError, ServerError, ServerGone
from orchestrator.performance import perf_analyzer
from orchestrator.performance.inputs import model_inputs
from orchestrator.performance.loadgen import LoadGenerator
from orchestrator.performance.options import BenchOptions, Engine
from orchestrator.performance.report import (
    BenchReport,
    LevelResult,
    ServerStats,
    Window,
    level_result,
    windows_stable,
)

# The names a bench caller needs besides ``bench`` itself (the CLI and the benchmark
# scripts) are re-exported; they are defined in ``options``, ``inputs`` and ``report``.
__all__ = ["bench"]

logger = logging.getLogger(__name__)


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
        client.infer(
            options.url,
            options.model,
            inputs,
            protocol=options.protocol,
            timeout_s=options.request_timeout_s,
        )
    except ServerError as exc:
        raise ServerError(
            f"Model {options.model!r} at {options.url} failed a first request with inputs "
            f"from {source}: {exc}"
        ) from exc
    if engine != "orchestrator":
        binary = perf_analyzer.find_perf_analyzer()
        if binary is None and engine == "perf_analyzer":
            raise ServerError(
                "perf_analyzer is not on PATH. Install Triton's client SDK (it ships in the "
                "tritonserver:<release>-py3-sdk container), or use --engine orchestrator."
            )
        if binary is not None:
            batching = int(config.get("max_batch_size", 0)) > 0
            return perf_analyzer.run(binary, options, inputs, source, batching, on_level)
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
        return client.model_config(
            options.url,
            options.model,
            protocol=options.protocol,
            timeout_s=options.request_timeout_s,
        )
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
                options.url,
                options.model,
                protocol=options.protocol,
                timeout_s=options.request_timeout_s,
            ),
        )
    except OrchestratorError as exc:
        raise ServerGone(f"Triton at {options.url} stopped answering: {exc}") from exc
    return ServerStats.from_json(stats)


async def _measure_level(
    generator: LoadGenerator, options: BenchOptions, concurrency: int
) -> LevelResult:
    windows: list[Window] = []

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
            windows.append(Window(samples, ended - started, cpu_now - cpu, before, after))
            if windows_stable(windows, options.stability_pct):
                return
            # The statistics call is outside the window: start the next one after it.
            gen.take_samples()
            before, started, cpu = after, time.perf_counter(), time.process_time()

    await generator.run(concurrency, controller)
    if len(windows) < 1:
        raise ServerGone(generator.gone or f"no measurement window finished at {concurrency}")
    is_stable = windows_stable(windows, options.stability_pct)
    return level_result(concurrency, options.batch_size, windows, is_stable)
