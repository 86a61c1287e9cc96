"""How the release commands print for people: sync progress, plans and release listings.

- Lines and tables on stdout; progress on stderr, drawn only when stderr is a terminal.
- rich is imported only to draw (a bar on a terminal, a table): a sync in a pipeline
  prints lines, and its start does not pay for rich (benchmarks/startup.py).
- The JSON forms are the results' own ``as_dict()`` (``SyncReport``, ``ReleaseInfo``,
  ``GcReport``), printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import click

from orchestrator.releases import catalog
from orchestrator.releases import sync as sync_mod

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["SyncProgress", "print_releases", "print_sync", "size_text"]


class SyncProgress:
    """A files-and-bytes progress bar on stderr (only drawn on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress

            console = Console(stderr=True)
            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                DownloadColumn(),
                console=console,
                disable=not console.is_terminal,
            )
        self._files: TaskID | None = None
        self._bytes: TaskID | None = None

    def __enter__(self) -> SyncProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def on_plan(self, plan: sync_mod.SyncPlan) -> None:
        """Size the bars once the plan (uploads and copies) is known."""
        if self._progress is None:
            return
        todo = plan.uploads + plan.copies
        self._files = self._progress.add_task("files", total=len(todo))
        self._bytes = self._progress.add_task("bytes", total=plan.upload_bytes + plan.copy_bytes)

    def advance(self, files: int, size_bytes: int) -> None:
        """Count finished transfers."""
        if self._progress is not None and self._files is not None and self._bytes is not None:
            self._progress.advance(self._files, files)
            self._progress.advance(self._bytes, size_bytes)


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


def print_releases(infos: Sequence[catalog.ReleaseInfo], console: Console | None = None) -> None:
    """One table row per release: id, created, models, size, environments, status.

    In a pipe the table is at least 140 columns wide (nothing to squeeze); on a terminal
    it fits the width, wrapping every column but the id.
    """
    from rich.console import Console
    from rich.table import Column, Table

    # The id is what every deploy command needs: never cut or wrapped, whatever the width
    # (the other columns wrap instead).
    id_column = Column("id", no_wrap=True, min_width=max((len(i.id) for i in infos), default=2))
    table = Table(id_column, "created", "models", "size", "environments", "status")
    for info in infos:
        release = info.release
        models = (
            " ".join(f"{m.name}:{','.join(map(str, m.versions))}" for m in release.models)
            if release
            else ""
        )
        table.add_row(
            info.id,
            release.created if release else "",
            models,
            size_text(release.size_bytes if release else 0),
            ",".join(info.environments),
            "complete" if info.complete else "incomplete",
        )
    if console is None:
        console = Console(soft_wrap=True)
        if not console.is_terminal:
            console = Console(soft_wrap=True, width=max(console.width, 140))
    console.print(table)


def size_text(size_bytes: int) -> str:
    """A byte count for people: 1.2 MiB."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size_bytes} B"
