"""``orchestrator promote``: what one environment runs goes to another, gated on both ends.

* Parsing and printing only: ``orchestrator.deploy.promote.promote`` checks the source's
  gate record, deploys, gates the target (``gate=``) and rolls it back when that fails.
* kubectl comes from the runner the cluster commands share
  (``cluster_options.kubectl_runner``); a wrong gates file exits 2
  (``boundary.ConfigProblem``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.boundary import config_problem
from orchestrator.cli.cluster_options import (
    gates_option,
    kubectl_runner,
    progress_line,
    timing_options,
    where_options,
)
from orchestrator.cli.options import endpoint_url_option, format_option, store_argument
from orchestrator.cli.server_options import metrics_url_option
from orchestrator.errors import ConfigError, GateError

if TYPE_CHECKING:
    from orchestrator.deploy.gate import GateResult
    from orchestrator.deploy.promote import PromoteReport

__all__ = ["promote_command"]


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
@gates_option("The budgets the --to gate measures the deployed release against.")
@click.option(
    "--no-gate",
    is_flag=True,
    help="Do not gate --to after deploying (no load on it; no rollback on a failed gate).",
)
@metrics_url_option("With --url: the same Triton's metrics port, for the --to gate.")
@where_options
@endpoint_url_option()
@timing_options
@format_option(
    "A summary, one JSON object for machines, or a GitHub job-summary section.",
    ("table", "json", "markdown"),
)
def promote_command(
    store_url: str,
    source: str,
    target: str,
    release: str | None,
    force: bool,
    reason: str | None,
    redeploy: bool,
    gates: Path,
    no_gate: bool,
    metrics_url: str | None,
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
    Then it gates --to as orchestrator gate does (a record in --to's records); when that
    gate fails, --to is rolled back to the release it ran before, and promote exits 1.

    Example:
        orchestrator promote s3://models/prod --from staging --to production --release ID
    """
    _check_usage(source, target, force, reason, url, metrics_url, no_gate)
    from orchestrator.deploy.gate import GateOptions, GateResult
    from orchestrator.deploy.promote import promote
    from orchestrator.deploy.rollout import DeployOptions
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    try:
        gate = (
            None
            if no_gate
            else GateOptions(gates, manifests, url, metrics_url, None, smoke_timeout_s)
        )
        report = promote(
            store,
            source,
            target,
            runner=kubectl_runner(),
            options=DeployOptions(manifests, url, timeout_s, smoke_timeout_s, dry_run),
            release=release,
            force=force,
            reason=reason,
            redeploy=redeploy,
            gate=gate,
            progress=progress_line,
        )
    except ConfigError as exc:
        # Only the gates file is read as configuration before anything deploys: exit 2,
        # which CI does not take for a failed gate.
        raise config_problem(exc) from exc
    except GateError as exc:
        if isinstance(exc.outcome, GateResult):  # the target's gate failed: what it measured
            _print_gate(exc.outcome, output_format)
        raise
    _print_promotion(report, output_format)


def _check_usage(
    source: str,
    target: str,
    force: bool,
    reason: str | None,
    url: str | None,
    metrics_url: str | None,
    no_gate: bool,
) -> None:
    if source == target:
        raise click.UsageError(f"--from and --to are both {source!r}; they must differ.")
    if force and not (reason or "").strip():
        raise click.UsageError(
            "--force needs --reason TEXT (not empty): the forced record says why the gate "
            "was skipped."
        )
    if reason is not None and not force:
        raise click.UsageError("--reason goes with --force only; leave it out, or add --force.")
    if metrics_url is not None and (url is None or no_gate):
        raise click.UsageError("--metrics-url goes with --url, for the gate (not --no-gate).")
    if url is not None and metrics_url is None and not no_gate:
        raise click.UsageError(
            "--url needs --metrics-url (the same Triton's metrics port) for the gate of "
            f"{target}, or --no-gate to deploy without gating it."
        )


def _print_promotion(report: PromoteReport, output_format: str) -> None:
    from orchestrator.cli.output import deploy as deploy_output
    from orchestrator.cli.output.jsondata import echo_json

    if report.deploy is not None:
        for note in report.deploy.notes:
            click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json(report.as_dict())
        return
    if output_format == "markdown":
        click.echo(deploy_output.promote_markdown(report), nl=False)
    else:
        deploy_output.print_promote(report)
    if report.gate is not None:
        _print_gate(report.gate, output_format)


def _print_gate(result: GateResult, output_format: str) -> None:
    from orchestrator.cli.output import gate as gate_output
    from orchestrator.cli.output.jsondata import echo_json

    if output_format == "json":
        echo_json({"gate": result.as_dict()})
    elif output_format == "markdown":
        click.echo(gate_output.gate_markdown(result), nl=False)
    else:
        gate_output.print_gate(result)
