"""The cluster commands: deploy, rollback, status (kubectl through one runner).

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
from orchestrator.deploy import rollout
from orchestrator.deploy import status as status_mod
from orchestrator.deploy.kubectl import KubectlRunner, SubprocessKubectl
from orchestrator.deploy.render import DEFAULT_MANIFESTS
from orchestrator.releases import stores as storage

__all__ = [
    "MAX_POD_TIMEOUT_S",
    "MAX_SMOKE_TIMEOUT_S",
    "deploy_command",
    "kubectl_runner",
    "progress_line",
    "rollback_command",
    "status_command",
    "timing_options",
    "where_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def kubectl_runner() -> KubectlRunner:
    """The kubectl runner: the one in the click context's ``obj`` (tests), else the real one."""
    obj = click.get_current_context().obj
    injected = obj.get("kubectl") if isinstance(obj, dict) else None
    return injected if injected is not None else SubprocessKubectl()


def progress_line(message: str) -> None:
    """A progress line on stderr."""
    click.echo(message, err=True)


def _cluster_options(f: F) -> F:
    """--env, --manifests and --url, shared by deploy, rollback and status."""
    f = where_options(f)
    return click.option(
        "--env",
        "environment",
        required=True,
        help="The environment: its overlay (overlays/ENV) and its pointer in STORE.",
    )(f)


def where_options(f: F) -> F:
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
    """--timeout-s, --smoke-timeout-s, --dry-run, --format, --take-over, --break-lock."""
    f = click.option(
        "--break-lock",
        is_flag=True,
        help="Take the environment's deploy lock even when another deploy holds it (a "
        "killed job's stale lock); say so in the log.",
    )(f)
    f = click.option(
        "--take-over",
        is_flag=True,
        help="Deploy even when the cluster runs another release than the environment's "
        "pointer (drift: a deploy by hand, or one killed before its undo).",
    )(f)
    return timing_options(format_option("A summary, or one JSON object for machines.")(f))


# Upper bounds: a value past them is a typo (or 1e300), and a deadline that far away would
# overflow the clock arithmetic after `apply`; refused as a usage error before anything runs.
MAX_SMOKE_TIMEOUT_S = 3600.0
MAX_POD_TIMEOUT_S = 6 * 3600.0


def timing_options(f: F) -> F:
    """--timeout-s, --smoke-timeout-s and --dry-run of deploy, rollback and promote."""
    f = dry_run_option("Print the rendered manifests and the commands; change nothing.")(f)
    f = click.option(
        "--smoke-timeout-s",
        type=FiniteFloat(min=1, max=MAX_SMOKE_TIMEOUT_S),
        default=120.0,
        show_default=True,
        help="How long the golden smoke may wait for Triton to answer.",
    )(f)
    return click.option(
        "--timeout-s",
        type=FiniteFloat(min=1, max=MAX_POD_TIMEOUT_S),
        default=1260.0,
        show_default=True,
        help="How long the rollout (and an undo) may take PER POD (the wait scales with the "
        "Deployment's replicas); above the manifests' progressDeadlineSeconds (1200), so "
        "Kubernetes' ProgressDeadlineExceeded decides first.",
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
    take_over: bool,
    break_lock: bool,
    output_format: str,
) -> None:
    """Roll a release out to an environment; undo it automatically if anything fails.

    Refuses a release that does not verify or lacks golden data, a store URL Triton could
    not parse, an environment another deploy holds (its Lease; --break-lock), and a cluster
    that runs another release than the pointer's (--take-over). Renders overlays/ENV for
    the release, applies it, waits for the rollout (failing fast on unschedulable pods,
    image pulls, crash loops), then golden-smoke-tests every served version on every new
    pod. On any failure, Ctrl-C or SIGTERM: kubectl rollout undo, wait until the previous
    release is ready, exit 1. On success only, the environment pointer in STORE moves
    (compare-and-swap).

    Example:
        orchestrator deploy s3://models/prod --env staging --release latest
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = _options(manifests, url, timeout_s, smoke_timeout_s, dry_run, take_over, break_lock)
    report = rollout.deploy(
        store,
        environment,
        release,
        runner=kubectl_runner(),
        options=options,
        progress=progress_line,
    )
    _print(report, output_format)


def _options(
    manifests: Path,
    url: str | None,
    timeout_s: float,
    smoke_timeout_s: float,
    dry_run: bool,
    take_over: bool,
    break_lock: bool,
) -> rollout.DeployOptions:
    """The rollout options deploy and rollback take from the same flags."""
    return rollout.DeployOptions(
        manifests,
        url,
        timeout_s,
        smoke_timeout_s,
        dry_run,
        take_over=take_over,
        break_lock=break_lock,
    )


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
    take_over: bool,
    break_lock: bool,
    output_format: str,
) -> None:
    """Roll an environment back to its previous unit, or to release --to ID.

    The previous unit's manifests are applied as they were (kept in STORE/units/); with
    --to, or when the store keeps none (deploys from before units), today's overlay is
    rendered for that release, with a warning. The same checks and steps as deploy
    (verify, apply, rollout, golden smoke, undo on failure); the pointer moves on success
    only.

    Example:
        orchestrator rollback s3://models/prod --env production
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = _options(manifests, url, timeout_s, smoke_timeout_s, dry_run, take_over, break_lock)
    report = rollout.rollback(
        store, environment, to, runner=kubectl_runner(), options=options, progress=progress_line
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

    The pointer comes from STORE and is shown even when no cluster is reachable (then
    one line says so and the exit status is 1; -v shows kubectl's own output).

    For every Ready pod, the models and versions its Triton has loaded (through kubectl
    port-forward to the pod, or --url) are compared with its release's manifest; any
    drift is marked.

    Example:
        orchestrator status s3://models/prod --env staging --format json
    """
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    report = status_mod.environment_status(
        store, environment, runner=kubectl_runner(), manifests=manifests, url=url
    )
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_status(report)
    if report.cluster_error is not None:
        raise click.ClickException(report.cluster_error)


def _print(report: rollout.DeployReport, output_format: str) -> None:
    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_deploy(report)
