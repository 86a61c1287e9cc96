"""The repository commands: publish, list and validate a local model repository.

* Each command imports its library (``orchestrator.repository``, and the store's version
  registry for ``--store``) when it runs, so ``--help`` loads none of it.
* The defaults the options show come from ``cli.defaults``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.defaults import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_QUEUE_DELAY_US,
    DEFAULT_TRITON_RELEASE,
    INT32_MAX,
    TRITON_RELEASES,
    UINT64_MAX,
)
from orchestrator.cli.options import (
    endpoint_url_option,
    format_option,
    model_option,
    registry_option,
    repository_option,
)

if TYPE_CHECKING:
    from orchestrator.repository.exports import BundleResult
    from orchestrator.repository.publish import PublishResult

__all__ = ["list_command", "publish_command", "validate_command"]


@click.command("publish")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@repository_option("The model repository to publish into (created when missing).", file_okay=False)
@model_option("Model name (default: export.json's model_name, else file stem).", required=False)
@click.option(
    "--update-config",
    is_flag=True,
    help="Regenerate the config's inputs, outputs and batching when they no longer fit.",
)
@click.option(
    "--new-version",
    is_flag=True,
    help="Publish a new version even when one already holds a byte-identical model file.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=0, max=INT32_MAX),
    help=f"Batch size limit (default: {DEFAULT_MAX_BATCH_SIZE} with a dynamic batch axis, else 0).",
)
@click.option(
    "--preferred-batch-size",
    "preferred",
    type=click.IntRange(min=1, max=INT32_MAX),
    multiple=True,
    help="Dynamic batching preferred size (repeatable; default: none, as Triton recommends "
    "until a measurement such as `orchestrator tune` shows one helps).",
)
@click.option(
    "--queue-delay-us",
    type=click.IntRange(min=0, max=UINT64_MAX),
    default=DEFAULT_QUEUE_DELAY_US,
    show_default=True,
    help="Dynamic batching max_queue_delay_microseconds (0: no delay, Triton's default).",
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
    type=click.IntRange(min=1, max=INT32_MAX),
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
@registry_option(
    "Number new model files from STORE's version registry (what the pipeline does): "
    "the same file always gets the same number, a new one the next never used."
)
@endpoint_url_option()
@format_option("Print the result as text or as one JSON object.")
def publish_command(
    source: Path,
    repository: Path,
    model: str | None,
    update_config: bool,
    new_version: bool,
    max_batch_size: int | None,
    preferred: tuple[int, ...],
    queue_delay_us: int,
    instance_kind: str,
    instance_count: int,
    version_policy: str,
    no_warmup: bool,
    store_url: str | None,
    endpoint_url: str | None,
    output_format: str,
) -> None:
    """Publish an export bundle, a bare .onnx file, or every bundle of a folder.

    SOURCE is one bundle (a folder with model.onnx, export.json, golden.npz), a bare
    .onnx file, or a folder of them such as models/exports/: <model>/ bundles,
    <model>/<name>/ bundles (several of one model) and bare .onnx files, published in
    the byte order of their paths; hidden files are ignored, links refused.

    Publishing is idempotent by content: a bundle whose model file is byte-identical to
    an existing version of its model is not published again (it prints which version
    holds it, exit 0, and writes nothing); --new-version publishes it anyway. A version
    is staged and renamed into place, so it appears whole or not at all; a new model
    gets a generated config.pbtxt, an existing model's config must match the new graph
    (or pass --update-config).

    Without --store a new version takes the next number after the repository's. With
    --store (the pipeline's way) the store's version registry numbers it, so a (model,
    version) names one model file on every machine and in every release; the
    repository's own versions are checked against the registry first.

    Example:
        orchestrator publish models/exports --repo model_repository --store s3://models/prod
    """
    from orchestrator.cli.output import repository as repository_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.releases.stores import open_store
    from orchestrator.releases.version_registry import VersionRegistry
    from orchestrator.repository.exports import is_bundle, publish_exports
    from orchestrator.repository.generate import GenerationOptions
    from orchestrator.repository.publish import publish

    options = GenerationOptions(
        max_batch_size=max_batch_size,
        preferred_batch_sizes=preferred,
        max_queue_delay_microseconds=queue_delay_us,
        instance_kind=instance_kind,
        instance_count=instance_count,
        version_policy=version_policy,
        warmup=not no_warmup,
    )
    number = None
    if store_url is not None:
        if new_version:
            raise click.UsageError(
                "--new-version gives a model file a second number, which --store's version "
                "registry refuses (a number names one model file). Drop one of them."
            )
        registry = VersionRegistry(open_store(store_url, endpoint_url=endpoint_url))
        repository.mkdir(parents=True, exist_ok=True)
        registry.register_repository(repository)
        number = registry.number
    if not is_bundle(source):
        if model is not None:
            raise click.UsageError(
                f"--model names one model, but {source} is a folder of bundles (each is "
                "published as the model its folder or file is named after). Drop --model, "
                "or publish one bundle with it.",
            )
        report = publish_exports(
            source,
            repository,
            new_version=new_version,
            update_config=update_config,
            options=options,
            on_result=None if output_format == "json" else _print_bundle_result,
            number=number,
        )
        if output_format == "json":
            echo_json(report)
        click.echo(report.summary(), err=True)
        return
    result = publish(
        source,
        repository,
        model,
        update_config=update_config,
        options=options,
        new_version=new_version,
        number=number,
    )
    if output_format == "json":
        echo_json(result)
    else:
        click.echo(repository_output.publish_line(result))
    _echo_config_written(result)


def _print_bundle_result(done: BundleResult) -> None:
    from orchestrator.cli.output import repository as repository_output

    click.echo(repository_output.publish_line(done.result))
    _echo_config_written(done.result)


def _echo_config_written(result: PublishResult) -> None:
    if not result.config_written:
        return
    click.echo(f"Wrote {result.config_path}", err=True)
    if result.comment_kept:
        click.echo(
            f"Kept the comment above {result.config_path} (its batching is unchanged).", err=True
        )
    if result.comment_dropped:
        click.echo(
            f"Dropped the comment above {result.config_path}: --update-config regenerated the "
            "dynamic_batching it records to fit the new graph, so the measurement no longer "
            "applies. Run `orchestrator tune --write` to measure the new batching. It read:\n"
            + result.comment_dropped.rstrip("\n"),
            err=True,
        )


@click.command("list")
@repository_option("The model repository to list.", file_okay=False, deprecated_positional=True)
@format_option("A table for people, or JSON for machines.")
def list_command(repository: Path, output_format: str) -> None:
    """List models, versions, which versions are served, sizes and metrics.

    Example:
        orchestrator list --repo model_repository --format json
    """
    from orchestrator.cli.output import repository as repository_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.repository.listing import list_repository

    models = list_repository(repository)
    if output_format == "json":
        echo_json(models)
    else:
        repository_output.print_listing(models)


@click.command("validate")
@repository_option(
    "The model repository to check.", exists=True, file_okay=False, deprecated_positional=True
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1 on any finding).")
@click.option(
    "--triton-release",
    type=click.Choice(TRITON_RELEASES),
    default=DEFAULT_TRITON_RELEASE,
    show_default=True,
    help="Production Triton release, for the ONNX Runtime it bundles.",
)
@click.option(
    "--auto-complete",
    is_flag=True,
    help="Judge for a server started without --disable-auto-complete-config (Triton's "
    "default): config.pbtxt may be missing and the onnxruntime backend fills in inputs, "
    "outputs and max_batch_size from the graph. Default: production's strict mode.",
)
@registry_option(
    "Also check every version against STORE's version registry: a version whose "
    "number the store gives another model file is an error (read only)."
)
@endpoint_url_option()
@format_option("One finding per line, or a JSON list of findings.")
def validate_command(
    repository: Path,
    strict: bool,
    triton_release: str,
    auto_complete: bool,
    store_url: str | None,
    endpoint_url: str | None,
    output_format: str,
) -> None:
    """Find, offline, everything Triton would refuse to load in a model repository.

    Exit 0 when Triton would load every model (warnings allowed), 1 with errors (or
    any finding with --strict), 2 for usage errors.

    Example:
        orchestrator validate --repo model_repository --strict
        orchestrator validate --repo model_repository --store s3://models/prod
    """
    from orchestrator.repository.validation.validate import validate_repository

    findings = validate_repository(
        repository, triton_release=triton_release, auto_complete=auto_complete
    )

    if output_format == "json":
        from orchestrator.cli.output.jsondata import echo_json

        echo_json(findings)
    else:
        for finding in findings:
            click.echo(str(finding))
    errors = sum(f.is_error for f in findings)
    warnings = len(findings) - errors
    if store_url is not None:
        from orchestrator.releases.stores import open_store
        from orchestrator.releases.version_registry import VersionRegistry

        store = open_store(store_url, endpoint_url=endpoint_url)
        reused = VersionRegistry(store).conflicts(repository)
        for line in reused:
            click.echo(f"error: version-reused: {line}", err=True)
        if reused:
            raise click.ClickException(
                f"{errors + len(reused)} error(s) and {warnings} warning(s) in {repository}: "
                f"{len(reused)} version(s) reuse a number {store.url} registers for another "
                "model file"
            )
    if errors or (strict and warnings):
        raise click.ClickException(
            f"{errors} error(s) and {warnings} warning(s) in {repository}"
            + (" (--strict: warnings count)" if strict and not errors else "")
        )
    click.echo(f"{repository}: Triton would load every model ({warnings} warning(s)).", err=True)
