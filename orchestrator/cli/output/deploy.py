"""How the cluster commands print for people: deploy, rollback and promote reports, status.

- Tables and lines on stdout; remarks on stderr.
- The JSON form is each report's own ``as_dict()``, printed by ``jsondata.echo_json``.
"""

from __future__ import annotations

import click

from orchestrator.deploy.promote import PromoteReport
from orchestrator.deploy.rollout import DeployReport
from orchestrator.deploy.status import EnvironmentStatus

__all__ = ["promote_markdown", "print_deploy", "print_promote", "print_status"]


def print_deploy(report: DeployReport) -> None:
    """A dry run: the commands as comments, then the rendered manifests; else a summary."""
    if report.dry_run:
        for command in report.commands:
            click.echo(f"# would run: {command}")
        click.echo(report.rendered, nl=False)
        click.echo("Dry run: nothing applied, the pointer did not move.", err=True)
        return
    click.echo(f"environment  {report.environment} (namespace {report.namespace})")
    click.echo(f"release      {report.release_id}")
    click.echo(f"serves from  {report.model_repository}")
    click.echo(f"checked      {', '.join(report.checked)}")
    click.echo(f"pointer      {report.previous_release_id or 'none'} -> {report.release_id}")
    if report.unit is not None:  # issue 18: the digest of the manifests applied
        click.echo(f"unit         {report.previous_unit or 'none'} -> {report.unit}")


def print_promote(report: PromoteReport) -> None:
    """What was promoted and what allowed it, then the deploy's own report.

    In a dry run the promotion lines are comments above the deploy's plan and manifests.
    """
    if report.record_key is None:
        why = "dry run" if report.dry_run else "nothing deployed"
        allowed = f"--force: a forced record in {report.source} (not written: {why})"
    else:
        kind = "forced record" if report.forced else "gate record"
        allowed = f"{kind} {report.store_url}/{report.record_key}"
    lines = [
        f"promote      {report.source} -> {report.target}",
        f"release      {report.release_id}",
        f"allowed by   {allowed}",
        f"outcome      {report.outcome}",
    ]
    prefix = "# " if report.dry_run else ""
    for line in lines:
        click.echo(prefix + line)
    if report.deploy is None:
        click.echo(
            f"{report.target} already runs release {report.release_id}: nothing deployed "
            "(--redeploy to deploy it again).",
            err=True,
        )
        return
    print_deploy(report.deploy)


def promote_markdown(report: PromoteReport) -> str:
    """The promotion as a Markdown section (a GitHub job summary): what went where, and why.

    Example:
        >>> print(promote_markdown(report))  # doctest: +SKIP
        ### Promoted `3f1c...` from staging to production
    """
    if report.deploy is None:
        title = f"### `{report.target}` already runs `{report.release_id}`: nothing deployed"
    elif report.dry_run:
        title = f"### Dry run: would promote `{report.release_id}` to {report.target}"
    else:
        title = f"### Promoted `{report.release_id}` from {report.source} to {report.target}"
    kind = "forced record" if report.forced else "gate record"
    lines = [title, "", f"- allowed by the {kind} `{report.record_key or '(dry run)'}`"]
    if report.deploy is not None:
        previous = report.deploy.previous_release_id or "nothing"
        lines.append(f"- replaces `{previous}` in namespace `{report.deploy.namespace}`")
        if report.deploy.checked:
            lines.append(f"- golden smoke passed: {', '.join(report.deploy.checked)}")
    return "\n".join(lines) + "\n\n"


def print_status(status: EnvironmentStatus) -> None:
    """Pointer, template, rollout, pods and models, one line each; DRIFT lines last."""
    rollout = status.rollout
    click.echo(f"environment  {status.environment} (namespace {status.namespace})")
    click.echo(f"pointer      {status.pointer_release or 'none'}")
    if status.cluster_error is not None:  # the store's side only; the CLI says why
        click.echo(f"previous     {status.previous_release or 'none'}")
        return
    click.echo(f"template     {status.template_release or 'none'}")
    if status.pointer_unit or status.template_unit:  # issue 18: the manifests applied
        click.echo(
            f"unit         {status.pointer_unit or 'none'} (template "
            f"{status.template_unit or 'none'}; previous {status.previous_unit or 'none'})"
        )
    click.echo(
        f"rollout      {rollout.state}: {rollout.updated}/{rollout.replicas} updated, "
        f"{rollout.ready} ready, {rollout.available} available"
    )
    for pod in status.pods:
        state = "ready" if pod.ready else ", ".join(pod.waiting) or pod.phase
        click.echo(f"pod          {pod.name}: {state}, release {pod.release or 'none'}")
    for entry in status.models:
        mark = "DRIFT" if entry.drift else "ok"
        click.echo(f"models       {entry.pod}: {', '.join(entry.loaded) or 'none'} ({mark})")
    for line in status.drift:
        click.echo(f"DRIFT        {line}")
    if not status.drift:
        click.echo("No drift: the environment runs what its pointer names.", err=True)
