"""What the command modules share: the error-translating group class and common options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from orchestrator.errors import OrchestratorError

__all__ = ["OrchestratorGroup", "format_option"]

F = TypeVar("F", bound=Callable[..., Any])


def format_option(help_text: str, choices: tuple[str, ...] = ("table", "json")) -> Callable[[F], F]:
    """The ``--format`` option (parameter ``output_format``, default "table") of a command.

    Example:
        >>> @format_option("A table, or JSON for machines.")  # doctest: +SKIP
        ... @click.command()
        ... def listing(output_format: str) -> None: ...
    """
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help=help_text,
    )


class OrchestratorGroup(click.Group):
    """A click group that turns every ``OrchestratorError`` into one message and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected errors become ``Error: ...`` on stderr and exit 1."""
        try:
            return super().invoke(ctx)
        except OrchestratorError as exc:
            raise click.ClickException(str(exc)) from exc
