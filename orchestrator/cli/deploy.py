"""The cluster commands: deploy, rollback, status, promote (kubectl through one runner).

The kubectl runner is ``orchestrator.deploy.kubectl.SubprocessKubectl`` unless the click
context object carries another under ``"kubectl"`` (``cli.main(obj={"kubectl": runner})``;
the tests inject their recording runner this way). Output helpers live in
``orchestrator.cli.output.deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from orchestrator.cli.common import (
    FiniteFloat,
    HostPort,
    dry_run_option,
    endpoint_url_option,
    format_option,
    store_argument,
)
from orchestrator.cli.output import deploy as deploy_output
from orchestrator.cli.output.jsondata import echo_json
from orchestrator.deploy import promote as promote_mod
from orchestrator.deploy import rollout
from orchestrator.deploy import status as status_mod
from orchestrator.deploy.kubectl import KubectlRunner, SubprocessKubectl
from orchestrator.deploy.render import DEFAULT_MANIFESTS
from orchestrator.releases import stores as storage

__all__ = ["deploy_command", "promote_command", "rollback_command", "status_command"]

F = TypeVar("F", bound=Callable[..., Any])


def _runner() -> KubectlRunner:
    obj = click.get_current_context().obj
    injected = obj.get("kubectl") if isinstance(obj, dict) else None
    return injected if injected is not None else SubprocessKubectl()


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _cluster_options(f: F) -> F:
    """--env, --manifests and --url, shared by deploy, rollback and status."""
    f = _where_options(f)
    return click.option(
        "--env",
        "environment",
        required=True,
        help="The environment: its overlay (overlays/ENV) and its pointer in STORE.",
    )(f)


def _where_options(f: F) -> F:
    """--manifests and --url: the overlays, and where the smoke reaches Triton."""
    f = click.option(
        "--url",
        type=HostPort(),
        metavar="HOST:PORT",
        help="Reach Triton here (the Service's HTTP port) instead of kubectl port-forward.",
    )(f)
    return click.option(
        "--manifests",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        metavar="DIRECTORY",
        default=DEFAULT_MANIFESTS,
        show_default=True,
        help="The kustomize folder with base/ and overlays/<env>/.",
    )(f)


def _rollout_options(f: F) -> F:
    """--timeout-s, --smoke-timeout-s, --dry-run and --format of deploy, rollback, promote."""
    f = format_option("A summary, or one JSON object for machines.")(f)
    f = dry_run_option("Print the rendered manifests and the commands; change nothing.")(f)
    f = click.option(
        "--smoke-timeout-s",
        type=FiniteFloat(min=1),
        default=120.0,
        show_default=True,
        help="How long the golden smoke may wait for Triton to answer.",
    )(f)
    return click.option(
        "--timeout-s",
        type=FiniteFloat(min=1),
        default=1260.0,
        show_default=True,
        help="How long the rollout (and an undo) may take (kubectl rollout status); above "
        "the manifests' progressDeadlineSeconds (1200), so Kubernetes decides first.",
    )(f)


@click.command("deploy")
@store_argument()
@click.option("--release", "release", required=True, help="A release id, or latest.")
@_cluster_options
@endpoint_url_option()
@_rollout_options
def deploy_command(
    store_url: str,
    release: str,
    environment: str,
    manifests: Path,
    url: str | None,
    endpoint_url: str | None,
    timeout_s: float,
    smoke_timeout_s: float,
    dry_run: bool,
    output_format: str,
) -> None:
    """Roll a release out to an environment; undo it automatically if anything fails.

    Refuses a release that does not verify or lacks golden data, and a store URL Triton
    could not parse. Renders overlays/ENV for the release, applies it, waits for the
    rollout, then golden-smoke-tests every served version through the Service. On any
    failure: kubectl rollout undo, wait until the previous release is ready, exit 1. On
    success only, the environment pointer in STORE moves (compare-and-swap).

    Example:
        orchestrator deploy s3://models/prod --env staging --release latest
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = rollout.DeployOptions(manifests, url, timeout_s, smoke_timeout_s, dry_run)
    report = rollout.deploy(
        store, environment, release, runner=_runner(), options=options, progress=_progress
    )
    _print(report, output_format)


@click.command("rollback")
@store_argument()
@click.option("--to", "to", metavar="ID", help="The release to go back to (default: the previous).")
@_cluster_options
@endpoint_url_option()
@_rollout_options
def rollback_command(
    store_url: str,
    to: str | None,
    environment: str,
    manifests: Path,
    url: str | None,
    endpoint_url: str | None,
    timeout_s: float,
    smoke_timeout_s: float,
    dry_run: bool,
    output_format: str,
) -> None:
    """Roll an environment back to its previous release, or to --to ID.

    The same checks and steps as deploy (verify, render, apply, rollout, golden smoke,
    undo on failure); the pointer moves on success only.

    Example:
        orchestrator rollback s3://models/prod --env production
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = rollout.DeployOptions(manifests, url, timeout_s, smoke_timeout_s, dry_run)
    report = rollout.rollback(
        store, environment, to, runner=_runner(), options=options, progress=_progress
    )
    _print(report, output_format)


@click.command("status")
@store_argument()
@_cluster_options
@endpoint_url_option()
@format_option("A summary with drift marked, or one JSON object for machines.")
def status_command(
    store_url: str,
    environment: str,
    manifests: Path,
    url: str | None,
    endpoint_url: str | None,
    output_format: str,
) -> None:
    """Show what an environment runs: pointer, pod template, rollout, and each pod's models.

    For every Ready pod, the models and versions its Triton has loaded (through kubectl
    port-forward to the pod, or --url) are compared with its release's manifest; any
    drift is marked.

    Example:
        orchestrator status s3://models/prod --env staging --format json
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    report = status_mod.environment_status(
        store, environment, runner=_runner(), manifests=manifests, url=url
    )
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_status(report)


@click.command("promote")
@store_argument()
@click.option(
    "--from",
    "source",
    required=True,
    metavar="ENV",
    help="The environment whose release is promoted (its pointer in STORE), e.g. staging.",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="ENV",
    help="The environment it is deployed to (overlays/ENV and its pointer), e.g. production.",
)
@click.option(
    "--release",
    "release",
    metavar="ID",
    help="The release --from must run (the id a build produced); refused if it differs.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Promote without a passing gate record; needs --reason, which goes into a record.",
)
@click.option("--reason", metavar="TEXT", help="Why the gate is skipped (with --force).")
@click.option("--redeploy", is_flag=True, help="Deploy even if --to already runs the release.")
@_where_options
@endpoint_url_option()
@_rollout_options
def promote_command(
    store_url: str,
    source: str,
    target: str,
    release: str | None,
    force: bool,
    reason: str | None,
    redeploy: bool,
    manifests: Path,
    url: str | None,
    endpoint_url: str | None,
    timeout_s: float,
    smoke_timeout_s: float,
    dry_run: bool,
    output_format: str,
) -> None:
    """Deploy exactly the release --from runs to --to, only if it passed its gate there.

    Reads the --from pointer once; refuses when --release names another release, and
    when --from has no passing gate record for it (run orchestrator gate STORE --env
    FROM first), before any kubectl call. --force --reason TEXT skips that check and
    writes a forced record (who, why) first. When --to already runs the release, exits 0
    without deploying (unless --redeploy). Otherwise deploys it as orchestrator deploy
    does: verify, render, apply, rollout, golden smoke, undo on failure, pointer moved.

    Example:
        orchestrator promote s3://models/prod --from staging --to production --release ID
    """
    if source == target:
        raise click.UsageError(f"--from and --to are both {source!r}; they must differ.")
    if force and not (reason or "").strip():
        raise click.UsageError(
            "--force needs --reason TEXT (not empty): the forced record says why the gate "
            "was skipped."
        )
    if reason is not None and not force:
        raise click.UsageError("--reason goes with --force only; leave it out, or add --force.")
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = rollout.DeployOptions(manifests, url, timeout_s, smoke_timeout_s, dry_run)
    report = promote_mod.promote(
        store,
        source,
        target,
        runner=_runner(),
        options=options,
        release=release,
        force=force,
        reason=reason,
        redeploy=redeploy,
        verify_target=None,
        progress=_progress,
    )
    if report.deploy is not None:
        for note in report.deploy.notes:
            click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_promote(report)


def _print(report: rollout.DeployReport, output_format: str) -> None:
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_deploy(report)
