"""docs/cli.md: every command's --help, generated from the CLIs themselves.

``python -m tests.support.cli_reference > docs/cli.md`` writes it; tests/test_docs.py fails when
the file differs from what this prints (a command or option added, changed or removed
without the reference following), as sqlite-utils' docs test does for its CLI reference.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from orchestrator.cli import cli
from training.cli import main as training_main

__all__ = ["commands", "render"]

WIDTH = 96

# The page's prose: what every command shares (options, exit codes, the vocabulary).
HEADER = (Path(__file__).parents[1] / "assets" / "cli_reference_header.md").read_text()


def commands() -> Iterator[tuple[str, click.Context]]:
    """``(full name, context)`` of every visible command, groups first, in help order."""
    yield from _walk(cli, "orchestrator", None)
    ctx = training_main.make_context(
        "python -m training", [], resilient_parsing=True, terminal_width=WIDTH
    )
    ctx.max_content_width = WIDTH
    yield "python -m training", ctx


def _walk(
    command: click.Command, name: str, parent: click.Context | None
) -> Iterator[tuple[str, click.Context]]:
    ctx = command.make_context(
        name.split()[-1] if parent else name,
        [],
        parent=parent,
        resilient_parsing=True,
        terminal_width=WIDTH,
        max_content_width=WIDTH,
    )
    yield name, ctx
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from _walk(sub, f"{name} {sub_name}", ctx)


def render() -> str:
    """The whole page."""
    parts = [HEADER]
    for name, ctx in commands():
        parts.append(f"\n## `{name}`\n\n```text\n{ctx.get_help().rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
