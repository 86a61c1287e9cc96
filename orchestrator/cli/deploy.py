"""The cluster commands: deploy, rollback and status, kubectl through one runner.

* The options and the kubectl runner they share are in ``cluster_options``.
* Output helpers live in ``orchestrator.cli.output.deploy``.
* The library (``orchestrator.deploy``) is imported inside each command, when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli import defaults
from orchestrator.cli.cluster_options import (
    cluster_options,
    kubectl_runner,
    progress_line,
    rollout_options,
)
from orchestrator.cli.options import (
    FiniteFloat,
    endpoint_url_option,
    format_option,
    store_argument,
)

if TYPE_CHECKING:
    from orchestrator.deploy import rollout

__all__ = ["deploy_command", "rollback_command", "status_command"]


@click.command("deploy")
@store_argument()
@click.option("--release", "release", required=True, metavar="ID", help="A release id, or latest.")
@cluster_options
@endpoint_url_option()
@rollout_options
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
    from orchestrator.deploy import rollout
    from orchestrator.releases import stores as storage

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
    from orchestrator.deploy import rollout

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
@cluster_options
@endpoint_url_option()
@rollout_options
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
    from orchestrator.deploy import rollout
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    options = _options(manifests, url, timeout_s, smoke_timeout_s, dry_run, take_over, break_lock)
    report = rollout.rollback(
        store, environment, to, runner=kubectl_runner(), options=options, progress=progress_line
    )
    _print(report, output_format)


@click.command("status")
@store_argument()
@cluster_options
@endpoint_url_option()
@click.option(
    "--timeout-s",
    type=FiniteFloat(min=1, max=defaults.MAX_STATUS_TIMEOUT_S),
    default=defaults.DEFAULT_STATUS_TIMEOUT_S,
    show_default=True,
    help="How long the whole status may take (every kubectl command, port-forward and "
    "Triton call shares it); what did not answer by then is named, and the exit status is 1.",
)
@format_option("A summary with drift marked, or one JSON object for machines.")
def status_command(
    store_url: str,
    environment: str,
    manifests: Path,
    url: str | None,
    endpoint_url: str | None,
    timeout_s: float,
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
    from orchestrator.cli.output import deploy as deploy_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.deploy import status as status_mod
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    report = status_mod.environment_status(
        store,
        environment,
        runner=kubectl_runner(),
        manifests=manifests,
        url=url,
        timeout_s=timeout_s,
    )
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_status(report)
    if report.cluster_error is not None:
        raise click.ClickException(report.cluster_error)
    if report.deadline_error is not None:
        raise click.ClickException(report.deadline_error)


def _print(report: rollout.DeployReport, output_format: str) -> None:
    from orchestrator.cli.output import deploy as deploy_output
    from orchestrator.cli.output.jsondata import echo_json

    for note in report.notes:
        click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json(report)
    else:
        deploy_output.print_deploy(report)
