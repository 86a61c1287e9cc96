"""What the command modules share: the error-translating group class and option choices."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.errors import OrchestratorError

__all__ = ["FORMATS", "OrchestratorGroup"]

FORMATS = click.Choice(["table", "json"])


class OrchestratorGroup(click.Group):
    """A click group that turns every ``OrchestratorError`` into one message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected errors become ``Error: ...`` on stderr and exit 1."""
        try:
            return super().invoke(ctx)
        except OrchestratorError as exc:
            raise click.ClickException(str(exc)) from exc
