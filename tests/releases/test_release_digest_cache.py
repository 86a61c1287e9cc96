"""release and sync through the local digest cache: a warm, unchanged repository is not
read again (validation included), a same-size edit with its mtime put back is still
found, and the cache never becomes part of a release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.core.digest import FileDigest
from orchestrator.core.digest_cache import DigestCache
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.sync import sync_release
from tests.conftest import Dest
from tests.support.file_times import move_ctime


def _cache(repo: Path, **kwargs: object) -> DigestCache:
    # settle_ns=0: the fixture's files were written a moment ago (the default only
    # remembers files whose last change is 2 s old).
    return DigestCache.for_repository(repo, settle_ns=0, **kwargs)  # type: ignore[arg-type]


def _refuse(path: Path) -> FileDigest:
    raise AssertionError(f"{path} was read although nothing changed")


def test_a_warm_release_reads_no_file_validation_included(release_repo: Path) -> None:
    cold = _cache(release_repo)
    first = build_release(release_repo, digests=cold)
    assert cold.misses > 0 and cold.cache_file is not None and cold.cache_file.is_file()

    warm = _cache(release_repo, hash_file=_refuse)
    second = build_release(release_repo, digests=warm)

    assert second == first and second.id == build_release(release_repo).id
    # Every released file came from the cache; the validator, which checked the manifest
    # of every version (alpha/1 too, which is not served), did not run again: the
    # repository is unchanged since it passed (validation.verdict).
    assert warm.misses == 0 and warm.hits == len(first.files)


def test_warm_cache_then_same_size_edit_with_mtime_restored_is_released_and_uploaded(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    first = build_release(release_repo, digests=_cache(release_repo))
    sync_release(first, store)
    assert build_release(release_repo, digests=_cache(release_repo, hash_file=_refuse)) == first
    config = release_repo / "beta" / "config.pbtxt"
    before = config.stat()
    text = config.read_text()
    changed = text.replace("max_queue_delay_microseconds: 100", "max_queue_delay_microseconds: 200")
    assert len(changed) == len(text) and changed != text
    config.write_text(changed)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))  # the old mtime back
    move_ctime(config, before)
    assert (config.stat().st_size, config.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )

    warm = _cache(release_repo)
    second = build_release(release_repo, digests=warm)
    report = sync_release(second, store)

    assert warm.misses == 1  # only the edited file was read
    assert second.id != first.id
    assert second.files["beta/config.pbtxt"] != first.files["beta/config.pbtxt"]
    assert [t.path for t in report.plan.uploads] == ["beta/config.pbtxt"]
    stored = store.read(release_prefix(second.id) + "beta/config.pbtxt")
    assert stored is not None and stored.data == changed.encode()


def test_the_cache_file_is_outside_the_repository_and_never_in_a_release(
    release_repo: Path, user_cache_dir: Path, dest: Dest
) -> None:
    cache = _cache(release_repo)
    release = build_release(release_repo, digests=cache)
    report = sync_release(release, dest.open())

    assert cache.cache_file is not None and cache.cache_file.is_file()
    assert user_cache_dir in cache.cache_file.parents
    assert release_repo.resolve() not in cache.cache_file.resolve().parents
    assert all(not name.endswith(".json") or "manifest" in name for name in release.files)
    assert release == build_release(release_repo)  # the same files as without a cache
    assert report.wrote_manifest


def test_a_cache_dir_pointed_into_the_repository_is_not_used_and_releases_the_same(
    release_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside = release_repo / "alpha" / "2" / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(inside))
    cache = DigestCache.for_repository(release_repo)
    assert cache.cache_file is None
    release = build_release(release_repo, digests=cache)
    assert not inside.exists()
    assert release == build_release(release_repo)
