"""How the release commands print: sync progress, plans and release listings."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskID

from orchestrator.releases import catalog
from orchestrator.releases import sync as sync_mod

__all__ = ["SyncProgress", "print_sync", "release_json", "size_text", "sync_json"]


class SyncProgress:
    """A files-and-bytes progress bar on stderr (only drawn on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        console = Console(stderr=True)
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            DownloadColumn(),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        self._files: TaskID | None = None
        self._bytes: TaskID | None = None

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def on_plan(self, plan: sync_mod.SyncPlan) -> None:
        """Size the bars once the plan (uploads and copies) is known."""
        todo = plan.uploads + plan.copies
        self._files = self._progress.add_task("files", total=len(todo))
        self._bytes = self._progress.add_task("bytes", total=plan.upload_bytes + plan.copy_bytes)

    def advance(self, files: int, size_bytes: int) -> None:
        """Count finished transfers."""
        if self._files is not None and self._bytes is not None:
            self._progress.advance(self._files, files)
            self._progress.advance(self._bytes, size_bytes)


def sync_json(report: sync_mod.SyncReport) -> dict[str, Any]:
    """The sync report as JSON-ready data (what was uploaded, copied, unchanged)."""
    plan = report.plan

    def part(transfers: tuple[sync_mod.Transfer, ...]) -> dict[str, Any]:
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


def print_sync(report: sync_mod.SyncReport) -> None:
    """Print the sync plan and outcome as aligned lines on stdout."""
    plan = report.plan
    if report.dry_run:
        for transfer in plan.uploads:
            click.echo(f"upload     {transfer.path}")
        for transfer in plan.copies:
            click.echo(f"copy       {transfer.path} <- {transfer.source_key}")
    click.echo(f"release    {plan.release.id}")
    click.echo(f"url        {plan.release_url}")
    click.echo(f"upload     {len(plan.uploads)} file(s), {size_text(plan.upload_bytes)}")
    click.echo(f"copy       {len(plan.copies)} file(s), {size_text(plan.copy_bytes)}")
    click.echo(f"unchanged  {len(plan.unchanged)} file(s), {size_text(plan.unchanged_bytes)}")
    if report.dry_run:
        status = "dry run: nothing written"
    elif plan.complete:
        status = "already complete: nothing written"
    else:
        status = "complete: release.json written" if report.wrote_manifest else "complete"
    click.echo(f"status     {status}")


def release_json(info: catalog.ReleaseInfo) -> dict[str, Any]:
    """One release of a listing as JSON-ready data."""
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


def size_text(size_bytes: int) -> str:
    """A byte count for people: 1.2 MiB."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size_bytes} B"
