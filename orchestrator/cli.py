"""The ``orchestrator`` command line: one click group, each command one library call."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from orchestrator import __version__, perf_output
from orchestrator import bench as bench_module
from orchestrator import tune as tune_module
from orchestrator.errors import OrchestratorError
from orchestrator.serve import ServeReport, serve
from orchestrator.triton import ServerOptions

__all__ = ["cli"]

FORMATS = click.Choice(["table", "json"])


class OrchestratorGroup(click.Group):
    """A click group that turns every ``OrchestratorError`` into one message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected errors become ``Error: ...`` on stderr and exit 1."""
        try:
            return super().invoke(ctx)
        except OrchestratorError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=OrchestratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Take trained models to production on NVIDIA Triton, safely.

    Publish export bundles as immutable versions, validate the repository offline, serve
    it on a real local Triton, smoke-test it, release it and roll it out.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command("serve")
@click.argument("repository", type=click.Path(path_type=Path), default=Path("model_repository"))
@click.option("--http-port", type=int, help="HTTP port (default: a free one).")
@click.option("--grpc-port", type=int, help="gRPC port (default: a free one).")
@click.option("--metrics-port", type=int, help="Prometheus metrics port (default: a free one).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--model", "models", multiple=True, help="Load only this model (repeatable).")
@click.option(
    "--tritonserver",
    type=click.Path(path_type=Path),
    envvar="TRITONSERVER",
    help="tritonserver binary (default: PATH, then the nvidia-pytriton wheel).",
)
@click.option(
    "--ready-timeout-s", type=float, default=120.0, show_default=True, help="Startup deadline."
)
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="How to print endpoints and models: a table, or one JSON line for machines.",
)
def serve_command(
    repository: Path,
    http_port: int | None,
    grpc_port: int | None,
    metrics_port: int | None,
    address: str,
    models: tuple[str, ...],
    tritonserver: Path | None,
    ready_timeout_s: float,
    output_format: str,
) -> None:
    """Serve REPOSITORY on a local Triton until Ctrl-C.

    The production configs load unchanged; without a GPU, KIND_GPU instances run on
    the CPU through Triton's load-time config override.

    Example:
        orchestrator serve model_repository/ --http-port 8000
    """
    options = ServerOptions(
        repository=repository,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        address=address,
        tritonserver=tritonserver,
        ready_timeout_s=ready_timeout_s,
    )

    def on_ready(report: ServeReport) -> None:
        if output_format == "json":
            click.echo(json.dumps(_report_json(report)))
        else:
            _print_report(report)
        if not report.failed:
            click.echo("Serving; press Ctrl-C to stop.", err=True)

    serve(options, models or None, on_ready=on_ready)
    click.echo("Triton stopped.", err=True)


# --- repository commands (publish, list, validate) -------------------------------------


# --- serving commands (smoke, infer, swap, demo) ----------------------------------------


# --- release commands (release, sync, releases) -----------------------------------------


# --- performance commands (bench, tune) -------------------------------------------------


def _concurrency_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return bench_module.parse_concurrency(value)
    except OrchestratorError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command("bench")
@click.option(
    "--url", required=True, help="Triton endpoint HOST:PORT (HTTP, or gRPC with --protocol grpc)."
)
@click.option("--model", required=True, help="The served model to measure.")
@click.option(
    "--protocol",
    type=click.Choice(["http", "grpc"]),
    default="http",
    show_default=True,
    help="Protocol of --url.",
)
@click.option(
    "--concurrency",
    default="1,2,4,8,16,32",
    show_default=True,
    callback=_concurrency_option,
    help="Comma-separated requests in flight, one measurement per level.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows per request.",
)
@click.option(
    "--window-s",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Length of one measurement window.",
)
@click.option(
    "--warmup-s",
    type=click.FloatRange(min=0.0),
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
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="Where to look for <model>/<version>/golden.npz.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "orchestrator", "perf_analyzer"]),
    default="auto",
    show_default=True,
    help="auto: perf_analyzer when on PATH, else the built-in load generator.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="How to print the results.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write throughput against p99 latency as a PNG.",
)
def bench_command(
    url: str,
    model: str,
    protocol: str,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    warmup_s: float,
    max_windows: int,
    golden: Path | None,
    repo: Path,
    engine: str,
    output_format: str,
    plot_path: Path | None,
) -> None:
    """Measure throughput and latency of a served model per concurrency level.

    Each level runs until three consecutive windows agree within 10% (as perf_analyzer
    does); the warm-up is not measured. Server queue and compute times come from
    Triton's own statistics. A server that dies mid-run keeps the finished levels.

    Example:
        orchestrator bench --url 127.0.0.1:8000 --model digits_cnn --plot bench.png
    """
    options = bench_module.BenchOptions(
        url=url,
        model=model,
        protocol="grpc" if protocol == "grpc" else "http",
        concurrency=concurrency,
        batch_size=batch_size,
        window_s=window_s,
        warmup_s=warmup_s,
        max_windows=max_windows,
        golden=golden or bench_module.find_golden(repo, model),
    )
    report = bench_module.bench(options, engine=_engine(engine))
    perf_output.print_bench(report, output_format)
    if plot_path is not None and report.levels:
        from orchestrator.plot import plot_throughput_latency  # matplotlib loads slowly

        plot_throughput_latency([report], plot_path)
        click.echo(f"Wrote {plot_path}", err=True)
    if report.error:
        raise click.ClickException(report.error)


@cli.command("tune")
@click.option("--model", required=True, help="The model (its folder name in --repo) to tune.")
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="The model repository; a local Triton serves it during the search.",
)
@click.option(
    "--latency-budget-ms",
    type=click.FloatRange(min=0.0, min_open=True),
    help="Highest p99 latency allowed (default: no limit, highest throughput wins).",
)
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Configs to search, the current one included (re-measurements come on top).",
)
@click.option(
    "--concurrency",
    default="1,4,16,32",
    show_default=True,
    callback=_concurrency_option,
    help="Comma-separated concurrency levels each config is measured at.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows per request.",
)
@click.option(
    "--window-s",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Length of one measurement window.",
)
@click.option(
    "--confirm-rounds",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Re-measure a winner and the current config this often before changing anything.",
)
@click.option("--write", is_flag=True, help="Write the winner into <repo>/<model>/config.pbtxt.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the trials and the result.",
)
def tune_command(
    model: str,
    repo: Path,
    latency_budget_ms: float | None,
    max_trials: int,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    confirm_rounds: int,
    write: bool,
    output_format: str,
) -> None:
    """Find the dynamic-batching settings with the highest throughput within a p99 budget.

    Starts a local Triton on REPO, loads each candidate config through the load API's
    config override (batching off/on, queue delay, preferred batch sizes, instance
    count, ONNX Runtime threads), measures it like `bench`, and prints the diff
    against the current config. --write updates config.pbtxt only (never a version).

    Example:
        orchestrator tune --model digits_cnn --latency-budget-ms 20 --write
    """
    options = tune_module.TuneOptions(
        model=model,
        repository=repo,
        latency_budget_ms=latency_budget_ms,
        max_trials=max_trials,
        concurrency=concurrency,
        batch_size=batch_size,
        window_s=window_s,
        confirm_rounds=confirm_rounds,
    )
    report = tune_module.tune(
        options, on_trial=lambda t: click.echo(f"measured {t.candidate.label}", err=True)
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


def _engine(name: str) -> bench_module.Engine:
    return (
        "perf_analyzer"
        if name == "perf_analyzer"
        else "orchestrator"
        if name == "orchestrator"
        else "auto"
    )


# --- output helpers ---------------------------------------------------------------------


def _report_json(report: ServeReport) -> dict[str, Any]:
    return {
        "http": report.http_url,
        "grpc": report.grpc_url,
        "metrics": report.metrics_url,
        "startup_s": round(report.startup_s, 3),
        "log": str(report.log_path),
        "models": [
            {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
            for m in report.models
        ],
    }


def _print_report(report: ServeReport) -> None:
    console = Console(soft_wrap=True)
    console.print(f"HTTP     {report.http_url}")
    console.print(f"gRPC     {report.grpc_url}")
    console.print(f"metrics  {report.metrics_url}")
    table = Table("model", "version", "state", "reason")
    for model in report.models:
        table.add_row(model.name, model.version, model.state, model.reason)
    console.print(table)
