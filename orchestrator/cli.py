"""The ``orchestrator`` command line: one click group, each command one library call."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskID
from rich.table import Table

from orchestrator import __version__, catalog, storage
from orchestrator import release as release_mod
from orchestrator import sync as sync_mod
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


@cli.command("release")
@click.argument("repository", type=click.Path(path_type=Path), default=Path("model_repository"))
@click.option(
    "--all-versions", is_flag=True, help="Include every version, not only those the policy serves."
)
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A summary table, or the release manifest (release.json) as JSON.",
)
def release_command(repository: Path, all_versions: bool, output_format: str) -> None:
    """Build the content-addressed release manifest of REPOSITORY.

    Lists every model with the versions its version_policy serves and the sha256 and
    size of every file; the id is derived from that content. Refuses a repository that
    `validate` rejects.

    Example:
        orchestrator release model_repository/ --format json > release.json
    """
    built = release_mod.build_release(repository, all_versions=all_versions)
    if output_format == "json":
        click.echo(built.document().decode(), nl=False)
        return
    click.echo(f"release  {built.id}")
    click.echo(f"files    {len(built.files)} ({_size(built.size_bytes)})")
    for model in built.models:
        click.echo(f"model    {model.name}: versions {', '.join(map(str, model.versions))}")


@cli.command("sync")
@click.argument("locations", nargs=-1, metavar="[REPO] DEST")
@click.option(
    "--endpoint-url", help="S3-compatible endpoint (MinIO, moto); AWS_ENDPOINT_URL also works."
)
@click.option(
    "--all-versions", is_flag=True, help="Include every version, not only those the policy serves."
)
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel transfers."
)
@click.option("--dry-run", is_flag=True, help="Print the plan (upload, copy, unchanged) only.")
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A summary, or one JSON object for machines.",
)
def sync_command(
    locations: tuple[str, ...],
    endpoint_url: str | None,
    all_versions: bool,
    jobs: int,
    dry_run: bool,
    output_format: str,
) -> None:
    """Sync the release of REPO (default model_repository) to DEST/releases/<id>/.

    DEST is file:///path, s3://bucket/prefix or gs://bucket/prefix. Files are compared
    by sha256: content already anywhere in DEST is copied server side, an unchanged
    repository uploads nothing. release.json is written last, after every file is
    verified, and never overwritten. Serve the result with
    --model-repository=DEST/releases/<id>.

    Example:
        orchestrator sync model_repository/ s3://models/prod --endpoint-url http://127.0.0.1:9000
    """
    if len(locations) not in (1, 2):
        raise click.UsageError("Expected [REPO] DEST, e.g. `orchestrator sync s3://bucket/prefix`.")
    repository = Path(locations[0]) if len(locations) == 2 else Path("model_repository")
    with _SyncProgress(enabled=not dry_run) as progress:
        report = sync_mod.sync(
            repository,
            locations[-1],
            endpoint_url=endpoint_url,
            all_versions=all_versions,
            jobs=jobs,
            dry_run=dry_run,
            on_plan=progress.on_plan,
            on_progress=progress.advance,
        )
    if output_format == "json":
        click.echo(json.dumps(_sync_json(report)))
    else:
        _print_sync(report)


@cli.group("releases", cls=OrchestratorGroup)
def releases_group() -> None:
    """List and garbage-collect the releases stored in DEST.

    Example:
        orchestrator releases list s3://models/prod
        orchestrator releases gc s3://models/prod --keep 5
    """


@releases_group.command("list")
@click.argument("dest")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, moto).")
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A table, or a JSON list for machines.",
)
def releases_list_command(dest: str, endpoint_url: str | None, output_format: str) -> None:
    """List the releases in DEST, newest first, with the environments pointing at them.

    A folder without release.json (a sync that has not finished) shows as incomplete.

    Example:
        orchestrator releases list s3://models/prod --format json
    """
    infos = catalog.list_releases(storage.open_store(dest, endpoint_url=endpoint_url))
    rows = [_release_json(info) for info in infos]
    if output_format == "json":
        click.echo(json.dumps(rows))
        return
    table = Table("id", "created", "models", "size", "environments", "status")
    for row in rows:
        models = " ".join(
            f"{name}:{','.join(map(str, versions))}" for name, versions in row["models"].items()
        )
        table.add_row(
            row["id"],
            row["created"],
            models,
            _size(row["size_bytes"]),
            ",".join(row["environments"]),
            "complete" if row["complete"] else "incomplete",
        )
    Console(soft_wrap=True).print(table)


@releases_group.command("gc")
@click.argument("dest")
@click.option("--keep", type=click.IntRange(0), required=True, help="Newest releases to keep.")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, moto).")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted, delete nothing.")
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="Lines of text, or one JSON object for machines.",
)
def releases_gc_command(
    dest: str, keep: int, endpoint_url: str | None, dry_run: bool, output_format: str
) -> None:
    """Delete all but the KEEP newest releases; never one an environment points at.

    Unfinished syncs (no release.json) are left alone.

    Example:
        orchestrator releases gc s3://models/prod --keep 5 --dry-run
    """
    report = catalog.gc_releases(
        storage.open_store(dest, endpoint_url=endpoint_url), keep, dry_run=dry_run
    )
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "deleted": list(report.deleted),
                    "kept": list(report.kept),
                    "protected": list(report.protected),
                    "deleted_objects": report.deleted_objects,
                    "dry_run": report.dry_run,
                }
            )
        )
        return
    verb = "would delete" if dry_run else "deleted"
    for release_id in report.deleted:
        click.echo(f"{verb}  {release_id}")
    for release_id in report.protected:
        click.echo(f"kept     {release_id} (an environment points at it)")
    click.echo(
        f"{len(report.deleted)} release(s) {verb} ({report.deleted_objects} objects), "
        f"{len(report.kept)} newest kept, {len(report.protected)} protected.",
        err=True,
    )


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


def _size(size_bytes: int) -> str:
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class _SyncProgress:
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

    def __enter__(self) -> _SyncProgress:
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
        todo = plan.uploads + plan.copies
        self._files = self._progress.add_task("files", total=len(todo))
        self._bytes = self._progress.add_task("bytes", total=plan.upload_bytes + plan.copy_bytes)

    def advance(self, files: int, size_bytes: int) -> None:
        if self._files is not None and self._bytes is not None:
            self._progress.advance(self._files, files)
            self._progress.advance(self._bytes, size_bytes)


def _sync_json(report: sync_mod.SyncReport) -> dict[str, Any]:
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


def _print_sync(report: sync_mod.SyncReport) -> None:
    plan = report.plan
    if report.dry_run:
        for transfer in plan.uploads:
            click.echo(f"upload     {transfer.path}")
        for transfer in plan.copies:
            click.echo(f"copy       {transfer.path} <- {transfer.source_key}")
    click.echo(f"release    {plan.release.id}")
    click.echo(f"url        {plan.release_url}")
    click.echo(f"upload     {len(plan.uploads)} file(s), {_size(plan.upload_bytes)}")
    click.echo(f"copy       {len(plan.copies)} file(s), {_size(plan.copy_bytes)}")
    click.echo(f"unchanged  {len(plan.unchanged)} file(s), {_size(plan.unchanged_bytes)}")
    if report.dry_run:
        status = "dry run: nothing written"
    elif plan.complete:
        status = "already complete: nothing written"
    else:
        status = "complete: release.json written" if report.wrote_manifest else "complete"
    click.echo(f"status     {status}")


def _release_json(info: catalog.ReleaseInfo) -> dict[str, Any]:
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
