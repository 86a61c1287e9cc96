"""release and sync read the repository by the one rule (core.untrusted), like validate.

A FIFO in a version folder is refused, never read (it used to block the release); a file
swapped for a link to a credentials file after the release was built is refused before
the upload, so the store never receives the secret. pytest-timeout cuts a blocked test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.errors import RepositoryError, UnsafeFileError
from orchestrator.releases.manifest import build_release
from orchestrator.releases.sync import sync_release
from tests.conftest import Dest

pytestmark = pytest.mark.timeout(60)

SECRET = b"aws_secret_access_key = hunter2\n"


def test_a_fifo_in_a_version_is_refused_by_release_without_blocking(release_repo: Path) -> None:
    os.mkfifo(release_repo / "alpha" / "2" / "labels.fifo")
    with pytest.raises(UnsafeFileError, match="is a FIFO, socket or device") as caught:
        build_release(release_repo, validate=lambda root: [])
    assert caught.value.reason == "special"
    # and the real validator, which release runs first, reports it with its path
    with pytest.raises(RepositoryError, match="not-a-regular-file"):
        build_release(release_repo)


def test_a_linked_model_folder_is_refused_by_release(release_repo: Path, tmp_path: Path) -> None:
    os.symlink(release_repo / "beta", release_repo / "gamma")
    with pytest.raises(UnsafeFileError, match="gamma is a symbolic link"):
        build_release(release_repo, validate=lambda root: [])
    with pytest.raises(RepositoryError, match="unsafe-link"):
        build_release(release_repo)


def test_a_file_swapped_for_a_link_after_the_release_is_built_is_not_uploaded(
    release_repo: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "credentials"
    secret.write_bytes(SECRET)
    release = build_release(release_repo)
    notes = release_repo / "alpha" / "2" / "notes.txt"
    notes.unlink()
    os.symlink(secret, notes)
    dest = Dest((tmp_path / "dest").as_uri(), None)
    with pytest.raises(UnsafeFileError, match="notes.txt is a symbolic link"):
        sync_release(release, dest.open(), jobs=1)
    stored = [p for p in (tmp_path / "dest").rglob("*") if p.is_file()]
    assert all(SECRET not in p.read_bytes() for p in stored)
