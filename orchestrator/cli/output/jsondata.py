"""The one JSON convention of ``--format json``: ``as_dict(result)``, printed by ``echo_json``.

Every result a command prints as JSON has a JSON form, returned by ``as_dict``: a
library type that defines its own ``as_dict()`` method (``Finding``, ``LevelResult``,
``BenchReport``) uses it; the others are registered here, one function per type.
``echo_json`` prints any mix of JSON-ready data and such results as one line on stdout,
the same way for every command.

Example:
    >>> echo_json({"ok": True})  # doctest: +SKIP
    {"ok": true}
"""

from __future__ import annotations

import functools
import json
from typing import Any, Protocol, runtime_checkable

import click

from orchestrator.performance.tune import Trial, TuneReport
from orchestrator.releases.catalog import GcReport, ReleaseInfo
from orchestrator.releases.sync import SyncReport, Transfer
from orchestrator.repository.exports import ExportsReport
from orchestrator.repository.listing import ModelListing
from orchestrator.repository.publish import PublishResult
from orchestrator.serving.inference import InferResult
from orchestrator.serving.serve import ServeReport
from orchestrator.serving.smoke import SmokeReport
from orchestrator.serving.swap import SwapReport

__all__ = ["SupportsAsDict", "as_dict", "echo_json"]


@runtime_checkable
class SupportsAsDict(Protocol):
    """A result type with its own JSON form."""

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data."""


def echo_json(data: object) -> None:
    """Print ``data`` as one line of JSON on stdout; results inside become ``as_dict(result)``.

    Example:
        >>> echo_json([finding])  # doctest: +SKIP
        [{"code": "dtype-mismatch", ...}]
    """
    click.echo(json.dumps(data, default=as_dict))


@functools.singledispatch
def as_dict(result: object) -> dict[str, Any]:
    """The JSON form of a result: JSON-ready data (dicts, lists, strings, numbers, None).

    Raises:
        TypeError: ``result`` has no JSON form (a bug: register one here).

    Example:
        >>> as_dict(smoke_report)["ok"]  # doctest: +SKIP
        True
    """
    if isinstance(result, SupportsAsDict):
        return result.as_dict()
    raise TypeError(
        f"{type(result).__name__} has no JSON form. Give it an as_dict() method or "
        "register one in orchestrator.cli.output.jsondata."
    )


@as_dict.register
def _serve(report: ServeReport) -> dict[str, Any]:
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


@as_dict.register
def _smoke(report: SmokeReport) -> dict[str, Any]:
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


def _tensor_values(array: Any) -> Any:
    if array.dtype.kind == "O" or array.dtype.kind == "S":
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.ravel()
        ]
    return array.ravel().tolist()


@as_dict.register
def _infer(result: InferResult) -> dict[str, Any]:
    datatypes = {spec.name: spec.datatype for spec in result.signature.outputs}
    return {
        "model": result.model,
        "version": result.version,
        "latency_ms": round(result.latency_ms, 3),
        "outputs": {
            name: {
                "datatype": datatypes.get(name, str(array.dtype)),
                "shape": list(array.shape),
                "data": _tensor_values(array),
            }
            for name, array in result.outputs.items()
        },
    }


@as_dict.register
def _swap(report: SwapReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "from_versions": list(report.from_versions),
        "to_version": report.to_version,
        "changed": report.changed,
        "load_s": round(report.load_s, 3),
        "total_s": round(report.total_s, 3),
        "cpu_override": report.cpu_override,
        "smoke": None if report.smoke is None else _smoke(report.smoke),
    }


@as_dict.register
def _publish(result: PublishResult) -> dict[str, Any]:
    return {
        "model": result.model,
        "version": result.version,
        "status": result.status,
        "path": str(result.path),
        "config": str(result.config_path),
        "config_written": result.config_written,
        "comment_kept": result.comment_kept,
        "comment_dropped": result.comment_dropped or None,
        "files": {
            n: {"sha256": d.sha256, "size_bytes": d.size_bytes} for n, d in result.files.items()
        },
    }


@as_dict.register
def _exports(report: ExportsReport) -> dict[str, Any]:
    return {
        "folder": str(report.folder),
        "repository": str(report.repository),
        "bundles": [{"bundle": str(r.bundle), **_publish(r.result)} for r in report.results],
        "published": report.published,
        "unchanged": report.unchanged,
    }


@as_dict.register
def _listing(model: ModelListing) -> dict[str, Any]:
    return {
        "model": model.name,
        "backend": model.backend,
        "version_policy": model.version_policy,
        "error": model.error,
        "versions": [
            {
                "version": v.version,
                "served": v.served,
                "size_bytes": v.size_bytes,
                "sha256": v.sha256,
                "metrics": dict(v.metrics),
            }
            for v in model.versions
        ],
    }


@as_dict.register
def _sync(report: SyncReport) -> dict[str, Any]:
    plan = report.plan

    def part(transfers: tuple[Transfer, ...]) -> dict[str, Any]:
        return {
            "files": len(transfers),
            "bytes": sum(t.digest.size_bytes for t in transfers),
            "paths": [t.path for t in transfers],
        }

    copies = part(plan.copies)
    copies["sources"] = {t.path: t.source_key for t in plan.copies}
    return {
        "release": plan.release.id,
        "url": plan.release_url,
        "dry_run": report.dry_run,
        "already_complete": plan.complete,
        "wrote_manifest": report.wrote_manifest,
        "upload": part(plan.uploads),
        "copy": copies,
        "unchanged": part(plan.unchanged),
        "elapsed_s": round(report.elapsed_s, 3),
    }


@as_dict.register
def _release_info(info: ReleaseInfo) -> dict[str, Any]:
    release = info.release
    return {
        "id": info.id,
        "complete": info.complete,
        "created": release.created if release else "",
        "models": {m.name: list(m.versions) for m in release.models} if release else {},
        "size_bytes": release.size_bytes if release else 0,
        "files": len(release.files) if release else 0,
        "environments": list(info.environments),
    }


@as_dict.register
def _gc(report: GcReport) -> dict[str, Any]:
    return {
        "deleted": list(report.deleted),
        "kept": list(report.kept),
        "protected": list(report.protected),
        "deleted_objects": report.deleted_objects,
        "dry_run": report.dry_run,
        "pinned_by": {release: list(names) for release, names in report.pinned_by.items()},
    }


def _trial(trial: Trial, budget: float | None) -> dict[str, Any]:
    level = trial.best_level(budget)
    return {
        "candidate": trial.candidate.__dict__,
        "label": trial.candidate.label,
        "phase": trial.phase,
        "score_per_s": round(trial.score(budget), 2),
        "best_level": level.as_dict() if level is not None else None,
        "error": trial.error,
        "levels": [lv.as_dict() for lv in trial.report.levels] if trial.report else [],
    }


@as_dict.register
def _tune(report: TuneReport) -> dict[str, Any]:
    budget = report.latency_budget_ms
    return {
        "model": report.model,
        "config": str(report.config_path),
        "latency_budget_ms": budget,
        "budget_met": report.budget_met,
        "best": _trial(report.best, budget) if report.best else None,
        "trials": [_trial(t, budget) for t in report.trials],
        "diff": report.diff,
        "written": report.written,
        "throughput_only": report.throughput_only,
        "comparisons": [
            {
                "role": c.role,
                "label": c.label,
                f"per_s_at_{report.levels[0]}": c.low_per_s,
                f"per_s_at_{report.levels[1]}": c.high_per_s,
            }
            for c in report.comparisons
        ],
    }
