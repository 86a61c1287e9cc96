"""How the serving commands print their results: rich tables for people, JSON for machines."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from orchestrator.serving.inference import InferResult
from orchestrator.serving.smoke import SmokeReport
from orchestrator.serving.swap import SwapReport

__all__ = ["infer_json", "print_infer", "print_smoke", "smoke_json", "swap_json"]


def smoke_json(report: SmokeReport) -> dict[str, Any]:
    """A smoke report as JSON: ``ok``, one object per check, the tolerances used."""
    return {
        "ok": report.ok,
        "results": [
            {
                "model": r.model,
                "version": r.version,
                "protocol": r.protocol,
                "ok": r.ok,
                "max_abs_error": r.max_abs_error,
                "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 3),
                "problems": list(r.problems),
                "worst": None if r.worst is None else str(r.worst),
            }
            for r in report.results
        ],
        "tolerances": {
            model: {"rtol": t.rtol, "atol": t.atol} for model, t in report.tolerances.items()
        },
    }


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


def _tensor_json(array: Any) -> Any:
    if array.dtype.kind == "O" or array.dtype.kind == "S":
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.ravel()
        ]
    return array.ravel().tolist()


def infer_json(result: InferResult) -> dict[str, Any]:
    """Every output with its datatype, shape and flattened values (BYTES as text)."""
    datatypes = {spec.name: spec.datatype for spec in result.signature.outputs}
    return {
        "model": result.model,
        "version": result.version,
        "latency_ms": round(result.latency_ms, 3),
        "outputs": {
            name: {
                "datatype": datatypes.get(name, str(array.dtype)),
                "shape": list(array.shape),
                "data": _tensor_json(array),
            }
            for name, array in result.outputs.items()
        },
    }


def print_infer(result: InferResult) -> None:
    """One table row per output, values abbreviated."""
    table = Table("output", "datatype", "shape", "values")
    datatypes = {spec.name: spec.datatype for spec in result.signature.outputs}
    for name, array in result.outputs.items():
        values = np.array2string(array, precision=4, threshold=20, max_line_width=80)
        table.add_row(name, datatypes.get(name, str(array.dtype)), str(list(array.shape)), values)
    Console(soft_wrap=True).print(table)


def swap_json(report: SwapReport) -> dict[str, Any]:
    """A swap report as JSON, with the new version's smoke checks."""
    return {
        "model": report.model,
        "from_versions": list(report.from_versions),
        "to_version": report.to_version,
        "changed": report.changed,
        "load_s": round(report.load_s, 3),
        "total_s": round(report.total_s, 3),
        "cpu_override": report.cpu_override,
        "smoke": None if report.smoke is None else smoke_json(report.smoke),
    }
