"""Sync compares content, copies server side, writes release.json last: file://, s3://, gs://."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from orchestrator.errors import StorageError
from orchestrator.releases.catalog import read_releases
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import Store
from orchestrator.releases.sync import plan_sync, sync_release
from tests.conftest import Dest
from tests.support.release_repos import variant_onnx, write_version


def _keys(store: Store) -> set[str]:
    return {obj.key for obj in store.list_objects("")}


def test_first_sync_uploads_every_file_in_tritons_layout_then_the_manifest(
    release_repo: Path, dest: Dest
) -> None:
    release = build_release(release_repo)
    store = dest.open()
    report = sync_release(release, store, jobs=4)

    prefix = release_prefix(release.id)
    assert report.wrote_manifest
    # alpha/2 and beta/1 hold the same model bytes: sent once, copied once server side
    assert release.files["alpha/2/model.onnx"] == release.files["beta/1/model.onnx"]
    assert [(t.path, t.source_key) for t in report.plan.copies] == [
        ("beta/1/model.onnx", prefix + "alpha/2/model.onnx")
    ]
    assert {t.path for t in report.plan.uploads} == set(release.files) - {"beta/1/model.onnx"}
    assert report.plan.unchanged == ()
    assert _keys(store) == {prefix + p for p in release.files} | {prefix + "release.json"}
    assert prefix + "alpha/config.pbtxt" in _keys(store)
    assert prefix + "alpha/2/model.onnx" in _keys(store)
    assert prefix + "alpha/1/model.onnx" not in _keys(store)  # not served: latest policy
    for path, digest in release.files.items():
        assert store.digest(prefix + path) == digest
    stored = read_releases(store)[release.id]
    assert stored == release


def test_resync_of_an_unchanged_repository_uploads_and_copies_nothing(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    sync_release(build_release(release_repo), store)
    before = {obj.key: obj.size_bytes for obj in store.list_objects("")}

    report = sync_release(build_release(release_repo), store)

    assert report.plan.complete and not report.wrote_manifest
    assert report.plan.uploads == () and report.plan.copies == ()
    assert {obj.key: obj.size_bytes for obj in store.list_objects("")} == before


def test_touched_but_unchanged_files_give_the_same_release(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    first = build_release(release_repo)
    sync_release(first, store)
    model = release_repo / "alpha" / "2" / "model.onnx"
    model.write_bytes(model.read_bytes())  # new mtime, same bytes
    second = build_release(release_repo)
    assert second.id == first.id
    assert sync_release(second, store).plan.uploads == ()


def test_new_version_uploads_only_new_content_and_copies_the_rest_server_side(
    release_repo: Path, dest: Dest, tmp_path: Path
) -> None:
    store = dest.open()
    first = build_release(release_repo)
    sync_release(first, store)
    other_onnx = variant_onnx(release_repo / "alpha/2/model.onnx", tmp_path / "v3.onnx", "v3")
    write_version(release_repo / "alpha", 3, other_onnx)

    second = build_release(release_repo)
    report = sync_release(second, store)

    assert second.id != first.id
    uploaded = {t.path for t in report.plan.uploads}
    copied = {t.path: t.source_key for t in report.plan.copies}
    # alpha/3 has new bytes (model, notes, manifest); beta and the configs are known content.
    assert uploaded == {"alpha/3/model.onnx", "alpha/3/notes.txt", "alpha/3/manifest.json"}
    assert set(copied) == {"alpha/config.pbtxt", "beta/config.pbtxt"} | {
        p for p in second.files if p.startswith("beta/1/")
    }
    assert all(src and src.startswith(release_prefix(first.id)) for src in copied.values())
    for path, digest in second.files.items():
        assert store.digest(release_prefix(second.id) + path) == digest


def test_same_size_content_change_is_detected_and_uploaded(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    first = build_release(release_repo)
    sync_release(first, store)
    config = release_repo / "beta" / "config.pbtxt"
    before = config.stat()
    text = config.read_text()
    changed = text.replace("max_queue_delay_microseconds: 100", "max_queue_delay_microseconds: 200")
    assert len(changed) == len(text) and changed != text
    config.write_text(changed)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old mtime

    second = build_release(release_repo)
    report = sync_release(second, store)

    assert second.id != first.id
    assert [t.path for t in report.plan.uploads] == ["beta/config.pbtxt"]
    assert len(report.plan.copies) == len(second.files) - 1
    stored = store.read(release_prefix(second.id) + "beta/config.pbtxt")
    assert stored is not None and stored.data == changed.encode()


def test_dry_run_plans_and_writes_nothing(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    report = sync_release(build_release(release_repo), store, dry_run=True)
    assert report.dry_run and not report.wrote_manifest
    assert len(report.plan.uploads) + len(report.plan.copies) == len(report.plan.release.files)
    assert _keys(store) == set()


def test_an_interrupted_sync_is_completed_by_the_next_run(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    release = build_release(release_repo)
    prefix = release_prefix(release.id)
    done = sorted(release.files)[:3]
    for path in done:
        store.upload(prefix + path, release_repo / path)
    assert read_releases(store) == {release.id: None}  # no release.json: not a release

    report = sync_release(release, store)

    assert {t.path for t in report.plan.unchanged} == set(done)
    assert report.wrote_manifest
    assert read_releases(store)[release.id] == release


def test_a_copy_source_that_does_not_match_its_manifest_is_refused(
    release_repo: Path, dest: Dest
) -> None:
    store = dest.open()
    first = build_release(release_repo)
    sync_release(first, store)
    tampered = release_prefix(first.id) + "beta/1/notes.txt"
    tampered_source = release_repo.parent / "tampered.txt"
    tampered_source.write_text("not what the manifest says\n")
    store.upload(tampered, tampered_source)
    (release_repo / "alpha" / "config.pbtxt").write_text(
        (release_repo / "alpha" / "config.pbtxt").read_text() + "\n# new release\n"
    )

    with pytest.raises(StorageError, match="does not match the manifest of its release"):
        sync_release(build_release(release_repo), store)
    second = build_release(release_repo)
    assert read_releases(store)[second.id] is None  # no release.json for the new release


def test_an_edited_release_manifest_is_refused(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    release = build_release(release_repo)
    sync_release(release, store)
    key = release_prefix(release.id) + "release.json"
    found = store.read(key)
    assert found is not None
    body = json.loads(found.data)
    body["files"]["beta/1/notes.txt"]["size_bytes"] += 1
    store.delete([key])
    assert store.create(key, json.dumps(body).encode())

    with pytest.raises(StorageError, match="the manifest was edited"):
        sync_release(release, store)


def test_files_the_release_does_not_list_are_refused(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    release = build_release(release_repo)
    sync_release(release, store)
    store.upload(
        release_prefix(release.id) + "alpha/9/model.onnx", release_repo / "alpha/2/model.onnx"
    )

    with pytest.raises(StorageError, match="holds 1 file"):
        plan_sync(release, store)


def test_a_complete_release_missing_a_file_is_refused(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    release = build_release(release_repo)
    sync_release(release, store)
    store.delete([release_prefix(release.id) + "beta/1/model.onnx"])

    with pytest.raises(StorageError, match="does not match its manifest"):
        sync_release(release, store)


def test_all_versions_flag_syncs_unserved_versions_too(release_repo: Path, dest: Dest) -> None:
    store = dest.open()
    release = build_release(release_repo, all_versions=True)
    sync_release(release, store)
    assert store.digest(release_prefix(release.id) + "alpha/1/model.onnx") is not None


def test_sync_into_a_local_folder_writes_nothing_outside_it(
    release_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "nested" / "dest"
    sibling = tmp_path / "nested" / "sibling.txt"
    sibling.parent.mkdir(parents=True)
    sibling.write_text("untouched")
    before = sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(target))
    sync_release(build_release(release_repo), Dest(target.as_uri(), None).open())
    after = sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(target))
    assert after == before
    shutil.rmtree(target)
