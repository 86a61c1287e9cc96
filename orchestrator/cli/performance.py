"""The performance commands: bench (measure a served model) and tune (search its batching).

* Output helpers live in ``orchestrator.cli.output.performance``.
* The library (``orchestrator.performance``) is imported inside each command, when it
  runs, so ``--help`` loads none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.defaults import (
    DEFAULT_REQUEST_TIMEOUT_S,
    MAX_REQUEST_TIMEOUT_S,
    MAX_WINDOW_S,
)
from orchestrator.cli.options import (
    FiniteFloat,
    batch_size_option,
    concurrency_option,
    format_option,
    model_option,
    repository_option,
    window_s_option,
)
from orchestrator.cli.server_options import (
    endpoint_for,
    grpc_url_option,
    protocol_option,
    url_option,
)
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.performance.options import Engine

__all__ = ["bench_command", "tune_command"]

_quiet_option = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No live progress line on stderr; one plain line per measured level instead "
    "(as when stderr is not a terminal).",
)


@click.command("bench")
@url_option()
@grpc_url_option()
@model_option("The served model to measure.")
@protocol_option()
@concurrency_option(
    "1,2,4,8,16,32", "Comma-separated requests in flight, one measurement per level."
)
@batch_size_option()
@window_s_option(5.0)
@click.option(
    "--warmup-s",
    type=FiniteFloat(min=0.0, max=MAX_WINDOW_S),
    default=1.0,
    show_default=True,
    help="Unmeasured load before each level.",
)
@click.option(
    "--max-windows",
    type=click.IntRange(min=3),
    default=10,
    show_default=True,
    help="Windows per level before giving up on stability.",
)
@click.option(
    "--golden",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inputs from this .npz (inputs/<tensor>); default: golden.npz in --repo, else random.",
)
@repository_option("Where to look for <model>/<version>/golden.npz.")
@click.option(
    "--request-timeout-s",
    type=FiniteFloat(min=1, max=MAX_REQUEST_TIMEOUT_S),
    default=DEFAULT_REQUEST_TIMEOUT_S,
    show_default=True,
    help="How long each call to the server may take (the model's config, the first "
    "request, every measured request, the statistics), however slowly it answers; "
    "perf_analyzer's own requests keep its defaults.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "orchestrator", "perf_analyzer"]),
    default="auto",
    show_default=True,
    help="auto: perf_analyzer when on PATH, else the built-in load generator.",
)
@format_option("How to print the results.", choices=("table", "json", "csv"))
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write throughput against p99 latency as a PNG.",
)
@_quiet_option
def bench_command(
    url: str,
    grpc_url: str | None,
    model: str,
    protocol: str,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    warmup_s: float,
    max_windows: int,
    golden: Path | None,
    repository: Path,
    request_timeout_s: float,
    engine: str,
    output_format: str,
    plot_path: Path | None,
    quiet: bool,
) -> None:
    """Measure throughput and latency of a served model per concurrency level.

    Each level runs until three consecutive windows agree within 10% (as perf_analyzer
    does); the warm-up is not measured. Server queue and compute times come from
    Triton's own statistics. A server that dies mid-run keeps the finished levels.

    Example:
        orchestrator bench --url 127.0.0.1:8000 --model digits_cnn --plot bench.png
    """
    from orchestrator.cli.output import performance as perf_output
    from orchestrator.cli.output.progress import LevelProgress
    from orchestrator.performance.bench import bench
    from orchestrator.performance.inputs import find_golden
    from orchestrator.performance.options import BenchOptions

    try:
        options = BenchOptions(
            url=endpoint_for(url, grpc_url, protocol),
            model=model,
            protocol="grpc" if protocol == "grpc" else "http",
            concurrency=concurrency,
            batch_size=batch_size,
            window_s=window_s,
            warmup_s=warmup_s,
            max_windows=max_windows,
            golden=golden or find_golden(repository, model),
            request_timeout_s=request_timeout_s,
        )
    except ConfigError as exc:  # checked before any request: a usage error
        raise click.UsageError(str(exc)) from exc
    with LevelProgress(f"bench {model}", options.concurrency, quiet=quiet) as progress:
        report = bench(options, on_level=progress.level, engine=_engine(engine))
    perf_output.print_bench(report, output_format)
    if plot_path is not None and report.levels:
        from orchestrator.performance.plot import plot_throughput_latency

        plot_throughput_latency([report], plot_path)
        click.echo(f"Wrote {plot_path}", err=True)
    if report.error:
        raise click.ClickException(report.error)


@click.command("tune")
@model_option("The model (its folder name in --repo) to tune.")
@repository_option(
    "The model repository; a local Triton serves it during the search.",
    exists=True,
    file_okay=False,
)
@click.option(
    "--latency-budget-ms",
    type=FiniteFloat(min=0.0, min_open=True),
    help="Highest p99 latency allowed (default: no limit, highest throughput wins).",
)
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Configs to search, the current one included (re-measurements come on top).",
)
@concurrency_option("1,4,16,32", "Comma-separated concurrency levels each config is measured at.")
@batch_size_option()
@window_s_option(2.0)
@click.option(
    "--confirm-rounds",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Re-measure a winner and the current config this often before changing anything.",
)
@click.option(
    "--throughput-only",
    is_flag=True,
    help="Optimise only for throughput: let a config win that is more than 10% slower than "
    "dynamic_batching { } at concurrency 1 (refused by default).",
)
@click.option(
    "--write",
    is_flag=True,
    help="Write the winner into <repo>/<model>/config.pbtxt, with the measurement that "
    "chose it as a comment.",
)
@format_option("How to print the trials and the result.")
@_quiet_option
def tune_command(
    model: str,
    repository: Path,
    latency_budget_ms: float | None,
    max_trials: int,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    confirm_rounds: int,
    throughput_only: bool,
    write: bool,
    output_format: str,
    quiet: bool,
) -> None:
    """Find the dynamic-batching settings with the highest throughput within a p99 budget.

    Starts a local Triton on the repository (--repo), loads each candidate config through
    the load API's config override (batching off/on, queue delay, preferred batch sizes,
    instance count, ONNX Runtime threads), measures it like `bench`, and prints the diff
    against the current config. Every candidate is compared with dynamic_batching { } and
    with no batching, at concurrency 1 and the highest level; one more than 10% slower
    than dynamic_batching { } at concurrency 1 never wins unless --throughput-only.
    --write updates config.pbtxt only (never a version), with the measurement as a comment.

    Example:
        orchestrator tune --model digits_cnn --latency-budget-ms 20 --write
    """
    from orchestrator.cli.output import performance as perf_output
    from orchestrator.cli.output.progress import LevelProgress
    from orchestrator.performance import tune as tune_module

    try:
        options = tune_module.TuneOptions(
            model=model,
            repository=repository,
            latency_budget_ms=latency_budget_ms,
            max_trials=max_trials,
            concurrency=concurrency,
            batch_size=batch_size,
            window_s=window_s,
            confirm_rounds=confirm_rounds,
            throughput_only=throughput_only,
        )
    except ConfigError as exc:  # checked before the server starts: a usage error
        raise click.UsageError(str(exc)) from exc
    if write:  # a read-only repository fails now, not after the whole search
        tune_module.check_config_writable(repository, model)
    with LevelProgress(f"tune {model}", options.levels, quiet=quiet) as progress:
        report = tune_module.tune(
            options,
            on_trial=lambda t: click.echo(f"measured {t.candidate.label}", err=True),
            on_measurement=progress.measurement,
            on_level=progress.level,
        )
    if write and report.best is not None:
        report = tune_module.write_config(report)
    perf_output.print_tune(report, output_format)
    if not report.budget_met:
        closest = report.closest
        hint = ""
        if closest is not None and closest.report is not None and closest.report.levels:
            p99 = min(level.p99_ms for level in closest.report.levels)
            hint = f" The lowest p99 found was {p99:.2f} ms ({closest.candidate.label})."
        raise click.ClickException(
            f"No candidate kept p99 within {latency_budget_ms} ms.{hint} Raise "
            "--latency-budget-ms or measure at lower --concurrency."
        )


def _engine(name: str) -> Engine:
    return (
        "perf_analyzer"
        if name == "perf_analyzer"
        else "orchestrator"
        if name == "orchestrator"
        else "auto"
    )
