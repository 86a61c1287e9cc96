"""The CLI's error boundary: where a library error becomes one message and an exit status.

* ``OrchestratorGroup`` runs a command and turns every ``OrchestratorError`` into
  ``Error: ...`` on stderr and exit 1 (a traceback is left only to bugs).
* ``ConfigProblem`` (exit 2) is a wrong gates file or gate option: never read as a failed
  gate (exit 1), which CI answers with a rollback.
"""

from __future__ import annotations

from typing import Any

import click

from orchestrator.errors import ConfigError, OrchestratorError

__all__ = ["ConfigProblem", "OrchestratorGroup", "config_problem"]


class OrchestratorGroup(click.Group):
    """A click group that turns every ``OrchestratorError`` into one message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected errors become ``Error: ...`` on stderr and exit 1."""
        try:
            return super().invoke(ctx)
        except OrchestratorError as exc:
            raise click.ClickException(str(exc)) from exc


class ConfigProblem(click.ClickException):
    """A wrong gates file or option: exit 2, never read as a failed gate (exit 1).

    CI rolls staging back when the gate step exits 1; a configuration error says nothing
    about the release, so it must not trigger that rollback.
    """

    exit_code = 2


def config_problem(exc: ConfigError) -> ConfigProblem:
    """The CLI's form of a ``ConfigError`` from the gates file or the gate's options."""
    return ConfigProblem(f"{exc} (a configuration error: nothing was gated)")
