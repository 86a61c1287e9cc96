"""Where sync may write: never into the repository, never a store Triton cannot serve from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import StorageError
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import open_store
from orchestrator.releases.sync import sync
from rehearsal.s3_server import S3Server


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


INSIDE = {
    "the-repository": lambda repo: repo,
    "a-subfolder": lambda repo: repo / "out" / "store",
    "through-dotdot": lambda repo: repo / ".." / repo.name / "store",
    "a-model-folder": lambda repo: repo / "alpha",
}


@pytest.mark.parametrize("where", INSIDE.values(), ids=INSIDE.keys())
def test_sync_into_the_repository_is_refused_and_writes_nothing(
    release_repo: Path, where: Any
) -> None:
    before = _tree(release_repo)
    target = where(release_repo)
    with pytest.raises(StorageError) as caught:
        sync(release_repo, f"file://{target}")
    message = str(caught.value)
    assert "Refusing to sync into" in message
    assert "inside the repository" in message or "is the repository" in message
    assert "Choose a folder outside the repository" in message
    assert _tree(release_repo) == before


def test_sync_through_a_link_into_the_repository_is_refused(
    release_repo: Path, tmp_path: Path
) -> None:
    (release_repo / "store").mkdir()
    link = tmp_path / "looks-outside"
    link.symlink_to(release_repo / "store")
    with pytest.raises(StorageError, match="inside the repository"):
        sync(release_repo, link.as_uri())
    assert list((release_repo / "store").iterdir()) == []


def test_sync_of_a_repository_inside_the_store_is_refused(
    release_repo: Path, tmp_path: Path
) -> None:
    # release_repo is tmp_path/repo: a store at tmp_path holds the repository
    before = _tree(tmp_path)
    with pytest.raises(StorageError, match="the repository .* is inside it"):
        sync(release_repo, tmp_path.as_uri())
    assert _tree(tmp_path) == before


def test_sync_next_to_the_repository_is_fine(release_repo: Path, tmp_path: Path) -> None:
    # a sibling whose name starts like the repository's is not inside it
    report = sync(release_repo, (tmp_path / "repo-releases").as_uri())
    assert report.wrote_manifest


def test_a_percent_encoded_file_url_is_the_folder_it_names(
    release_repo: Path, tmp_path: Path
) -> None:
    target = tmp_path / "my releases"
    report = sync(release_repo, target.as_uri())  # file:///.../my%20releases
    assert (target / release_prefix(report.plan.release.id) / "release.json").is_file()
    assert not (tmp_path / "my%20releases").exists()
    assert report.plan.release_url == f"{target}/releases/{report.plan.release.id}"


UNSERVABLE_PREFIXES = {
    "space": "my prefix",
    "plus": "a+b",
    "tilde": "~home",
    "non-ascii": "modèles",
}


@pytest.mark.parametrize("prefix", UNSERVABLE_PREFIXES.values(), ids=UNSERVABLE_PREFIXES.keys())
def test_a_prefix_triton_cannot_serve_is_refused_before_anything_is_uploaded(
    prefix: str, release_repo: Path, s3_server: S3Server, s3_client: Any, s3_bucket: str
) -> None:
    with pytest.raises(StorageError) as caught:
        sync(release_repo, f"s3://{s3_bucket}/{prefix}", endpoint_url=s3_server.endpoint_url)
    assert f"the path segment {prefix!r}" in str(caught.value)
    assert "[0-9a-zA-Z._-]" in str(caught.value)
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0


def test_a_prefix_triton_cannot_serve_is_refused_on_gcs_too(
    release_repo: Path, gcs_bucket: str
) -> None:
    with pytest.raises(StorageError, match="the path segment 'team a'"):
        sync(release_repo, f"gs://{gcs_bucket}/team a")
    assert open_store(f"gs://{gcs_bucket}").list_objects("") == []


def test_the_url_printed_is_the_one_triton_serves_from_with_the_endpoint(
    release_repo: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    report = sync(release_repo, f"s3://{s3_bucket}/prod", endpoint_url=s3_server.endpoint_url)
    host = s3_server.endpoint_url.removeprefix("http://")
    release_id = build_release(release_repo).id
    assert report.plan.release_url == f"s3://{host}/{s3_bucket}/prod/releases/{release_id}"


def test_an_endpoint_from_aws_endpoint_url_is_in_the_url_too(
    release_repo: Path, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # boto3 reads AWS_ENDPOINT_URL, Triton does not: the URL must carry it
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    report = sync(release_repo, f"s3://{s3_bucket}/prod")
    host = s3_server.endpoint_url.removeprefix("http://")
    assert report.plan.release_url.startswith(f"s3://{host}/{s3_bucket}/prod/releases/")
