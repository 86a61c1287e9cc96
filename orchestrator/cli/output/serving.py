"""How the serving commands print their results for people: rich tables on stdout.

- The endpoints and served models, the smoke checks (also as Markdown for a job
  summary), an inference's outputs.
- The JSON forms are the results' own ``as_dict()`` (``ServeReport``, ``SmokeReport``,
  ``InferResult``, ``SwapReport``), printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from orchestrator.serving.inference import InferResult
from orchestrator.serving.serve import ServeReport
from orchestrator.serving.smoke import SmokeReport

__all__ = ["print_infer", "print_serve", "print_smoke", "smoke_markdown"]


def print_serve(report: ServeReport) -> None:
    """The endpoints as full URLs (--url and --grpc-url take them as printed), then the models.

    One table row per model version with its state.
    """
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"HTTP     http://{report.http_url}")
    console.print(f"gRPC     grpc://{report.grpc_url}")
    console.print(f"metrics  {report.metrics_url}")
    table = Table("model", "version", "state", "reason")
    for model in report.models:
        table.add_row(model.name, model.version, model.state, model.reason)
    console.print(table)


def print_smoke(report: SmokeReport) -> None:
    """One table row per check: model, version, protocol, max abs error, latency, result."""
    table = Table("model", "version", "protocol", "max abs error", "latency ms", "result")
    for r in report.results:
        table.add_row(
            r.model,
            r.version,
            r.protocol,
            "-" if r.max_abs_error is None else f"{r.max_abs_error:.3g}",
            "-" if r.latency_ms is None else f"{r.latency_ms:.1f}",
            "ok" if r.ok else "FAILED",
        )
    Console(soft_wrap=True).print(table)


def smoke_markdown(report: SmokeReport) -> str:
    """The smoke report as a Markdown section (a GitHub job summary): one row per check.

    Example:
        >>> print(smoke_markdown(report))  # doctest: +SKIP
        ### Golden smoke: 4 of 4 checks passed
    """
    passed = sum(1 for r in report.results if r.ok)
    lines = [
        f"### Golden smoke: {passed} of {len(report.results)} checks passed",
        "",
        "| model | version | protocol | max abs error | latency ms | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        error = "-" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.1f}"
        problem = r.describe().split(": ", 1)[-1].replace("|", "\\|")
        result = "ok" if r.ok else f"**FAILED**: {problem}"
        lines.append(f"| {r.model} | {r.version} | {r.protocol} | {error} | {latency} | {result} |")
    return "\n".join(lines) + "\n"


def print_infer(result: InferResult) -> None:
    """One table row per output, values abbreviated."""
    table = Table("output", "datatype", "shape", "values")
    datatypes = {spec.name: spec.datatype for spec in result.signature.outputs}
    for name, array in result.outputs.items():
        values = np.array2string(array, precision=4, threshold=20, max_line_width=80)
        table.add_row(name, datatypes.get(name, str(array.dtype)), str(list(array.shape)), values)
    Console(soft_wrap=True).print(table)
