"""How ``orchestrator bench`` and ``orchestrator tune`` print their results.

- Tables (rich) for people, CSV for spreadsheets, on stdout; remarks on stderr.
- The JSON form is the report's own ``as_dict()``, printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from orchestrator.cli.output.jsondata import echo_json
from orchestrator.performance import tune
from orchestrator.performance.report import BenchReport, report_csv

__all__ = ["print_bench", "print_tune", "wide_console"]


def wide_console() -> Console:
    """A console at least 140 columns wide."""
    # Result tables have many columns: do not squeeze them into 80 columns in a pipe.
    return Console(soft_wrap=True, width=max(Console().width, 140))


def print_tune(report: tune.TuneReport, output_format: str) -> None:
    """Print the trials ("table" or "json") and the diff against the current config."""
    if output_format == "json":
        echo_json(report)
        return
    budget = report.latency_budget_ms
    console = wide_console()
    limit = f"p99 <= {budget} ms" if budget is not None else "no latency limit"
    table = Table(
        "#",
        "candidate",
        "best infer/s",
        "at concurrency",
        "p99 ms",
        "note",
        title=f"tune {report.model} ({limit})",
    )
    for number, trial in enumerate(report.trials):
        level = trial.best_level(budget)
        notes = [trial.error[:80]] if trial.error else []
        if trial is report.best:
            notes.append("winner")
        if trial.candidate == report.trials[0].candidate:
            notes.append("current")
        if trial.phase == "confirm":
            notes.append("re-measured")
        note = ", ".join(notes)
        table.add_row(
            str(number),
            trial.candidate.label,
            f"{level.throughput_per_s:.1f}" if level else "-",
            str(level.concurrency) if level else "-",
            f"{level.p99_ms:.2f}" if level else "-",
            note,
        )
    console.print(table)
    if report.comparisons:
        low, high = report.levels
        against = Table(
            "role", "config", f"infer/s at {low}", f"infer/s at {high}", title="compared with"
        )
        for item in report.comparisons:
            against.add_row(
                item.role,
                item.label,
                f"{item.low_per_s:.1f}" if item.low_per_s is not None else "-",
                f"{item.high_per_s:.1f}" if item.high_per_s is not None else "-",
            )
        console.print(against)
    if report.best is not None and not report.diff:
        click.echo("The current config is the best found; nothing to change.", err=True)
    elif report.diff:
        click.echo(report.diff, nl=False)
        if report.written:
            click.echo(f"Wrote {report.config_path}", err=True)


def print_bench(report: BenchReport, output_format: str) -> None:
    """Print the levels as a table, one JSON line, or CSV."""
    if output_format == "json":
        echo_json(report)
        return
    if output_format == "csv":
        click.echo(report_csv(report), nl=False)
        return
    console = wide_console()
    title = (
        f"{report.model} via {report.engine}, {report.protocol}, batch {report.batch_size}, "
        f"inputs {report.inputs}"
    )
    table = Table(
        "concurrency",
        "infer/s",
        "p50 ms",
        "p90 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "queue ms",
        "compute ms",
        "avg batch",
        "stable",
        title=title,
    )
    for level in report.levels:
        table.add_row(
            str(level.concurrency),
            f"{level.throughput_per_s:.1f}",
            f"{level.p50_ms:.2f}",
            f"{level.p90_ms:.2f}",
            f"{level.p95_ms:.2f}",
            f"{level.p99_ms:.2f}",
            str(level.failures),
            f"{level.server_queue_ms:.2f}",
            f"{level.server_compute_ms:.2f}",
            f"{level.server_avg_batch:.1f}",
            "yes" if level.stable else "no",
        )
    console.print(table)
    if report.first_failure:
        click.echo(f"First failed request: {report.first_failure}", err=True)
