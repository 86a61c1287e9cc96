"""The release commands: release, sync, and the ``releases`` group (list, verify, gc, diff).

* Output helpers live in ``orchestrator.cli.output.releases`` and ``.jsondata``.
* The library (``orchestrator.releases``) is imported inside each command, when it runs,
  so ``--help`` loads none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.boundary import OrchestratorGroup
from orchestrator.cli.defaults import LATEST
from orchestrator.cli.options import (
    all_versions_option,
    dry_run_option,
    endpoint_url_option,
    format_option,
    repository_option,
    store_argument,
)

if TYPE_CHECKING:
    from orchestrator.core.digest_cache import DigestCache

__all__ = ["release_command", "releases_group", "sync_command"]

_no_digest_cache_option = click.option(
    "--no-digest-cache",
    is_flag=True,
    help="Read and hash every file, ignoring the local digest cache (which skips files "
    "whose inode, size, mtime and ctime are unchanged since they were last hashed).",
)


def _digests(repository: Path, no_digest_cache: bool) -> DigestCache | None:
    from orchestrator.core.digest_cache import DigestCache

    return None if no_digest_cache else DigestCache.for_repository(repository)


@click.command("release")
@repository_option("The model repository to release.", deprecated_positional=True)
@all_versions_option()
@_no_digest_cache_option
@format_option(
    "A summary table, the release manifest (release.json) as JSON, or the release id alone "
    "(one line, for scripts and workflow outputs).",
    choices=("table", "json", "id"),
)
def release_command(
    repository: Path, all_versions: bool, no_digest_cache: bool, output_format: str
) -> None:
    """Build the content-addressed release manifest of a model repository.

    Lists every model with the versions its version_policy serves and the sha256 and
    size of every file; the id is derived from that content. Refuses a repository that
    `validate` rejects. Files unchanged since a previous run on this machine are not read
    again (a local digest cache, outside the repository; see --no-digest-cache).

    Example:
        orchestrator release --repo model_repository/ --format json > release.json
        RELEASE=$(orchestrator release --repo model_repository/ --format id)
    """
    from orchestrator.cli.output.releases import size_text
    from orchestrator.releases import manifest as release_mod

    built = release_mod.build_release(
        repository, all_versions=all_versions, digests=_digests(repository, no_digest_cache)
    )
    if output_format == "id":
        click.echo(built.id)
        return
    if output_format == "json":
        click.echo(built.document().decode(), nl=False)
        return
    click.echo(f"release  {built.id}")
    click.echo(f"files    {len(built.files)} ({size_text(built.size_bytes)})")
    for model in built.models:
        click.echo(f"model    {model.name}: versions {', '.join(map(str, model.versions))}")


@click.command("sync")
@store_argument(deprecated_repository=True)
@repository_option("The model repository whose release is synced.")
@endpoint_url_option()
@all_versions_option()
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel transfers."
)
@dry_run_option("Print the plan (upload, copy, unchanged) only.")
@click.option(
    "--check-files",
    is_flag=True,
    help="When the release is already complete in STORE, also list its folder and refuse "
    "it if a file is missing, of another size, or not in release.json (one LIST per 1,000 "
    "files). Without it, a release.json equal to this repository's release is the proof.",
)
@_no_digest_cache_option
@format_option("A summary, or one JSON object for machines.")
def sync_command(
    store_url: str,
    repository: Path,
    endpoint_url: str | None,
    all_versions: bool,
    jobs: int,
    dry_run: bool,
    check_files: bool,
    no_digest_cache: bool,
    output_format: str,
) -> None:
    """Sync the release of a model repository to STORE/releases/<id>/.

    STORE is file:///path, s3://bucket/prefix or gs://bucket/prefix. Files are compared
    by sha256: content already anywhere in STORE is copied server side, an unchanged
    repository uploads nothing (and reads no file again: see --no-digest-cache).
    release.json is written last, after every file is
    verified, and never overwritten, so a release whose release.json is already there is
    complete: one GET, no listing (see --check-files; `releases verify` checks every
    digest). The printed url is what Triton serves the release
    from (--model-repository=<url>; an --endpoint-url is written into it).

    Refused before anything is read or written: a file:// STORE inside the repository
    (or the repository inside it), and a STORE Triton's path parser would misread
    (bucket [0-9a-z.-], path segments [0-9a-zA-Z._-]).

    Example:
        orchestrator sync s3://models/prod --repo model_repository/ --endpoint-url http://127.0.0.1:9000
    """
    from orchestrator.cli.output import releases as release_output
    from orchestrator.releases import sync as sync_mod

    with release_output.SyncProgress(enabled=not dry_run) as progress:
        report = sync_mod.sync(
            repository,
            store_url,
            endpoint_url=endpoint_url,
            all_versions=all_versions,
            jobs=jobs,
            dry_run=dry_run,
            on_plan=progress.on_plan,
            on_progress=progress.advance,
            digests=_digests(repository, no_digest_cache),
            check_files=check_files,
        )
    if output_format == "json":
        from orchestrator.cli.output.jsondata import echo_json

        echo_json(report)
    else:
        release_output.print_sync(report)


@click.group("releases", cls=OrchestratorGroup)
def releases_group() -> None:
    """List, verify and garbage-collect the releases stored in STORE.

    Example:
        orchestrator releases list s3://models/prod
        orchestrator releases verify s3://models/prod <release-id>
        orchestrator releases gc s3://models/prod --keep 5
        orchestrator releases diff s3://models/prod --from-env staging <release-id>
    """


@releases_group.command("list")
@store_argument()
@endpoint_url_option()
@format_option("A table, or a JSON list for machines.")
def releases_list_command(store_url: str, endpoint_url: str | None, output_format: str) -> None:
    """List the releases in STORE, newest first, with the environments pointing at them.

    A folder without release.json (a sync that has not finished) shows as incomplete.
    A STORE with no release folder at all (a misspelled prefix, or nothing synced yet)
    is an error: exit 1 with a message, nothing on stdout.

    Example:
        orchestrator releases list s3://models/prod --format json
    """
    from orchestrator.cli.output import releases as release_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.releases import catalog
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    infos = catalog.list_releases(store)
    if not infos:
        raise click.ClickException(_nothing_under(store.url))
    if output_format == "json":
        echo_json(infos)
    else:
        release_output.print_releases(infos)


@releases_group.command("verify")
@store_argument()
@click.argument("release_id", metavar="RELEASE")
@endpoint_url_option()
@format_option("One line per problem, or one JSON object for machines.")
def releases_verify_command(
    store_url: str, release_id: str, endpoint_url: str | None, output_format: str
) -> None:
    """Check every file of RELEASE in STORE against its release.json; exit 1 on a mismatch.

    Run it before pointing an environment at a release that others could have touched.
    RELEASE is an id, or `latest` for the newest complete release (as in deploy --release).

    Example:
        orchestrator releases verify s3://models/prod 3f1c0a9e5b7d4c2a8e6f1b3d5c7a9e0f
        orchestrator releases verify s3://models/prod latest
    """
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.deploy.release_files import resolve_release
    from orchestrator.releases import catalog
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    if release_id == LATEST:
        release_id = resolve_release(store, LATEST)
        click.echo(f"latest is release {release_id}", err=True)
    problems = catalog.verify_release(store, release_id)
    if output_format == "json":
        echo_json({"release": release_id, "ok": not problems, "problems": problems})
    else:
        for problem in problems:
            click.echo(problem)
    if problems:
        raise click.ClickException(
            f"Release {release_id} in {store.url} does not match its manifest: "
            f"{len(problems)} problem(s). Do not serve it; delete it and sync again."
        )
    click.echo(f"Release {release_id} verifies: every file matches its manifest.", err=True)


@releases_group.command("gc")
@store_argument()
@click.option("--keep", type=click.IntRange(0), required=True, help="Newest releases to keep.")
@endpoint_url_option()
@dry_run_option("Print what would be deleted, delete nothing.")
@format_option("Lines of text, or one JSON object for machines.")
def releases_gc_command(
    store_url: str, keep: int, endpoint_url: str | None, dry_run: bool, output_format: str
) -> None:
    """Delete all but the KEEP newest releases; never one an environment points at.

    Every environment's current release and its previous one (what a rollback returns
    to) are kept whatever their age. Unfinished syncs (no release.json) are left alone.

    Example:
        orchestrator releases gc s3://models/prod --keep 5 --dry-run
    """
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.releases import catalog
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    report = catalog.gc_releases(store, keep, dry_run=dry_run)
    if not (report.deleted or report.kept or report.protected):
        click.echo(f"Note: {_nothing_under(store.url)}", err=True)
    if output_format == "json":
        echo_json(report)
        return
    verb = "would delete" if dry_run else "deleted"
    for release_id in report.deleted:
        click.echo(f"{verb}  {release_id}")
    for release_id in report.protected:
        pinned = ", ".join(report.pinned_by.get(release_id, ()))
        click.echo(f"kept     {release_id} (pointed at by {pinned})")
    click.echo(
        f"{len(report.deleted)} release(s) {verb} ({report.deleted_objects} objects), "
        f"{len(report.kept)} newest kept, {len(report.protected)} protected.",
        err=True,
    )


@releases_group.command("diff")
@store_argument()
@click.argument("release_ids", metavar="[OLD] NEW", nargs=-1)
@click.option(
    "--from-env",
    "from_env",
    metavar="ENV",
    help="Compare NEW with the release ENV runs now (instead of an OLD id); an environment "
    "that runs nothing yet makes NEW a first release.",
)
@endpoint_url_option()
@format_option(
    "Lines of text, one JSON object for machines, or Markdown (for $GITHUB_STEP_SUMMARY).",
    choices=("table", "json", "markdown"),
)
def releases_diff_command(
    store_url: str,
    release_ids: tuple[str, ...],
    from_env: str | None,
    endpoint_url: str | None,
    output_format: str,
) -> None:
    """Show what changed from release OLD to release NEW: models and versions added or removed.

    Both are read from their release.json in STORE. Give two ids (OLD NEW), or one id and
    --from-env ENV to compare with what ENV runs now. A model whose config or other
    model-level file differs, or a version whose files differ, is "changed".

    Example:
        orchestrator releases diff s3://models/prod 3f1c0a9e 9a0b7c6d
        orchestrator releases diff s3://models/prod --from-env staging 9a0b7c6d --format markdown
    """
    expected = 1 if from_env is not None else 2
    if len(release_ids) != expected:
        shape = "NEW (with --from-env)" if from_env is not None else "OLD NEW"
        raise click.UsageError(
            f"Expected {shape}, got {len(release_ids)} release id(s): "
            f"{' '.join(release_ids) or 'none'}. Example: orchestrator releases diff STORE "
            + ("--from-env staging NEW" if from_env is not None else "OLD NEW")
        )
    from orchestrator.cli.output import release_diff as diff_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.releases import diff as diff_mod
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    if from_env is not None:
        diff = diff_mod.diff_from_environment(store, from_env, release_ids[0])
    else:
        diff = diff_mod.diff_releases(store, release_ids[0], release_ids[1])
    if output_format == "json":
        echo_json(diff)
    elif output_format == "markdown":
        click.echo(diff_output.markdown_text(diff), nl=False)
    else:
        diff_output.print_diff(diff)


def _nothing_under(store_url: str) -> str:
    from orchestrator.releases.stores.base import redact

    return (
        f"No releases under {redact(store_url)}/releases/; check the prefix (and "
        "--endpoint-url), or sync a release there first."
    )
