"""The release commands: release, sync, and the ``releases`` group (list, verify, gc).

Output helpers live in ``orchestrator.release_output``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from orchestrator.cli.common import OrchestratorGroup, format_option
from orchestrator.cli.output import releases as release_output
from orchestrator.cli.output.releases import size_text
from orchestrator.releases import catalog
from orchestrator.releases import manifest as release_mod
from orchestrator.releases import stores as storage
from orchestrator.releases import sync as sync_mod

__all__ = ["release_command", "releases_group", "sync_command"]


@click.command("release")
@click.argument("repository", type=click.Path(path_type=Path), default=Path("model_repository"))
@click.option(
    "--all-versions", is_flag=True, help="Include every version, not only those the policy serves."
)
@format_option("A summary table, or the release manifest (release.json) as JSON.")
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
    click.echo(f"files    {len(built.files)} ({size_text(built.size_bytes)})")
    for model in built.models:
        click.echo(f"model    {model.name}: versions {', '.join(map(str, model.versions))}")


@click.command("sync")
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
@format_option("A summary, or one JSON object for machines.")
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
    with release_output.SyncProgress(enabled=not dry_run) as progress:
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
        click.echo(json.dumps(release_output.sync_json(report)))
    else:
        release_output.print_sync(report)


@click.group("releases", cls=OrchestratorGroup)
def releases_group() -> None:
    """List, verify and garbage-collect the releases stored in DEST.

    Example:
        orchestrator releases list s3://models/prod
        orchestrator releases verify s3://models/prod <release-id>
        orchestrator releases gc s3://models/prod --keep 5
    """


@releases_group.command("list")
@click.argument("dest")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, moto).")
@format_option("A table, or a JSON list for machines.")
def releases_list_command(dest: str, endpoint_url: str | None, output_format: str) -> None:
    """List the releases in DEST, newest first, with the environments pointing at them.

    A folder without release.json (a sync that has not finished) shows as incomplete.

    Example:
        orchestrator releases list s3://models/prod --format json
    """
    infos = catalog.list_releases(storage.open_store(dest, endpoint_url=endpoint_url))
    rows = [release_output.release_json(info) for info in infos]
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
            size_text(row["size_bytes"]),
            ",".join(row["environments"]),
            "complete" if row["complete"] else "incomplete",
        )
    Console(soft_wrap=True).print(table)


@releases_group.command("verify")
@click.argument("dest")
@click.argument("release_id", metavar="RELEASE")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, moto).")
@format_option("One line per problem, or one JSON object for machines.")
def releases_verify_command(
    dest: str, release_id: str, endpoint_url: str | None, output_format: str
) -> None:
    """Check every file of RELEASE in DEST against its release.json; exit 1 on a mismatch.

    Run it before pointing an environment at a release that others could have touched.

    Example:
        orchestrator releases verify s3://models/prod 3f1c0a9e5b7d4c2a8e6f1b3d5c7a9e0f
    """
    store = storage.open_store(dest, endpoint_url=endpoint_url)
    problems = catalog.verify_release(store, release_id)
    if output_format == "json":
        click.echo(json.dumps({"release": release_id, "ok": not problems, "problems": problems}))
    else:
        for problem in problems:
            click.echo(problem)
    if problems:
        raise click.ClickException(
            f"Release {release_id} in {dest} does not match its manifest: "
            f"{len(problems)} problem(s). Do not serve it; delete it and sync again."
        )
    click.echo(f"Release {release_id} verifies: every file matches its manifest.", err=True)


@releases_group.command("gc")
@click.argument("dest")
@click.option("--keep", type=click.IntRange(0), required=True, help="Newest releases to keep.")
@click.option("--endpoint-url", help="S3-compatible endpoint (MinIO, moto).")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted, delete nothing.")
@format_option("Lines of text, or one JSON object for machines.")
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
