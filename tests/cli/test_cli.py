"""The CLI's surface: every command has help, usage errors exit 2."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli

COMMANDS = sorted(cli.commands)


def test_top_level_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", COMMANDS, ids=COMMANDS)
def test_every_command_has_help_text_with_an_example(name: str) -> None:
    command = cli.commands[name]
    assert command.help and len(command.help.strip()) > 20
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_every_option_is_documented() -> None:
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and param.name != "help":
                assert param.help, f"{name} {param.opts[0]} has no help text"


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(cli, ["serve", "--http-port", "not-a-port"])
    assert result.exit_code == 2
    assert "Invalid value for '--http-port'" in result.output
