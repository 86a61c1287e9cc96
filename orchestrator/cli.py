"""The ``orchestrator`` command line: one click group, each command one library call."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, cast

import click
from rich.console import Console
from rich.table import Table

from orchestrator import __version__, catalog, perf_output, release_output, serving_output, storage
from orchestrator import bench as bench_module
from orchestrator import release as release_mod
from orchestrator import sync as sync_mod
from orchestrator import tune as tune_module
from orchestrator.client import Protocol
from orchestrator.compatibility import DEFAULT_TRITON_RELEASE, RUNTIMES
from orchestrator.demo import run_demo
from orchestrator.errors import OrchestratorError
from orchestrator.golden import DEFAULT_TOLERANCE, Tolerance
from orchestrator.inference import infer_file
from orchestrator.listing import ModelListing, list_repository
from orchestrator.model_config import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_QUEUE_DELAY_US,
    GenerationOptions,
)
from orchestrator.publish import publish
from orchestrator.release_output import size_text
from orchestrator.serve import ServeReport, serve
from orchestrator.smoke import PROTOCOLS, Endpoints, smoke
from orchestrator.swap import swap
from orchestrator.triton import ServerOptions
from orchestrator.validation import validate_repository

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

    Example, from the repository root:

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


@cli.command("publish")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="The model repository to publish into (created when missing).",
)
@click.option("--model", help="Model name (default: export.json's model_name, else file stem).")
@click.option(
    "--update-config",
    is_flag=True,
    help="Regenerate the config's inputs, outputs and batching when they no longer fit.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=0),
    help=f"Batch size limit (default: {DEFAULT_MAX_BATCH_SIZE} with a dynamic batch axis, else 0).",
)
@click.option(
    "--preferred-batch-size",
    "preferred",
    type=click.IntRange(min=1),
    multiple=True,
    help="Dynamic batching preferred size (repeatable; default: 1/4, 1/2 and all of the max).",
)
@click.option(
    "--queue-delay-us",
    type=click.IntRange(min=0),
    default=DEFAULT_QUEUE_DELAY_US,
    show_default=True,
    help="Dynamic batching max_queue_delay_microseconds.",
)
@click.option(
    "--instance-kind",
    type=click.Choice(["KIND_GPU", "KIND_CPU"]),
    default="KIND_GPU",
    show_default=True,
    help="Instance group kind of a new config.",
)
@click.option(
    "--instance-count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Instances per device.",
)
@click.option(
    "--version-policy",
    default="latest:1",
    show_default=True,
    help="latest[:N], all, or specific:1,3.",
)
@click.option("--no-warmup", is_flag=True, help="Leave model_warmup out of a new config.")
@click.option(
    "--format", "output_format", type=FORMATS, default="table", show_default=True,
    help="Print the result as text or as one JSON object.",
)  # fmt: skip
def publish_command(
    source: Path,
    repo: Path,
    model: str | None,
    update_config: bool,
    max_batch_size: int | None,
    preferred: tuple[int, ...],
    queue_delay_us: int,
    instance_kind: str,
    instance_count: int,
    version_policy: str,
    no_warmup: bool,
    output_format: str,
) -> None:
    """Publish an export bundle or a bare .onnx file as the model's next version.

    The version folder is staged and renamed into place, so it appears whole or not at
    all; a new model gets a generated config.pbtxt, an existing model's config must
    match the new graph (or pass --update-config).

    Example:
        orchestrator publish models/exports/digits_cnn --repo model_repository
    """
    options = GenerationOptions(
        max_batch_size=max_batch_size,
        preferred_batch_sizes=preferred or None,
        max_queue_delay_microseconds=queue_delay_us,
        instance_kind=instance_kind,
        instance_count=instance_count,
        version_policy=version_policy,
        warmup=not no_warmup,
    )
    result = publish(source, repo, model, update_config=update_config, options=options)
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "model": result.model,
                    "version": result.version,
                    "path": str(result.path),
                    "config": str(result.config_path),
                    "config_written": result.config_written,
                    "files": {
                        n: {"sha256": d.sha256, "size_bytes": d.size_bytes}
                        for n, d in result.files.items()
                    },
                }
            )
        )
    else:
        click.echo(f"{result.model} {result.version} {result.path}")
    if result.config_written:
        click.echo(f"Wrote {result.config_path}", err=True)


@cli.command("list")
@click.argument(
    "repository", type=click.Path(file_okay=False, path_type=Path), default=Path("model_repository")
)
@click.option(
    "--format", "output_format", type=FORMATS, default="table", show_default=True,
    help="A table for people, or JSON for machines.",
)  # fmt: skip
def list_command(repository: Path, output_format: str) -> None:
    """List models, versions, which versions are served, sizes and metrics.

    Example:
        orchestrator list model_repository --format json
    """
    models = list_repository(repository)
    if output_format == "json":
        click.echo(json.dumps([_listing_json(m) for m in models]))
        return
    table = Table("model", "version", "served", "size", "sha256", "metrics")
    for model in models:
        if model.error:
            table.add_row(model.name, "", "", "", "", f"[red]{model.error}[/red]")
        for version in model.versions:
            metrics = ", ".join(f"{k}={_short(v)}" for k, v in sorted(version.metrics.items()))
            table.add_row(
                model.name,
                str(version.version),
                "yes" if version.served else "",
                size_text(version.size_bytes),
                version.sha256[:12],
                metrics,
            )
    Console(soft_wrap=True).print(table)


@cli.command("validate")
@click.argument(
    "repository",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("model_repository"),
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any finding).")
@click.option(
    "--triton-release",
    type=click.Choice(sorted(RUNTIMES)),
    default=DEFAULT_TRITON_RELEASE,
    show_default=True,
    help="Production Triton release, for the ONNX Runtime it bundles.",
)
@click.option(
    "--format", "output_format", type=FORMATS, default="table", show_default=True,
    help="One finding per line, or a JSON list of findings.",
)  # fmt: skip
def validate_command(
    repository: Path, strict: bool, triton_release: str, output_format: str
) -> None:
    """Find, offline, everything Triton would refuse to load in REPOSITORY.

    Exit 0 when Triton would load every model (warnings allowed), 1 with errors (or
    any finding with --strict), 2 for usage errors.

    Example:
        orchestrator validate model_repository --strict
    """
    findings = validate_repository(repository, triton_release=triton_release)
    if output_format == "json":
        click.echo(json.dumps([f.as_json() for f in findings]))
    else:
        for finding in findings:
            click.echo(str(finding))
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    if errors or (strict and warnings):
        raise click.ClickException(
            f"{errors} error(s) and {warnings} warning(s) in {repository}"
            + (" (--strict: warnings count)" if strict and not errors else "")
        )
    click.echo(f"{repository}: Triton would load every model ({warnings} warning(s)).", err=True)


# --- serving commands (smoke, infer, swap, demo) ----------------------------------------

PROTOCOL_CHOICE = click.Choice(["http", "grpc", "both"])
_URL_HELP = "HOST:PORT of the server's HTTP endpoint."
_GRPC_URL_HELP = "HOST:PORT of the server's gRPC endpoint (default: the HTTP port + 1)."


def _protocols(choice: str) -> tuple[Protocol, ...]:
    return PROTOCOLS if choice == "both" else (cast(Protocol, choice),)


@cli.command("smoke")
@click.option("--url", required=True, help=_URL_HELP)
@click.option("--grpc-url", help=_GRPC_URL_HELP)
@click.option(
    "--protocol",
    type=PROTOCOL_CHOICE,
    default="both",
    show_default=True,
    help="Protocol(s) to send the golden requests over.",
)
@click.option("--model", "models", multiple=True, help="Check only this model (repeatable).")
@click.option(
    "--repo",
    "repository",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="Local copy of the served repository: configs and each version's golden.npz.",
)
@click.option(
    "--rtol",
    type=float,
    default=DEFAULT_TOLERANCE.rtol,
    show_default=True,
    help="Relative tolerance for models whose config sets no smoke_rtol parameter.",
)
@click.option(
    "--atol",
    type=float,
    default=DEFAULT_TOLERANCE.atol,
    show_default=True,
    help="Absolute tolerance for models whose config sets no smoke_atol parameter.",
)
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A table, or JSON for machines.",
)
def smoke_command(
    url: str,
    grpc_url: str | None,
    protocol: str,
    models: tuple[str, ...],
    repository: Path,
    rtol: float,
    atol: float,
    output_format: str,
) -> None:
    """Send every served version its own golden inputs and compare the answers.

    For each served model version and protocol: the model metadata must match the
    repository's config.pbtxt (names, datatypes, shapes), and the answers to the
    version's golden.npz inputs must match its golden outputs within
    |served - expected| <= atol + rtol * |expected|. A model can set its own tolerance
    with the config parameters smoke_rtol and smoke_atol. Exit 1 when anything is off,
    naming the worst mismatch.

    Example, from the repository root:

        orchestrator smoke --url 127.0.0.1:8000 --repo model_repository/
    """
    report = smoke(
        Endpoints.from_urls(url, grpc_url),
        repository,
        models=models or None,
        protocols=_protocols(protocol),
        default_tolerance=Tolerance(rtol=rtol, atol=atol),
    )
    if output_format == "json":
        click.echo(json.dumps(serving_output.smoke_json(report)))
    else:
        serving_output.print_smoke(report)
    report.raise_for_failures()


@cli.command("infer")
@click.option(
    "--url", required=True, help="HOST:PORT of the server (HTTP, or gRPC with --protocol grpc)."
)
@click.option("--model", required=True, help="The model to call.")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inputs: .npy (one-input models), .npz (one array per input) or .json {name: lists}.",
)
@click.option("--version", default="", help="Pin a version (default: the server picks).")
@click.option(
    "--protocol",
    type=click.Choice(["http", "grpc"]),
    default="http",
    show_default=True,
    help="Protocol of --url.",
)
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A table, or JSON with every value for machines.",
)
def infer_command(
    url: str, model: str, input_path: Path, version: str, protocol: str, output_format: str
) -> None:
    """Send one request with the tensors in a file and print the outputs.

    The file's tensors are checked against the served model's inputs (names, dtypes,
    shapes) before anything is sent.

    Example, from the repository root:

        orchestrator infer --url 127.0.0.1:8000 --model cancer_mlp --input x.json
    """
    result = infer_file(url, model, input_path, version=version, protocol=cast(Protocol, protocol))
    if output_format == "json":
        click.echo(json.dumps(serving_output.infer_json(result)))
    else:
        serving_output.print_infer(result)


@cli.command("swap")
@click.option("--url", required=True, help=_URL_HELP)
@click.option("--grpc-url", help=_GRPC_URL_HELP)
@click.option("--model", required=True, help="The model whose served version changes.")
@click.option(
    "--to", "to_version", required=True, type=click.IntRange(min=1), help="The version to serve."
)
@click.option(
    "--repo",
    "repository",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="Local copy of the served repository: the config and the version's golden.npz.",
)
@click.option(
    "--protocol",
    type=PROTOCOL_CHOICE,
    default="both",
    show_default=True,
    help="Protocol(s) the new version is smoke-tested over before it takes all traffic.",
)
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="A summary, or JSON for machines.",
)
def swap_command(
    url: str,
    grpc_url: str | None,
    model: str,
    to_version: int,
    repository: Path,
    protocol: str,
    output_format: str,
) -> None:
    """Replace the served version of a model on a running Triton, with no downtime.

    Loads the new version beside the old one (explicit model control), warms it up,
    smoke-tests it by version, then serves only it so the old one unloads. If it fails
    to load or fails its smoke test, it is unloaded, the old version keeps serving, and
    the command exits 1. Ctrl-C leaves the old or the new version serving, never none.

    Example, from the repository root:

        orchestrator swap --url 127.0.0.1:8000 --model digits_cnn --to 2
    """
    report = swap(
        Endpoints.from_urls(url, grpc_url),
        repository,
        model,
        to_version,
        protocols=_protocols(protocol),
        on_step=lambda line: click.echo(line, err=True),
    )
    if output_format == "json":
        click.echo(json.dumps(serving_output.swap_json(report)))
    else:
        before = ", ".join(map(str, report.from_versions)) or "none"
        click.echo(
            f"{report.model}: version(s) {before} -> {report.to_version} "
            f"(load {report.load_s:.1f} s, total {report.total_s:.1f} s)"
        )


@cli.command("demo")
@click.option(
    "--repo",
    "repository",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="The shipped repository to start from (copied, never changed).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the workspace (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the workspace afterwards, to look at it.")
def demo_command(repository: Path, workdir: Path | None, keep: bool) -> None:
    """Run the whole path on this machine: train, publish, serve, smoke, swap.

    In a temporary workspace: train digits_cnn (or reuse the shipped version without
    torch), publish it as a new version next to a copy of the shipped repository,
    validate, serve on a real Triton, smoke-test over HTTP and gRPC, classify the
    held-out digits through Triton, swap to the new version under load, and shut down.
    Progress goes to stderr, the summary to stdout.

    Example, from the repository root:

        orchestrator demo
    """
    report = run_demo(
        repository, workdir=workdir, keep=keep, say=lambda line: click.echo(line, err=True)
    )
    click.echo(report.summary())


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
    click.echo(f"files    {len(built.files)} ({size_text(built.size_bytes)})")
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


@cli.group("releases", cls=OrchestratorGroup)
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
@click.option(
    "--format",
    "output_format",
    type=FORMATS,
    default="table",
    show_default=True,
    help="One line per problem, or one JSON object for machines.",
)
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


def _concurrency_option(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return bench_module.parse_concurrency(value)
    except OrchestratorError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command("bench")
@click.option(
    "--url", required=True, help="Triton endpoint HOST:PORT (HTTP, or gRPC with --protocol grpc)."
)
@click.option("--model", required=True, help="The served model to measure.")
@click.option(
    "--protocol",
    type=click.Choice(["http", "grpc"]),
    default="http",
    show_default=True,
    help="Protocol of --url.",
)
@click.option(
    "--concurrency",
    default="1,2,4,8,16,32",
    show_default=True,
    callback=_concurrency_option,
    help="Comma-separated requests in flight, one measurement per level.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows per request.",
)
@click.option(
    "--window-s",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Length of one measurement window.",
)
@click.option(
    "--warmup-s",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    help="Unmeasured load before each level.",
)
@click.option(
    "--max-windows",
    type=click.IntRange(min=3),
    default=10,
    show_default=True,
    help="Windows per level before giving up on stability.",
)
@click.option(
    "--golden",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inputs from this .npz (inputs/<tensor>); default: golden.npz in --repo, else random.",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="Where to look for <model>/<version>/golden.npz.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "orchestrator", "perf_analyzer"]),
    default="auto",
    show_default=True,
    help="auto: perf_analyzer when on PATH, else the built-in load generator.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="How to print the results.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write throughput against p99 latency as a PNG.",
)
def bench_command(
    url: str,
    model: str,
    protocol: str,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    warmup_s: float,
    max_windows: int,
    golden: Path | None,
    repo: Path,
    engine: str,
    output_format: str,
    plot_path: Path | None,
) -> None:
    """Measure throughput and latency of a served model per concurrency level.

    Each level runs until three consecutive windows agree within 10% (as perf_analyzer
    does); the warm-up is not measured. Server queue and compute times come from
    Triton's own statistics. A server that dies mid-run keeps the finished levels.

    Example:
        orchestrator bench --url 127.0.0.1:8000 --model digits_cnn --plot bench.png
    """
    options = bench_module.BenchOptions(
        url=url,
        model=model,
        protocol="grpc" if protocol == "grpc" else "http",
        concurrency=concurrency,
        batch_size=batch_size,
        window_s=window_s,
        warmup_s=warmup_s,
        max_windows=max_windows,
        golden=golden or bench_module.find_golden(repo, model),
    )
    report = bench_module.bench(options, engine=_engine(engine))
    perf_output.print_bench(report, output_format)
    if plot_path is not None and report.levels:
        from orchestrator.plot import plot_throughput_latency  # matplotlib loads slowly

        plot_throughput_latency([report], plot_path)
        click.echo(f"Wrote {plot_path}", err=True)
    if report.error:
        raise click.ClickException(report.error)


@cli.command("tune")
@click.option("--model", required=True, help="The model (its folder name in --repo) to tune.")
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("model_repository"),
    show_default=True,
    help="The model repository; a local Triton serves it during the search.",
)
@click.option(
    "--latency-budget-ms",
    type=click.FloatRange(min=0.0, min_open=True),
    help="Highest p99 latency allowed (default: no limit, highest throughput wins).",
)
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Configs to search, the current one included (re-measurements come on top).",
)
@click.option(
    "--concurrency",
    default="1,4,16,32",
    show_default=True,
    callback=_concurrency_option,
    help="Comma-separated concurrency levels each config is measured at.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rows per request.",
)
@click.option(
    "--window-s",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Length of one measurement window.",
)
@click.option(
    "--confirm-rounds",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Re-measure a winner and the current config this often before changing anything.",
)
@click.option("--write", is_flag=True, help="Write the winner into <repo>/<model>/config.pbtxt.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the trials and the result.",
)
def tune_command(
    model: str,
    repo: Path,
    latency_budget_ms: float | None,
    max_trials: int,
    concurrency: tuple[int, ...],
    batch_size: int,
    window_s: float,
    confirm_rounds: int,
    write: bool,
    output_format: str,
) -> None:
    """Find the dynamic-batching settings with the highest throughput within a p99 budget.

    Starts a local Triton on REPO, loads each candidate config through the load API's
    config override (batching off/on, queue delay, preferred batch sizes, instance
    count, ONNX Runtime threads), measures it like `bench`, and prints the diff
    against the current config. --write updates config.pbtxt only (never a version).

    Example:
        orchestrator tune --model digits_cnn --latency-budget-ms 20 --write
    """
    options = tune_module.TuneOptions(
        model=model,
        repository=repo,
        latency_budget_ms=latency_budget_ms,
        max_trials=max_trials,
        concurrency=concurrency,
        batch_size=batch_size,
        window_s=window_s,
        confirm_rounds=confirm_rounds,
    )
    report = tune_module.tune(
        options, on_trial=lambda t: click.echo(f"measured {t.candidate.label}", err=True)
    )
    if write and report.best is not None:
        report = tune_module.write_config(report)
    perf_output.print_tune(report, output_format)
    if not report.budget_met:
        closest = report.closest
        hint = ""
        if closest is not None and closest.report is not None and closest.report.levels:
            p99 = min(level.p99_ms for level in closest.report.levels)
            hint = f" The lowest p99 found was {p99:.2f} ms ({closest.candidate.label})."
        raise click.ClickException(
            f"No candidate kept p99 within {latency_budget_ms} ms.{hint} Raise "
            "--latency-budget-ms or measure at lower --concurrency."
        )


def _engine(name: str) -> bench_module.Engine:
    return (
        "perf_analyzer"
        if name == "perf_analyzer"
        else "orchestrator"
        if name == "orchestrator"
        else "auto"
    )


# --- output helpers ---------------------------------------------------------------------


def _listing_json(model: ModelListing) -> dict[str, Any]:
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


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
