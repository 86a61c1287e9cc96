"""The lazy group: a command's module is imported only when that command is looked up.

* Click's documented pattern for lazily loading subcommands: ``list_commands`` and
  ``get_command`` of a ``Group`` subclass ("Complex Applications" in click's docs).
* One addition: ``orchestrator --help`` lists each command's one-line summary from the
  table, so listing them imports none of the commands (click's own ``format_commands``
  would load every one to read its help). ``tests/cli/test_cli.py`` checks that each
  summary is the command's own.
* ``orchestrator COMMAND ...`` imports that command's module only; the command modules
  import their library inside the command, so ``COMMAND --help`` loads no library either.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from orchestrator.cli.boundary import OrchestratorGroup

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined (``module``, ``attribute``) and its one-line ``summary``.

    Example:
        >>> LazyCommand("orchestrator.cli.repository", "list_command", "List models.").summary
        'List models.'
    """

    module: str
    attribute: str
    summary: str


class LazyGroup(OrchestratorGroup):
    """A group whose commands are imported on first use, from a table of ``LazyCommand``."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, the lazy ones included, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, importing its module the first time."""
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        entry = self.lazy_commands[cmd_name]
        command = getattr(importlib.import_module(entry.module), entry.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry.module}.{entry.attribute} is not a click command")
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands:`` section, from the table's summaries: nothing is imported."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands or name not in self.lazy_commands:
                command = super().get_command(ctx, name)
            else:  # a stand-in holding the summary, shortened to fit as click does
                command = click.Command(name, help=self.lazy_commands[name].summary)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl(
                [(name, command.get_short_help_str(limit)) for name, command in rows]
            )
