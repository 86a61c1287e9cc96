"""One CLI vocabulary: --repo, --url/--grpc-url/--protocol, STORE; old spellings deprecated.

No server runs here: where a command must reach one, the endpoint it tried is read from
its error message (nothing listens on a free port).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.serving.triton import free_port
from tests.support.golden_versions import write_affine_version


def _invoke(args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _deprecation(repository: Path) -> str:
    return (
        f"Deprecated: pass the repository as --repo {repository}; the positional form goes "
        "away in the next release.\n"
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    write_affine_version(repo, "affine", 1)
    return repo


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["serve", "{repo}", "--model", "nope"], ["serve", "--repo", "{repo}", "--model", "nope"]),
        (["list", "{repo}", "--format", "json"], ["list", "--repo", "{repo}", "--format", "json"]),
        (["validate", "{repo}"], ["validate", "--repo", "{repo}"]),
        (["release", "{repo}"], ["release", "--repo", "{repo}"]),
        (
            ["sync", "{repo}", "{store}", "--dry-run"],
            ["sync", "{store}", "--repo", "{repo}", "--dry-run"],
        ),
    ],
    ids=["serve", "list", "validate", "release", "sync"],
)
def test_a_deprecated_positional_repository_works_after_one_deprecation_line(
    repository: Path, tmp_path: Path, old: list[str], new: list[str]
) -> None:
    values = {"repo": str(repository), "store": (tmp_path / "store").as_uri()}
    before = _invoke([arg.format(**values) for arg in old])
    after = _invoke([arg.format(**values) for arg in new])
    assert (before.exit_code, before.stdout) == (after.exit_code, after.stdout)
    assert before.stderr == _deprecation(repository) + after.stderr
    assert "Deprecated" not in after.stderr


def test_the_deprecated_repository_keeps_its_checks(tmp_path: Path) -> None:
    result = _invoke(["validate", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert result.stderr.startswith(_deprecation(tmp_path / "missing"))
    assert result.stderr.endswith(
        f"Error: Invalid value for '--repo': Directory '{tmp_path / 'missing'}' does not exist.\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "a", "--repo", "b"],
        ["list", "--repo", "b", "a"],
        ["sync", "a", "file:///tmp/store", "--repo", "b"],
    ],
    ids=["validate", "list", "sync"],
)
def test_the_repository_given_both_ways_is_a_usage_error(args: list[str]) -> None:
    result = _invoke(args)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: The repository is given twice: --repo b and a. Pass it once, as --repo.\n"
    )


@pytest.mark.parametrize(
    ("command", "usage"),
    [
        ("serve", "serve [OPTIONS]"),
        ("list", "list [OPTIONS]"),
        ("validate", "validate [OPTIONS]"),
        ("release", "release [OPTIONS]"),
        ("sync", "sync [OPTIONS] STORE"),
        ("releases list", "releases list [OPTIONS] STORE"),
        ("releases gc", "releases gc [OPTIONS] STORE"),
        ("releases verify", "releases verify [OPTIONS] STORE RELEASE"),
    ],
)
def test_help_shows_the_new_spelling_only(command: str, usage: str) -> None:
    result = _invoke([*command.split(), "--help"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"Usage: cli {usage}"
    assert "REPOSITORY" not in result.stdout and "DEST" not in result.stdout
    if command in ("serve", "list", "validate", "release", "sync"):
        assert "--repo DIRECTORY" in result.stdout


# --- server URLs ------------------------------------------------------------------------


def _server_args(command: str, tmp_path: Path) -> list[str]:
    """The arguments a server command needs besides its URLs."""
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    return {
        "smoke": ["smoke"],
        "swap": ["swap", "--model", "affine", "--to", "1", "--repo", str(tmp_path)],
        "infer": ["infer", "--model", "affine", "--input", str(tmp_path / "x.npy")],
        "bench": ["bench", "--model", "affine"],
    }[command]


SERVER_COMMANDS = ["smoke", "swap", "infer", "bench"]


@pytest.mark.parametrize("command", SERVER_COMMANDS)
@pytest.mark.parametrize(
    ("urls", "option", "bad"),
    [
        (["--url", "localhost"], "--url", "localhost"),
        (["--url", "http://h:99999"], "--url", "http://h:99999"),
        (["--url", "h:8000", "--grpc-url", "h:grpc"], "--grpc-url", "h:grpc"),
    ],
    ids=["no-port", "port-out-of-range", "bad-grpc-url"],
)
def test_a_bad_url_is_a_usage_error_naming_the_option(
    tmp_path: Path, command: str, urls: list[str], option: str, bad: str
) -> None:
    result = _invoke([*_server_args(command, tmp_path), *urls])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.endswith(
        f"Error: Invalid value for '{option}': URL '{bad}' is not HOST:PORT (a host, a colon, "
        f"a port from 1 to 65535). Pass the server's endpoint, e.g. {option} 127.0.0.1:8000.\n"
    )


@pytest.mark.parametrize("command", SERVER_COMMANDS)
def test_the_last_http_port_without_grpc_url_is_a_usage_error(tmp_path: Path, command: str) -> None:
    write_affine_version(tmp_path, "affine", 1)
    result = _invoke([*_server_args(command, tmp_path), "--url", "h:65535", "--protocol", "grpc"])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "Error: The HTTP endpoint h:65535 has no next port for gRPC (the default is the HTTP "
        "port + 1). Pass the gRPC endpoint with --grpc-url HOST:PORT.\n"
    )


@pytest.mark.parametrize("command", SERVER_COMMANDS)
def test_grpc_goes_to_the_grpc_url(tmp_path: Path, command: str) -> None:
    write_affine_version(tmp_path, "affine", 1)
    http, grpc = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    result = _invoke(
        [*_server_args(command, tmp_path), "--url", http, "--grpc-url", grpc, "--protocol", "grpc"]
    )
    assert result.exit_code == 1
    assert grpc in result.stderr and http not in result.stderr
    assert "Note:" not in result.stderr


@pytest.mark.parametrize("command", ["infer", "bench"])
def test_grpc_without_grpc_url_uses_the_next_port_and_says_so(tmp_path: Path, command: str) -> None:
    port = free_port()
    result = _invoke(
        [*_server_args(command, tmp_path), "--url", f"127.0.0.1:{port}", "--protocol", "grpc"]
    )
    assert result.exit_code == 1
    first, rest = result.stderr.split("\n", 1)
    assert first == (
        f"Note: using the gRPC endpoint 127.0.0.1:{port + 1} (the HTTP port + 1); "
        "--grpc-url chooses it."
    )
    assert f"127.0.0.1:{port + 1}" in rest and "Note:" not in rest


@pytest.mark.parametrize("command", ["infer", "bench"])
def test_http_ignores_the_grpc_url_and_prints_no_note(tmp_path: Path, command: str) -> None:
    http, grpc = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    result = _invoke([*_server_args(command, tmp_path), "--url", http, "--grpc-url", grpc])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and http in result.stderr
    assert grpc not in result.stderr


@pytest.mark.parametrize("command", ["smoke", "swap"])
def test_smoke_and_swap_name_the_grpc_endpoint_they_could_not_reach(
    tmp_path: Path, command: str
) -> None:
    write_affine_version(tmp_path, "affine", 1)
    grpc = f"127.0.0.1:{free_port()}"
    args = [*_server_args(command, tmp_path), "--url", "127.0.0.1:1", "--grpc-url", grpc]
    result = _invoke([*args, "--protocol", "grpc"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: No Triton answers GRPC at {grpc}. Check that the server runs and that the URL "
        "is its GRPC HOST:PORT (--grpc-url; the default is the HTTP port + 1).\n"
    )
