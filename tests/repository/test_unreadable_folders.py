"""An unreadable model or version folder is a message (or a finding), never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.release_repos import make_repository
from tests.support.unprivileged import open_to_everyone, shared_folder, unprivileged


@pytest.fixture
def shared_root() -> Iterator[Path]:
    with shared_folder("unreadable-") as root:
        yield root


@pytest.mark.parametrize("folder", ["alpha", "alpha/2"], ids=["model-folder", "version-folder"])
@pytest.mark.parametrize("command", ["list", "validate", "release"])
def test_an_unreadable_folder_is_named_with_the_fix(
    shared_root: Path, folder: str, command: str
) -> None:
    repo = make_repository(shared_root / "repo", {"alpha": [1, 2], "beta": [1]})
    open_to_everyone(shared_root)
    (repo / folder).chmod(0)
    with unprivileged():
        result = CliRunner().invoke(cli, [command, "--repo", str(repo)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output
    assert f"{repo / folder}" in result.output
    assert "Permission denied" in result.output
    if command != "release":  # release names the finding; validate gives its hint
        assert "chmod -R u+rX" in result.output


@pytest.mark.parametrize("folder", ["alpha", "alpha/2"], ids=["model-folder", "version-folder"])
def test_validate_reports_an_unreadable_folder_once(shared_root: Path, folder: str) -> None:
    repo = make_repository(shared_root / "repo", {"alpha": [1, 2], "beta": [1]})
    open_to_everyone(shared_root)
    (repo / folder).chmod(0)
    with unprivileged():
        result = CliRunner().invoke(cli, ["validate", "--repo", str(repo)])
    assert result.exit_code == 1, result.output
    assert result.output.count(f"{repo / folder}: error [") == 1, result.output
    assert "[folder-unreadable]" in result.output
