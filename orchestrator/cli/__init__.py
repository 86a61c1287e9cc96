"""The ``orchestrator`` command line: one click group, each command one library call.

The commands live in the modules beside this one, one per noun; this module is the
entry point (``orchestrator.cli:cli``): the group with ``--verbose`` and ``--version``,
and the registration of every command. ``common`` defines every shared option once;
``output/`` holds every formatter. Only this package imports click and rich.

May import: every stage (``demo``, ``deploy``, ``performance``, ``serving``, ``releases``,
``repository``, ``core``, ``client``, ``errors``); nothing imports it.
"""

from __future__ import annotations

import logging

import click

from orchestrator import __version__
from orchestrator.cli import (
    deploy,
    gate,
    image,
    performance,
    promote,
    releases,
    repository,
    serving,
)
from orchestrator.cli.common import OrchestratorGroup

__all__ = ["OrchestratorGroup", "cli"]


@click.group(cls=OrchestratorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def cli(verbose: int) -> None:
    """Take trained models to production on NVIDIA Triton, safely.

    Publish export bundles as immutable versions, validate the repository offline, serve
    it on a real local Triton, smoke-test it, release it and roll it out.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(serving.serve_command)
cli.add_command(repository.publish_command)
cli.add_command(repository.list_command)
cli.add_command(repository.validate_command)
cli.add_command(serving.smoke_command)
cli.add_command(serving.infer_command)
cli.add_command(serving.swap_command)
cli.add_command(serving.demo_command)
cli.add_command(releases.release_command)
cli.add_command(releases.sync_command)
cli.add_command(releases.releases_group)
cli.add_command(performance.bench_command)
cli.add_command(performance.tune_command)
cli.add_command(image.image_group)
cli.add_command(deploy.deploy_command)
cli.add_command(deploy.rollback_command)
cli.add_command(deploy.status_command)
cli.add_command(gate.gate_command)
cli.add_command(promote.promote_command)
