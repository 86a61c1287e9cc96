"""Parse command lines against the real CLIs (orchestrator, python -m training), never run.

Through click's public API only: each group's options and its subcommand's name are
taken in turn (``Group.get_command``), and the leaf command's ``make_context`` parses the
rest, so an unknown command or option, a missing required one, a bad choice or a path
that must exist fails here as it would when typed. The workflow rules and the
documentation tests both check their commands with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from orchestrator.cli import cli
from training.cli import main as training_main

__all__ = ["parse_orchestrator", "parse_training"]


def parse_orchestrator(args: Sequence[str], shown: str = "") -> click.Context:
    """``orchestrator ARGS`` parsed (``shown``: the command as written, for messages)."""
    shown = shown or " ".join(args)
    rest = list(args)
    found: click.Command = cli
    parent = cli.make_context("orchestrator", [], resilient_parsing=True)
    while isinstance(found, click.Group):
        options, rest = rest[: _first_word(rest)], rest[_first_word(rest) :]
        _check_group_options(found, options, shown)  # -v before the subcommand
        assert rest, f"no subcommand in {shown}"
        name, *rest = rest
        sub = found.get_command(parent, name)
        assert sub is not None, f"no command {name!r} in {shown}"
        found = sub
        if isinstance(found, click.Group):
            parent = found.make_context(name, [], parent=parent, resilient_parsing=True)
    return found.make_context(str(found.name), rest, parent=parent)


def parse_training(args: Sequence[str]) -> click.Context:
    """``python -m training ARGS`` parsed against ``training.cli.main``."""
    return training_main.make_context("python -m training", list(args))


def _first_word(args: Sequence[str]) -> int:
    return next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))


def _check_group_options(group: click.Group, options: Sequence[str], shown: str) -> None:
    known = {opt for param in group.params for opt in (*param.opts, *param.secondary_opts)}
    for option in options:
        flag = option.split("=", 1)[0]
        # -vv is -v counted twice
        single = flag[:2] if flag.startswith("-") and not flag.startswith("--") else flag
        if single not in known:
            raise click.NoSuchOption(flag, message=f"No such option {flag} in {shown}")
