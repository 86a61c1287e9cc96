"""The ``orchestrator`` command line: one click group, each command one library call.

* The entry point is ``orchestrator.cli:cli``: the group with ``--verbose`` and
  ``--version``, and ``COMMANDS``, the table of every command.
* The group is lazy (``lazy``): a command's module is imported when that command runs
  or shows its help, and the command imports its library only when it runs, so
  ``orchestrator --help`` and ``orchestrator COMMAND --help`` start without them.
* One module per noun holds its commands; no command module imports another.
* ``options``, ``server_options`` and ``cluster_options`` define every shared option once.
* ``boundary`` turns library errors into messages and exit statuses.
* ``output/`` holds every formatter. Only this package imports click and rich.
* May import: every stage (``demo``, ``deploy``, ``performance``, ``serving``,
  ``releases``, ``repository``, ``core``, ``client``, ``errors``); nothing imports it.
"""

from __future__ import annotations

import logging

import click

from orchestrator import __version__
from orchestrator.cli.boundary import OrchestratorGroup
from orchestrator.cli.lazy import LazyCommand, LazyGroup

__all__ = ["COMMANDS", "OrchestratorGroup", "cli"]


def _command(module: str, attribute: str, summary: str) -> LazyCommand:
    return LazyCommand(f"orchestrator.cli.{module}", attribute, summary)


# Every command: where it is defined, and the summary `orchestrator --help` shows
# (tests/cli/test_cli.py checks that it is the first sentence of the command's help).
COMMANDS: dict[str, LazyCommand] = {
    "bench": _command(
        "performance",
        "bench_command",
        "Measure throughput and latency of a served model per concurrency level.",
    ),
    "demo": _command(
        "serving",
        "demo_command",
        "Run the whole path on this machine: train, publish, serve, smoke, swap.",
    ),
    "deploy": _command(
        "deploy",
        "deploy_command",
        "Roll a release out to an environment; undo it automatically if anything fails.",
    ),
    "gate": _command(
        "gate",
        "gate_command",
        "Gate the release an environment runs: golden answers, latency, throughput, counters.",
    ),
    "image": _command(
        "image",
        "image_group",
        "Build production's Triton image (Dockerfile.triton) for `serve --runtime docker`.",
    ),
    "infer": _command(
        "serving",
        "infer_command",
        "Send one request with the tensors in a file and print the outputs.",
    ),
    "list": _command(
        "repository",
        "list_command",
        "List models, versions, which versions are served, sizes and metrics.",
    ),
    "promote": _command(
        "promote",
        "promote_command",
        "Deploy exactly the release --from runs to --to, only if it passed its gate there.",
    ),
    "publish": _command(
        "repository",
        "publish_command",
        "Publish an export bundle, a bare .onnx file, or every bundle of a folder.",
    ),
    "release": _command(
        "releases",
        "release_command",
        "Build the content-addressed release manifest of a model repository.",
    ),
    "releases": _command(
        "releases",
        "releases_group",
        "List, verify and garbage-collect the releases stored in STORE.",
    ),
    "rollback": _command(
        "deploy",
        "rollback_command",
        "Roll an environment back to its previous unit, or to release --to ID.",
    ),
    "serve": _command(
        "serving",
        "serve_command",
        "Serve a model repository on a local Triton until Ctrl-C.",
    ),
    "smoke": _command(
        "serving",
        "smoke_command",
        "Send every served version its own golden inputs and compare the answers.",
    ),
    "status": _command(
        "deploy",
        "status_command",
        "Show what an environment runs: pointer, pod template, rollout, and each pod's models.",
    ),
    "swap": _command(
        "serving",
        "swap_command",
        "Replace the served version of a model on a running Triton, with no downtime.",
    ),
    "sync": _command(
        "releases",
        "sync_command",
        "Sync the release of a model repository to STORE/releases/<id>/.",
    ),
    "tune": _command(
        "performance",
        "tune_command",
        "Find the dynamic-batching settings with the highest throughput within a p99 budget.",
    ),
    "validate": _command(
        "repository",
        "validate_command",
        "Find, offline, everything Triton would refuse to load in a model repository.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="orchestrator")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Take trained models to production on NVIDIA Triton, safely.

    Publish export bundles as immutable versions, validate the repository offline, serve
    it on a real local Triton, smoke-test it, release it and roll it out.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
