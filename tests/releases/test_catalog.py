"""releases list / gc and environment pointers, on file://, s3:// (moto) and gs:// (fake-gcs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import StorageError, StoreConflictError
from orchestrator.releases.catalog import (
    gc_releases,
    list_releases,
    verify_release,
)
from orchestrator.releases.environments import read_environment, set_environment
from orchestrator.releases.gate_records import gate_records, write_gate_record
from orchestrator.releases.manifest import Release, build_release, release_prefix
from orchestrator.releases.stores import Store
from orchestrator.releases.sync import sync_release
from tests.conftest import Dest
from tests.support.release_repos import rewrite


def _sync_versions(repo: Path, store: Store, count: int) -> list[Release]:
    """Sync ``count`` releases, each with a different beta note, oldest first."""
    releases = []
    notes = repo / "beta" / "1" / "notes.txt"
    for index in range(count):
        rewrite(notes, f"release number {index}\n")
        release = build_release(repo)
        # created is second-resolution: make the order explicit for the test
        stamped = Release(
            release.id,
            release.models,
            release.files,
            source=repo,
            created=f"2026-01-0{index + 1}T00:00:00Z",
        )
        sync_release(stamped, store)
        releases.append(stamped)
    return releases


def _fix_created(store: Store, releases: list[Release]) -> None:
    for release in releases:
        key = release_prefix(release.id) + "release.json"
        found = store.read(key)
        assert found is not None
        assert json.loads(found.data)["created"] == release.created


def test_list_shows_releases_newest_first_with_their_environments(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    releases = _sync_versions(release_repo, store, 3)
    _fix_created(store, releases)
    set_environment(store, "staging", releases[2].id)
    set_environment(store, "production", releases[0].id)
    store.upload(
        release_prefix("unfinished") + "alpha/config.pbtxt", release_repo / "alpha" / "config.pbtxt"
    )

    infos = list_releases(store)

    assert [i.id for i in infos if i.complete] == [r.id for r in reversed(releases)]
    by_id = {i.id: i for i in infos}
    assert by_id[releases[2].id].environments == ("staging",)
    assert by_id[releases[0].id].environments == ("production",)
    assert by_id[releases[1].id].environments == ()
    assert not by_id["unfinished"].complete
    first = by_id[releases[0].id].release
    assert first is not None and {m.name: m.versions for m in first.models} == {
        "alpha": (2,),
        "beta": (1,),
    }
    assert first.size_bytes == releases[0].size_bytes


def test_gc_keeps_the_newest_and_every_release_an_environment_points_at(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    releases = _sync_versions(release_repo, store, 4)
    set_environment(store, "production", releases[0].id)
    store.upload(release_prefix("unfinished") + "x", release_repo / "alpha" / "config.pbtxt")

    dry = gc_releases(store, keep=1, dry_run=True)
    assert set(dry.deleted) == {releases[1].id, releases[2].id}
    assert {i.id for i in list_releases(store)} == {r.id for r in releases} | {"unfinished"}

    report = gc_releases(store, keep=1)

    assert report.kept == (releases[3].id,)
    assert report.protected == (releases[0].id,)
    assert set(report.deleted) == {releases[1].id, releases[2].id}
    remaining = {i.id for i in list_releases(store)}
    assert remaining == {releases[3].id, releases[0].id, "unfinished"}
    for deleted in report.deleted:
        assert store.list_objects(release_prefix(deleted)) == []
    # the kept ones are intact
    for kept in (releases[0], releases[3]):
        for path, digest in kept.files.items():
            assert store.digest(release_prefix(kept.id) + path) == digest


def test_gc_deletes_a_deleted_releases_gate_records_and_keeps_the_others(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    old, new = _sync_versions(release_repo, store, 2)
    write_gate_record(store, old.id, "staging", {"passed": True})
    kept = write_gate_record(store, new.id, "staging", {"passed": True})

    report = gc_releases(store, keep=1)

    assert report.deleted == (old.id,)
    assert store.list_objects(f"gates/{old.id}/") == []
    assert [r.key for r in gate_records(store, new.id, "staging")] == [kept.key]


def test_gc_keeps_every_pointers_previous_release_its_rollback_target(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    releases = _sync_versions(release_repo, store, 5)
    set_environment(store, "production", releases[0].id)
    set_environment(store, "production", releases[1].id)  # previous: releases[0]
    set_environment(store, "staging", releases[2].id)  # no previous

    report = gc_releases(store, keep=1)

    assert report.kept == (releases[4].id,)
    assert set(report.protected) == {releases[0].id, releases[1].id, releases[2].id}
    assert report.deleted == (releases[3].id,)
    assert report.pinned_by[releases[0].id] == ("production (previous)",)
    assert report.pinned_by[releases[1].id] == ("production",)
    remaining = {i.id for i in list_releases(store)}
    assert remaining == {r.id for r in releases} - {releases[3].id}
    # the rollback target is whole: every file of it is still there
    for path, digest in releases[0].files.items():
        assert store.digest(release_prefix(releases[0].id) + path) == digest


def test_set_environment_is_compare_and_swap(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    old, new = _sync_versions(release_repo, store, 2)
    first = set_environment(store, "staging", old.id)
    assert first.previous_release_id is None

    second = set_environment(store, "staging", new.id, expected_release_id=old.id)
    assert second.previous_release_id == old.id
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == new.id

    with pytest.raises(StoreConflictError, match="points at"):
        set_environment(store, "staging", old.id, expected_release_id=old.id)
    # a writer holding a stale token loses
    with pytest.raises(StoreConflictError):
        store.replace("environments/staging.json", b'{"release": "x"}', first.token)
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == new.id


def test_a_first_pointer_can_require_that_none_exists(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    old, new = _sync_versions(release_repo, store, 2)
    first = set_environment(store, "staging", old.id, must_be_absent=True)
    assert first.previous_release_id is None
    # a second "first deploy" loses instead of overwriting the pointer it did not see
    with pytest.raises(StoreConflictError, match="where no pointer was expected"):
        set_environment(store, "staging", new.id, must_be_absent=True)
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == old.id


def test_an_environment_cannot_point_at_an_unfinished_release(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    store.upload(release_prefix("abc") + "alpha/config.pbtxt", release_repo / "alpha/config.pbtxt")
    with pytest.raises(StorageError, match="is not complete"):
        set_environment(store, "staging", "abc")
    assert read_environment(store, "staging") is None


@pytest.mark.parametrize("name", ["Prod", "../x", "a/b", "", "-x", "staging\n", "x" * 64])
def test_environment_names_are_checked(name: str, tmp_path: Path) -> None:
    store = Dest((tmp_path / "d").as_uri(), None).open()
    with pytest.raises(StorageError, match="Invalid environment name"):
        read_environment(store, name)


def test_gc_refuses_a_negative_keep(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="--keep"):
        gc_releases(Dest((tmp_path / "d").as_uri(), None).open(), -1)


def test_verify_release_finds_missing_changed_and_extra_files(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    release = build_release(release_repo)
    sync_release(release, store)
    assert verify_release(store, release.id) == []

    prefix = release_prefix(release.id)
    store.delete([prefix + "beta/1/model.onnx"])
    store.upload(prefix + "alpha/2/notes.txt", release_repo / "beta" / "1" / "notes.txt")
    store.upload(prefix + "alpha/7/model.onnx", release_repo / "alpha" / "2" / "model.onnx")

    problems = verify_release(store, release.id)

    assert problems[0] == "alpha/7/model.onnx: not in the manifest"
    assert problems[1].startswith("alpha/2/notes.txt: sha256 ")
    assert problems[2] == "beta/1/model.onnx: missing"
    assert len(problems) == 3


def test_verify_release_refuses_an_unfinished_release(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    store.upload(release_prefix("abc") + "x", release_repo / "alpha" / "config.pbtxt")
    with pytest.raises(StorageError, match="not a \\(complete\\) release"):
        verify_release(store, "abc")
