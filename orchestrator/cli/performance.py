"""The performance commands: bench (measure a served model) and tune (search its batching).

Output helpers live in ``orchestrator.perf_output``.
"""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import format_option
from orchestrator.cli.output import performance as perf_output
from orchestrator.errors import OrchestratorError
from orchestrator.performance import bench as bench_module
from orchestrator.performance import tune as tune_module

__all__ = ["bench_command", "tune_command"]


def _concurrency_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return bench_module.parse_concurrency(value)
    except OrchestratorError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("bench")
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
@format_option("How to print the results.", choices=("table", "json", "csv"))
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
        from orchestrator.performance.plot import plot_throughput_latency

        plot_throughput_latency([report], plot_path)
        click.echo(f"Wrote {plot_path}", err=True)
    if report.error:
        raise click.ClickException(report.error)


@click.command("tune")
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
@format_option("How to print the trials and the result.")
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
