"""The ``orchestrator`` command line: one click group, each command one library call."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from orchestrator import __version__
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
