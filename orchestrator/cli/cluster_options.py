"""What the cluster commands share (deploy, rollback, status, gate, promote), defined once.

* ``--env``, ``--manifests`` and the ``--url`` that replaces kubectl port-forward.
* ``--timeout-s``, ``--smoke-timeout-s`` and ``--dry-run`` of a rollout, and deploy's and
  rollback's ``--take-over`` and ``--break-lock``.
* ``--gates``, the gate's load levels and budgets.
* ``kubectl_runner()``: ``orchestrator.deploy.kubectl.SubprocessKubectl``, unless the
  click context object carries another under ``"kubectl"`` (``cli.main(obj={"kubectl":
  runner})``; the tests inject their recording runner this way).
* ``progress_line``: one progress line on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestrator.cli.defaults import DEFAULT_GATES, DEFAULT_MANIFESTS
from orchestrator.cli.options import FiniteFloat, dry_run_option, format_option
from orchestrator.cli.server_options import url_option

if TYPE_CHECKING:
    from orchestrator.deploy.kubectl import KubectlRunner

__all__ = [
    "MAX_POD_TIMEOUT_S",
    "MAX_SMOKE_TIMEOUT_S",
    "cluster_options",
    "env_option",
    "gates_option",
    "kubectl_runner",
    "manifests_option",
    "progress_line",
    "rollout_options",
    "smoke_timeout_option",
    "timing_options",
    "where_options",
]

F = TypeVar("F", bound=Callable[..., Any])

# Upper bounds: a value past them is a typo (or 1e300), and a deadline that far away would
# overflow the clock arithmetic after `apply`; refused as a usage error before anything runs.
MAX_SMOKE_TIMEOUT_S = 3600.0
MAX_POD_TIMEOUT_S = 6 * 3600.0


def kubectl_runner() -> KubectlRunner:
    """The kubectl runner: the one in the click context's ``obj`` (tests), else the real one."""
    from orchestrator.deploy.kubectl import SubprocessKubectl

    obj = click.get_current_context().obj
    injected = obj.get("kubectl") if isinstance(obj, dict) else None
    return injected if injected is not None else SubprocessKubectl()


def progress_line(message: str) -> None:
    """A progress line on stderr."""
    click.echo(message, err=True)


def env_option(*, required: bool = True) -> Callable[[F], F]:
    """``--env ENV``: the environment (parameter ``environment``)."""
    return click.option(
        "--env",
        "environment",
        required=required,
        metavar="ENV",
        help="The environment: its overlay (overlays/ENV) and its pointer in STORE"
        + ("." if required else " (needed with STORE)."),
    )


def manifests_option() -> Callable[[F], F]:
    """``--manifests DIRECTORY``: the kustomize folder (parameter ``manifests``)."""
    return click.option(
        "--manifests",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        metavar="DIRECTORY",
        default=DEFAULT_MANIFESTS,
        show_default=True,
        help="The kustomize folder with base/ and overlays/<env>/.",
    )


def where_options(f: F) -> F:
    """--manifests and --url: the overlays, and where the smoke reaches Triton."""
    f = url_option(
        required=False,
        help_text="Reach Triton here (the Service's HTTP port) instead of kubectl port-forward.",
    )(f)
    return manifests_option()(f)


def cluster_options(f: F) -> F:
    """--env, --manifests and --url, shared by deploy, rollback and status."""
    return env_option()(where_options(f))


def smoke_timeout_option() -> Callable[[F], F]:
    """``--smoke-timeout-s SECONDS``: the golden smoke's budget (``smoke_timeout_s``)."""
    return click.option(
        "--smoke-timeout-s",
        type=FiniteFloat(min=1, max=MAX_SMOKE_TIMEOUT_S),
        default=120.0,
        show_default=True,
        help="How long the golden smoke (and a port-forward) may wait for Triton to answer.",
    )


def timing_options(f: F) -> F:
    """--timeout-s, --smoke-timeout-s and --dry-run of deploy, rollback and promote."""
    f = dry_run_option("Print the rendered manifests and the commands; change nothing.")(f)
    f = smoke_timeout_option()(f)
    return click.option(
        "--timeout-s",
        type=FiniteFloat(min=1, max=MAX_POD_TIMEOUT_S),
        default=1260.0,
        show_default=True,
        help="How long the rollout (and an undo) may take PER POD (the wait scales with the "
        "Deployment's replicas); above the manifests' progressDeadlineSeconds (1200), so "
        "Kubernetes' ProgressDeadlineExceeded decides first.",
    )(f)


def rollout_options(f: F) -> F:
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


def gates_option(help_text: str) -> Callable[[F], F]:
    """``--gates FILE``: the gate's load levels and budgets (parameter ``gates``)."""
    return click.option(
        "--gates",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        default=DEFAULT_GATES,
        show_default=True,
        help=help_text,
    )
