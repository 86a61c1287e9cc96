"""Read-only destinations: one message and exit 1, before any long work starts."""

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
    with shared_folder("read-only-") as root:
        yield root


def test_sync_to_a_read_only_file_store_is_one_message(shared_root: Path) -> None:
    repo = make_repository(shared_root / "repo", {"alpha": [1]})
    store = shared_root / "store"
    store.mkdir()
    open_to_everyone(shared_root)
    store.chmod(0o555)
    with unprivileged():
        result = CliRunner().invoke(cli, ["sync", "--repo", str(repo), store.as_uri()])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    line = result.stderr.splitlines()[-1]
    # sync's first write is the version registry (it numbers the versions it releases).
    assert line.startswith("Error: Cannot write 'models/alpha/versions.json' ")
    assert f"to the store {store.as_uri()}: Permission denied ({store / '.tmp'})" in line


def test_tune_write_on_a_read_only_model_folder_fails_before_the_search(
    shared_root: Path,
) -> None:
    repo = make_repository(shared_root / "repo", {"alpha": [1]})
    open_to_everyone(shared_root)
    (repo / "alpha").chmod(0o555)
    args = ["tune", "--model", "alpha", "--repo", str(repo), "--write"]
    with unprivileged():
        # A server that cannot start: the refusal must come before it is looked for.
        result = CliRunner().invoke(cli, args, env={"TRITONSERVER": "/nonexistent/tritonserver"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: --write cannot replace {repo / 'alpha' / 'config.pbtxt'}: Permission denied. "
        f"Make {repo / 'alpha'} writable, or tune without --write and apply the printed diff "
        "by hand."
    )
