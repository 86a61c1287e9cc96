"""``orchestrator promote``: what one environment runs goes to another, gated on both ends.

kubectl comes from the same injectable runner as deploy (``cli.deploy``); the gate of
the target is ``orchestrator.deploy.gate.run_gate``, passed to ``promote`` as its check
of the deployed target (a failed gate rolls the target back).
"""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import endpoint_url_option, format_option, store_argument
from orchestrator.cli.deploy import kubectl_runner, progress_line, timing_options, where_options
from orchestrator.cli.gate import config_problem, gates_option, metrics_url_option
from orchestrator.cli.output import deploy as deploy_output
from orchestrator.cli.output import gate as gate_output
from orchestrator.cli.output.jsondata import echo_json
from orchestrator.deploy import promote as promote_mod
from orchestrator.deploy import rollout
from orchestrator.deploy.gate import GateOptions, GateResult, check_gate_config, run_gate
from orchestrator.deploy.gate_config import load_gate_config
from orchestrator.errors import ConfigError, GateError
from orchestrator.releases import stores as storage
from orchestrator.releases.environments import read_environment

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
    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    if not no_gate:
        # A broken gates file (or one that does not fit the release) fails here, before
        # anything deploys, as a configuration error (exit 2), not as a failed gate.
        pointer = read_environment(store, source)
        try:
            if pointer is None or release not in (None, pointer.release_id):
                load_gate_config(gates)  # promote refuses these itself, saying why
            else:
                check_gate_config(store, pointer.release_id, gates)
        except ConfigError as exc:
            raise config_problem(exc) from exc
    runner = kubectl_runner()
    gated: list[GateResult] = []

    def gate_target(deployed: rollout.DeployReport) -> None:
        options = GateOptions(
            gates, manifests, url, metrics_url, deployed.release_id, smoke_timeout_s
        )
        result = run_gate(store, target, runner=runner, options=options, progress=progress_line)
        gated.append(result)
        if not result.passed:
            failed = [check.name for check in result.checks if not check.passed]
            raise GateError(
                f"The gate of release {result.release_id} in {target} failed "
                f"({', '.join(sorted(set(failed)))}; record {result.key})."
            )

    try:
        report = promote_mod.promote(
            store,
            source,
            target,
            runner=runner,
            options=rollout.DeployOptions(manifests, url, timeout_s, smoke_timeout_s, dry_run),
            release=release,
            force=force,
            reason=reason,
            redeploy=redeploy,
            verify_target=None if no_gate else gate_target,
            progress=progress_line,
        )
    except GateError:
        if gated:  # the target's gate failed: show what it measured, then the error
            _print_gate(gated[-1], output_format)
        raise
    _print_promotion(report, gated[-1] if gated else None, output_format)


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


def _print_promotion(
    report: promote_mod.PromoteReport, gated: GateResult | None, output_format: str
) -> None:
    if report.deploy is not None:
        for note in report.deploy.notes:
            click.echo(f"Note: {note}", err=True)
    if output_format == "json":
        echo_json({**report.as_dict(), "gate": gated.as_dict() if gated else None})
        return
    if output_format == "markdown":
        click.echo(deploy_output.promote_markdown(report), nl=False)
    else:
        deploy_output.print_promote(report)
    if gated is not None:
        _print_gate(gated, output_format)


def _print_gate(result: GateResult, output_format: str) -> None:
    if output_format == "json":
        echo_json({"gate": result.as_dict()})
    elif output_format == "markdown":
        click.echo(gate_output.gate_markdown(result), nl=False)
    else:
        gate_output.print_gate(result)
