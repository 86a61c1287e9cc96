"""The CLI's surface: every command has help, usage errors exit 2."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from orchestrator.cli import COMMANDS as LAZY_COMMANDS
from orchestrator.cli import cli

# Written out, not read from the CLI: a command that disappears must fail here.
COMMANDS = [
    "bench",
    "demo",
    "deploy",
    "gate",
    "image",
    "infer",
    "list",
    "promote",
    "publish",
    "release",
    "releases",
    "rollback",
    "serve",
    "smoke",
    "status",
    "swap",
    "sync",
    "tune",
    "validate",
]
RELEASES_COMMANDS = ["diff", "gc", "list", "verify"]
IMAGE_COMMANDS = ["build"]


def subcommands(group: click.Group) -> dict[str, click.Command]:
    """A group's commands by name, the lazy ones loaded (``group.commands`` has only those
    loaded so far)."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def _every_command() -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree, subcommands included, with its path."""
    top = subcommands(cli)
    stack: list[tuple[str, click.Command]] = [(name, top[name]) for name in COMMANDS]
    while stack:
        path, command = stack.pop()
        yield path, command
        if isinstance(command, click.Group):
            stack.extend((f"{path} {name}", sub) for name, sub in subcommands(command).items())


def test_the_cli_has_exactly_the_expected_commands() -> None:
    top = subcommands(cli)
    assert sorted(top) == COMMANDS
    releases = top["releases"]
    assert isinstance(releases, click.Group)
    assert sorted(subcommands(releases)) == RELEASES_COMMANDS
    image = top["image"]
    assert isinstance(image, click.Group)
    assert sorted(subcommands(image)) == IMAGE_COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_the_summary_top_level_help_shows_is_the_commands_own(name: str) -> None:
    # `orchestrator --help` reads the summaries from the lazy table, so that listing the
    # commands imports none of them: the table must say what the command's help says.
    command = subcommands(cli)[name]
    entry = LAZY_COMMANDS[name]
    assert command.callback is not None
    assert (entry.module, entry.attribute) == (
        command.callback.__module__,
        command.callback.__name__,
    )
    assert entry.summary == command.get_short_help_str(limit=1000)


def test_an_unknown_command_is_a_usage_error_naming_it() -> None:
    result = CliRunner().invoke(cli, ["deplyo"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "No such command 'deplyo'" in result.stderr


def test_top_level_help_lists_every_command_with_its_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines() if line.strip()] == COMMANDS


@pytest.mark.parametrize(
    "path",
    [
        *COMMANDS,
        *(f"releases {name}" for name in RELEASES_COMMANDS),
        *(f"image {name}" for name in IMAGE_COMMANDS),
    ],
)
def test_every_command_has_help_text_with_an_example(path: str) -> None:
    command: click.Command = cli
    for name in path.split():
        assert isinstance(command, click.Group)
        command = subcommands(command)[name]
    assert command.help and len(command.help.strip()) > 20
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output


def test_every_option_is_documented() -> None:
    for path, command in _every_command():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and param.name != "help":
                assert param.help, f"{path} {param.opts[0]} has no help text"


def test_usage_error_exits_2() -> None:
    result = CliRunner().invoke(cli, ["serve", "--http-port", "not-a-port"])
    assert result.exit_code == 2
    assert "Invalid value for '--http-port'" in result.output


# Words that name different things in different commands (a version or an environment
# for --to, a count or a flag for --keep; one model or several for --model).
HOMONYMS = {"--to", "--keep", "--model"}


def test_an_option_shared_by_commands_has_one_shape_everywhere() -> None:
    # One definition per concept (cli.options, cli.server_options, cli.cluster_options):
    # the same flag takes the same kind of value, under the same metavar, in every command.
    shapes: dict[str, set[tuple[str, str | None]]] = {}
    for _, command in _every_command():
        for param in command.params:
            if isinstance(param, click.Option) and param.opts[0] not in HOMONYMS:
                shape = (type(param.type).__name__, param.metavar)
                shapes.setdefault(param.opts[0], set()).add(shape)
    assert {flag: found for flag, found in shapes.items() if len(found) > 1} == {}


def test_env_is_defined_once() -> None:
    helps = {
        param.help
        for _, command in _every_command()
        for param in command.params
        if isinstance(param, click.Option) and param.opts[0] == "--env"
    }
    base = "The environment: its overlay (overlays/ENV) and its pointer in STORE"
    assert helps == {f"{base}.", f"{base} (needed with STORE)."}
