"""release and sync keep a digest cache in the user's cache folder; --no-digest-cache
bypasses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.core import digest_cache
from orchestrator.releases.manifest import build_release


def _cache_files(user_cache_dir: Path) -> list[Path]:
    return sorted((user_cache_dir / "triton-orchestrator").rglob("*.json"))


@pytest.mark.parametrize("command", ["release", "sync"])
def test_no_digest_cache_reads_every_file_and_writes_no_cache(
    command: str, release_repo: Path, tmp_path: Path, user_cache_dir: Path
) -> None:
    args = [command, "--repo", str(release_repo), "--no-digest-cache", "--format", "json"]
    if command == "sync":
        args.insert(1, (tmp_path / "dest").as_uri())
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert _cache_files(user_cache_dir) == []


def test_release_keeps_its_cache_in_the_user_cache_dir(
    release_repo: Path, user_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture's files are fresh: let the cache remember them at once.
    monkeypatch.setattr(digest_cache, "SETTLE_NS", 0)
    result = CliRunner().invoke(cli, ["release", "--repo", str(release_repo), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == build_release(release_repo).id
    [cache_file] = _cache_files(user_cache_dir)
    entries = json.loads(cache_file.read_text())["entries"]
    assert set(entries) >= {str((release_repo / "alpha" / "config.pbtxt").absolute())}
    assert not any(Path(name).name == cache_file.name for name in entries)


@pytest.mark.parametrize("command", ["release", "sync"])
def test_help_offers_no_digest_cache(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "--no-digest-cache" in result.stdout
