"""A no-change sync reads release.json and nothing else; what it still refuses and repairs.

A release.json in the store means a complete, verified upload (sync writes it last,
create-if-absent; gc deletes it first), so the no-change path is that one GET plus the
version registry's reads. The requests are counted on the wire, on the real botocore
client talking to moto_server (``before-send`` fires once per HTTP request sent,
retries and pages included), and through the store seam for file:// and gs://.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.digest import FileDigest
from orchestrator.errors import StorageError
from orchestrator.releases import sync as sync_module
from orchestrator.releases.catalog import verify_release
from orchestrator.releases.manifest import Release, build_release, release_prefix
from orchestrator.releases.stores import Store, StoredObject, Versioned, open_store
from orchestrator.releases.sync import plan_sync, sync, sync_release
from tests.conftest import Dest


class CountingStore:
    """Delegates to ``inner`` and records every call: (method, key or prefix)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.url = inner.url
        self.endpoint_url = inner.endpoint_url
        self.calls: list[tuple[str, str]] = []

    def list_objects(self, prefix: str) -> list[StoredObject]:
        self.calls.append(("list_objects", prefix))
        return self.inner.list_objects(prefix)

    def list_children(self, prefix: str) -> list[str]:
        self.calls.append(("list_children", prefix))
        return self.inner.list_children(prefix)

    def read(self, key: str) -> Versioned | None:
        self.calls.append(("read", key))
        return self.inner.read(key)

    def digest(self, key: str) -> FileDigest | None:
        self.calls.append(("digest", key))
        return self.inner.digest(key)

    def upload(self, key: str, source: Path) -> str | None:
        self.calls.append(("upload", key))
        return self.inner.upload(key, source)

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        self.calls.append(("copy", key))
        return self.inner.copy(source_key, key, size_bytes)

    def create(self, key: str, data: bytes) -> bool:
        self.calls.append(("create", key))
        return self.inner.create(key, data)

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        self.calls.append(("replace", key))
        self.inner.replace(key, data, token)

    def delete(self, keys: Sequence[str]) -> None:
        self.calls.append(("delete", ",".join(keys)))
        self.inner.delete(keys)


def _synced(release_repo: Path, dest: Dest) -> tuple[Release, Store]:
    store = dest.open()
    release = build_release(release_repo)
    assert sync_release(release, store).wrote_manifest
    return release, store


def test_a_complete_release_costs_one_read_of_its_manifest(release_repo: Path, dest: Dest) -> None:
    release, store = _synced(release_repo, dest)
    counted = CountingStore(store)

    report = sync_release(build_release(release_repo), counted, check_files=False)

    assert report.plan.complete and not report.wrote_manifest
    assert {t.path for t in report.plan.unchanged} == set(release.files)
    assert counted.calls == [("read", release_prefix(release.id) + "release.json")]


def test_check_files_adds_one_listing_of_the_release_folder(release_repo: Path, dest: Dest) -> None:
    release, store = _synced(release_repo, dest)
    counted = CountingStore(store)

    assert sync_release(release, counted, check_files=True).plan.complete

    prefix = release_prefix(release.id)
    assert counted.calls == [("read", prefix + "release.json"), ("list_objects", prefix)]


def test_an_interrupted_upload_is_still_completed_without_check_files(
    release_repo: Path, dest: Dest
) -> None:
    # What a sync that died before its last step leaves: files, some missing, no manifest.
    release, store = _synced(release_repo, dest)
    prefix = release_prefix(release.id)
    store.delete([prefix + "release.json", prefix + "beta/1/model.onnx"])

    report = sync_release(release, store, check_files=False)

    assert report.wrote_manifest and not report.plan.complete
    assert [t.path for t in report.plan.copies] == ["beta/1/model.onnx"]
    assert verify_release(store, release.id) == []


def test_a_manifest_describing_other_files_is_still_refused_without_check_files(
    release_repo: Path, dest: Dest
) -> None:
    release, store = _synced(release_repo, dest)
    (release_repo / "alpha" / "config.pbtxt").write_text(
        (release_repo / "alpha" / "config.pbtxt").read_text() + "\n# another release\n"
    )
    other = build_release(release_repo)
    key = release_prefix(other.id) + "release.json"
    # The store holds release.json of `release` under the id of `other`: it lies.
    lie = release.document()
    assert store.create(key, lie)

    with pytest.raises(StorageError) as caught:
        sync_release(other, store, check_files=False)

    assert "release.json" in str(caught.value)
    kept = store.read(key)
    assert kept is not None and kept.data == lie  # refused, not overwritten


def test_a_file_deleted_from_a_complete_release_is_found_by_check_files_and_verify(
    release_repo: Path, dest: Dest
) -> None:
    # Damage done outside sync (nothing in the orchestrator deletes one file of a release):
    # the one-GET path trusts release.json; --check-files and `releases verify` find it.
    release, store = _synced(release_repo, dest)
    store.delete([release_prefix(release.id) + "beta/1/model.onnx"])

    assert plan_sync(release, store, check_files=False).complete
    with pytest.raises(StorageError, match="does not match its manifest"):
        sync_release(release, store, check_files=True)
    assert verify_release(store, release.id) == ["beta/1/model.onnx: missing"]


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request the S3 store that ``sync`` opens sends: 'METHOD path?query'."""
    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(f"{request.method} {request.url.split('//', 1)[1].split('/', 1)[1]}")

    def counting_open_store(url: str, **kwargs: Any) -> Store:
        store = open_store(url, **kwargs)
        store._client.meta.events.register("before-send.s3", record)  # type: ignore[attr-defined]
        return store

    monkeypatch.setattr(sync_module, "open_store", counting_open_store)
    return sent


@pytest.mark.parametrize("check_files", [False, True])
def test_a_no_change_sync_to_s3_sends_one_get_per_model_plus_the_manifest(
    release_repo: Path,
    s3_server: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    check_files: bool,
) -> None:
    url = f"s3://{s3_bucket}/models/prod"
    first = sync(release_repo, url, endpoint_url=s3_server.endpoint_url)
    sent = _count_requests(monkeypatch)

    again = sync(release_repo, url, endpoint_url=s3_server.endpoint_url, check_files=check_files)

    assert first.wrote_manifest and again.plan.complete and not again.wrote_manifest
    manifest = f"GET {s3_bucket}/models/prod/{release_prefix(first.plan.release.id)}release.json"
    registries = [
        f"GET {s3_bucket}/models/prod/models/{m}/versions.json" for m in ("alpha", "beta")
    ]
    listing = [r for r in sent if "list-type=2" in r]
    assert sorted(r for r in sent if r not in listing) == sorted([*registries, manifest])
    assert len(listing) == (1 if check_files else 0)
