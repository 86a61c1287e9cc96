"""``orchestrator gate``: measure the release an environment runs and record the verdict.

* kubectl (for the port-forward) comes from the runner the cluster commands share
  (``cluster_options.kubectl_runner``).
* A wrong gates file or option exits 2 (``boundary.ConfigProblem``), a failed gate 1.
* Output helpers live in ``orchestrator.cli.output.gate``; the library
  (``orchestrator.deploy.gate``) is imported inside the command, when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.boundary import config_problem
from orchestrator.cli.cluster_options import (
    env_option,
    gates_option,
    kubectl_runner,
    manifests_option,
    progress_line,
    smoke_timeout_option,
)
from orchestrator.cli.options import endpoint_url_option, format_option
from orchestrator.cli.server_options import metrics_url_option, url_option

if TYPE_CHECKING:
    from orchestrator.deploy.gate import GateResult
    from orchestrator.deploy.gate_config import GateConfig

__all__ = ["gate_command"]


@click.command("gate")
@click.argument("store_url", metavar="[STORE]", required=False)
@env_option(required=False)
@click.option(
    "--check-config",
    is_flag=True,
    help="Only check --gates (keys, values, time budget; with --repo, model names) and "
    "exit: 0 when good, 2 when not. Needs no STORE, cluster or Triton.",
)
@click.option(
    "--repo",
    "repository",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIRECTORY",
    help="With --check-config: the model repository whose models the gate will measure.",
)
@click.option(
    "--release",
    "release_id",
    metavar="ID",
    help="Fail unless the environment runs this release (a check; nothing is deployed).",
)
@url_option(
    required=False,
    help_text="Triton's HTTP port, instead of kubectl port-forward (needs --metrics-url).",
)
@metrics_url_option("The same Triton's metrics port (8002 in the pods); only with --url.")
@manifests_option()
@gates_option("Load levels and budgets: defaults and per-model overrides.")
@smoke_timeout_option()
@click.option(
    "--verdict-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Append verdict=passed or verdict=failed to FILE once the gate has judged the "
    "release (GitHub's $GITHUB_OUTPUT format). Nothing is written on a usage or gates-file "
    "error, so CI rolls back only on a real verdict.",
)
@endpoint_url_option()
@format_option(
    "A table of checks, the stored record as JSON, or a GitHub job-summary section.",
    choices=("table", "json", "markdown"),
)
def gate_command(
    store_url: str | None,
    environment: str | None,
    check_config: bool,
    repository: Path | None,
    release_id: str | None,
    url: str | None,
    metrics_url: str | None,
    manifests: Path,
    gates: Path,
    smoke_timeout_s: float,
    verdict_file: Path | None,
    endpoint_url: str | None,
    output_format: str,
) -> None:
    """Gate the release an environment runs: golden answers, latency, throughput, counters.

    Golden-smoke-tests every served version, runs a short closed-loop load per model at
    the levels of --gates (p99 latency budget, throughput against the release it
    replaced, no failed requests, at least min_requests completed per level), and reads
    Triton's own per-version counters before and after (no failures, queue time within
    budget). Writes a record to STORE (gates/<release>/<env>/...), passed or not; exits
    1 when any check failed, 2 for a usage or gates-file error (nothing gated).

    Triton is reached through kubectl port-forward pod/NAME, a pod of the gated release
    once no old pod is left (ports 8000 and 8002 in one forward, so both come from the
    same pod), or at --url and --metrics-url.

    --check-config only reads --gates and exits (before anything is deployed, in CI's
    build job): orchestrator gate --check-config --gates deployment/gates.yaml --repo
    model_repository

    Example:
        orchestrator gate s3://models/prod --env staging --format markdown
    """
    if check_config:
        _check_config(gates, repository, store_url)
        return
    if store_url is None or environment is None:
        raise click.UsageError(
            "Give STORE and --env ENV (the environment whose release is gated), e.g. "
            "orchestrator gate s3://models/prod --env staging; or --check-config to only "
            "check the gates file."
        )
    if repository is not None:
        raise click.UsageError("--repo goes with --check-config only.")
    if (url is None) != (metrics_url is None):
        raise click.UsageError(
            "--url and --metrics-url go together: the HTTP and the metrics port of the same "
            "Triton (e.g. --url 127.0.0.1:8000 --metrics-url 127.0.0.1:8002). Leave both out "
            "to port-forward a pod of the release."
        )
    from orchestrator.cli.output import gate as gate_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.deploy.gate import GateOptions, run_gate
    from orchestrator.deploy.hints import store_args
    from orchestrator.errors import ConfigError
    from orchestrator.releases import stores as storage

    store = storage.open_store(store_url, endpoint_url=endpoint_url)
    try:
        options = GateOptions(gates, manifests, url, metrics_url, release_id, smoke_timeout_s)
    except ConfigError as exc:
        raise config_problem(exc) from exc
    try:
        result = run_gate(
            store, environment, runner=kubectl_runner(), options=options, progress=progress_line
        )
    except ConfigError as exc:
        raise config_problem(exc) from exc
    if verdict_file is not None:
        _write_verdict(verdict_file, result.passed)
    if output_format == "json":
        echo_json(result)
    elif output_format == "markdown":
        click.echo(gate_output.gate_markdown(result), nl=False)
    else:
        gate_output.print_gate(result)
    if not result.passed:
        failed = [check for check in result.checks if not check.passed]
        names = ", ".join(dict.fromkeys(check.name for check in failed)) or "nothing measured"
        nothing = any(check.detail.startswith("nothing measured") for check in failed)
        click.echo(
            f"Error: the gate of release {result.release_id} in {environment} failed "
            f"({len(failed)} of {len(result.checks)} checks: {names}"
            + (
                "; nothing measured: too few requests completed inside the windows"
                if nothing
                else ""
            )
            + f"); the record is {result.key}.",
            err=True,
        )
        click.echo(_what_now(result, store_args(store)), err=True)
        raise click.exceptions.Exit(1)


def _write_verdict(path: Path, passed: bool) -> None:
    """Append the verdict as a ``key=value`` line (GitHub's step-output file format)."""
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(f"verdict={'passed' if passed else 'failed'}\n")
    except OSError as exc:
        raise click.ClickException(
            f"Could not append the gate's verdict to {path}: {exc.strerror}. Give a "
            'writable file (in GitHub Actions: --verdict-file "$GITHUB_OUTPUT").'
        ) from exc


def _check_config(gates: Path, repository: Path | None, store_url: str | None) -> None:
    if store_url is not None:
        raise click.UsageError(
            "--check-config reads only the gates file: leave out STORE (and --env), e.g. "
            "orchestrator gate --check-config --gates deployment/gates.yaml."
        )
    from orchestrator.deploy.gate_config import load_gate_config
    from orchestrator.errors import ConfigError

    try:
        config = load_gate_config(gates)
        models = _models(repository) if repository is not None else None
        if models is not None:
            config.check_models(models, f"built from {repository}")
            config.check_time(models, f"built from {repository}")
    except ConfigError as exc:
        raise config_problem(exc) from exc
    click.echo(_config_summary(config, models))


def _models(repository: Path) -> list[str]:
    """The models of a repository folder: its subfolders with a config.pbtxt."""
    return sorted(
        entry.name
        for entry in repository.iterdir()
        if entry.is_dir() and not entry.is_symlink() and (entry / "config.pbtxt").is_file()
    )


def _config_summary(config: GateConfig, models: list[str] | None) -> str:
    levels = ", ".join(map(str, config.defaults.concurrency))
    lines = [
        f"{config.path}: OK",
        f"defaults     concurrency {levels}; at most {config.defaults.max_server_ms:g} ms "
        "per request inside Triton; "
        f"at least {config.defaults.min_requests} requests per level; "
        f"{config.defaults.time_s:.0f} s of load per model at most",
        f"overrides    {', '.join(config.models) or 'none'}",
    ]
    if models is not None:
        lines.append(
            f"models       {', '.join(models) or 'none'}: the load takes "
            f"{config.time_budget_s(models):.0f} s at most"
        )
    return "\n".join(lines)


def _what_now(result: GateResult, store: str) -> str:
    """What the environment runs after a failed gate, and a command that runs as printed."""
    environment, release = result.environment, result.release_id
    if result.replaced_release_id is None:
        return (
            f"{environment} now runs release {release}, which failed its gate; it is the "
            f"first release there, so there is nothing to roll back to. Fix the release and "
            f"deploy the next one (orchestrator deploy {store} --env {environment} --release "
            f"ID, with an ID from orchestrator releases list {store}); until then "
            f"{environment} serves {release}."
        )
    return (
        f"{environment} still runs release {release}. To return it to release "
        f"{result.replaced_release_id}, which it replaced: orchestrator rollback {store} "
        f"--env {environment}"
    )
