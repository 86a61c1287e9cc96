"""Stores: key safety both ways, conditional writes, and one clear message per failure."""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import StorageError, StoreConflictError
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import (
    GcsStore,
    StoreLocation,
    check_key,
    open_store,
    parse_store_url,
    redact,
)
from orchestrator.releases.sync import sync_release
from orchestrator.serving.triton import free_port
from rehearsal.loopback_server import stop_process_group
from rehearsal.s3_server import S3Server, start_s3_server
from tests.conftest import Dest

UNSAFE_KEYS = {
    "parent": "releases/../etc/passwd",
    "leading-parent": "../outside",
    "absolute": "/etc/passwd",
    "backslash": "releases\\x\\model.onnx",
    "nul": "releases/x\x00y",
    "dot": "releases/./x",
    "empty-segment": "releases//x",
    "drive": "C:/windows",
    "empty": "",
}


@pytest.mark.parametrize("key", UNSAFE_KEYS.values(), ids=UNSAFE_KEYS.keys())
def test_check_key_refuses_keys_that_could_escape(key: str) -> None:
    with pytest.raises(StorageError, match="Refusing unsafe key"):
        check_key(key)


def test_check_key_accepts_a_release_path() -> None:
    assert check_key("releases/abc/alpha/1/model.onnx") == "releases/abc/alpha/1/model.onnx"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket/a/b/", StoreLocation("s3", "bucket", "a/b")),
        ("s3://bucket", StoreLocation("s3", "bucket", "")),
        ("gs://bucket/prod", StoreLocation("gs", "bucket", "prod")),
        ("file:///srv/models", StoreLocation("file", "", "/srv/models")),
        ("file:///srv/my%20models", StoreLocation("file", "", "/srv/my models")),
    ],
    ids=["s3-prefix", "s3-bucket", "gs", "file", "file-percent-encoded"],
)
def test_parse_store_url(url: str, expected: StoreLocation) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://x/y", "s3:///prefix", "file://relative/path", "s3://bucket/a/../b", "models"],
    ids=["http", "no-bucket", "relative-file", "dotdot-prefix", "bare"],
)
def test_parse_store_url_refuses_other_urls(url: str) -> None:
    with pytest.raises(StorageError):
        parse_store_url(url)


def test_create_never_overwrites(dest: Dest) -> None:
    store = dest.open()
    assert store.create("environments/x.json", b"first")
    assert not store.create("environments/x.json", b"second")
    found = store.read("environments/x.json")
    assert found is not None and found.data == b"first"


def test_replace_is_compare_and_swap(dest: Dest) -> None:
    store = dest.open()
    store.replace("environments/staging.json", b"one", None)
    first = store.read("environments/staging.json")
    assert first is not None
    with pytest.raises(StoreConflictError):
        store.replace("environments/staging.json", b"blind", None)  # must not exist: exists
    store.replace("environments/staging.json", b"two", first.token)
    with pytest.raises(StoreConflictError):
        store.replace("environments/staging.json", b"stale", first.token)
    found = store.read("environments/staging.json")
    assert found is not None and found.data == b"two"


def test_digest_is_the_sha256_of_the_stored_bytes(dest: Dest, tmp_path: Path) -> None:
    store = dest.open()
    source = tmp_path / "blob.bin"
    source.write_bytes(b"\x01\x02" * 1000)
    store.upload("a/blob.bin", source)
    digest = store.digest("a/blob.bin")
    assert digest is not None
    assert digest.size_bytes == 2000
    assert digest.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert store.digest("a/missing.bin") is None


def test_crafted_keys_in_a_remote_listing_are_refused_and_nothing_is_written(
    release_repo: Path, s3_server: S3Server, s3_client: Any, s3_bucket: str
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="prod/releases/../../evil", Body=b"x")
    before = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    store = open_store(f"s3://{s3_bucket}/prod", endpoint_url=s3_server.endpoint_url)

    with pytest.raises(StorageError, match=r"Refusing unsafe key '\.\.'"):
        sync_release(build_release(release_repo), store)

    after = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert after == before


def test_crafted_names_in_a_local_store_are_refused(release_repo: Path, tmp_path: Path) -> None:
    crafted = tmp_path / "dest" / "releases" / "abc\\..\\x"
    crafted.mkdir(parents=True)
    with pytest.raises(StorageError, match="backslash"):
        sync_release(build_release(release_repo), open_store((tmp_path / "dest").as_uri()))


def test_a_symlink_out_of_a_local_store_is_refused(release_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "releases").symlink_to(outside)
    with pytest.raises(StorageError, match="outside"):
        sync_release(build_release(release_repo), open_store((tmp_path / "dest").as_uri()))
    assert list(outside.iterdir()) == []


def test_missing_bucket_names_the_bucket(s3_server: S3Server) -> None:
    store = open_store("s3://no-such-bucket-here/prod", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(StorageError) as caught:
        store.list_objects("releases/")
    assert "bucket 'no-such-bucket-here' does not exist" in str(caught.value)
    assert "Create it or check the bucket name" in str(caught.value)


def test_unreachable_endpoint_says_to_check_the_endpoint(s3_server: S3Server) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = open_store("s3://bucket/prod", endpoint_url=endpoint)
    with pytest.raises(StorageError) as caught:
        store.list_objects("releases/")
    message = str(caught.value)
    assert "unreachable" in message and "--endpoint-url" in message
    assert endpoint in message


def test_wrong_credentials_say_which_variables_to_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A second moto server that checks credentials (IAM auth on from the first request).
    server = start_s3_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}, log=tmp_path / "log")
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        store = open_store("s3://bucket/prod", endpoint_url=server.endpoint_url)
        with pytest.raises(StorageError) as caught:
            store.list_objects("releases/")
    finally:
        stop_process_group(server.process)
    message = str(caught.value)
    assert "credentials were rejected (InvalidAccessKeyId)" in message
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message


def test_no_credentials_at_all_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store("s3://bucket/prod", endpoint_url=s3_server.endpoint_url)
    with pytest.raises(StorageError, match="no AWS credentials were found"):
        store.list_objects("releases/")


# --- gs:// error mapping (the store's behaviour runs against fake-gcs-server via `dest`) ---


def test_gcs_store_unreachable_endpoint_is_one_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    store = GcsStore(parse_store_url("gs://bucket/prod"), retry_timeout_s=1.0)
    assert store.url == "gs://bucket/prod"
    with pytest.raises(StorageError, match="GCS endpoint is unreachable") as caught:
        store.list_objects("releases/")
    assert "STORAGE_EMULATOR_HOST" in str(caught.value)


def test_gcs_open_store_gives_a_gcs_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    store = open_store("gs://bucket/prod")
    assert isinstance(store, GcsStore) and store.url == "gs://bucket/prod"


def test_gcs_store_refuses_unsafe_keys_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    store = open_store("gs://bucket/prod")
    with pytest.raises(StorageError, match="Refusing unsafe key"):
        store.read("releases/../x")


def test_gcs_without_credentials_says_how_to_provide_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{free_port()}")
    with pytest.raises(StorageError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        open_store("gs://bucket/prod")


# --- credentials in URLs are never shown --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:secret@minio:9000", "http://***@minio:9000"),
        ("https://token@host/path?q=1", "https://***@host/path?q=1"),
        (
            'connect to "http://a:b@h:1/x" and s3://k:s@bucket',
            'connect to "http://***@h:1/x" and s3://***@bucket',
        ),
        ("http://minio:9000/no-credentials", "http://minio:9000/no-credentials"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
    ],
    ids=["url", "token-only", "inside-a-message", "none", "not-a-url"],
)
def test_redact_hides_the_credentials_of_every_url(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "url", ["s3://AKIA:secret@bucket/prod", "gs://user:secret@bucket", "file://u:secret@host/x"]
)
def test_a_store_url_with_credentials_is_refused_without_showing_them(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_store(url)
    assert "secret" not in str(caught.value)
    assert "***@" in str(caught.value)


def test_an_unreachable_endpoint_with_credentials_is_shown_redacted(s3_server: S3Server) -> None:
    endpoint = f"http://user:secret@127.0.0.1:{free_port()}"
    store = open_store("s3://bucket/prod", endpoint_url=endpoint)
    with pytest.raises(StorageError) as caught:
        store.list_objects("releases/")
    message = str(caught.value)
    assert "unreachable" in message and "secret" not in message
    assert "http://***@127.0.0.1:" in message


def test_a_missing_bucket_behind_an_endpoint_with_credentials_is_shown_redacted(
    s3_server: S3Server,
) -> None:
    host = s3_server.endpoint_url.removeprefix("http://")
    store = open_store("s3://no-such-bucket-here/prod", endpoint_url=f"http://user:secret@{host}")
    with pytest.raises(StorageError) as caught:
        store.list_objects("releases/")
    assert "does not exist" in str(caught.value)
    assert "secret" not in str(caught.value) and f"at http://***@{host}" in str(caught.value)


@pytest.mark.parametrize("endpoint", ["not a url", "http://[::1", "http://user:secret@[bad"])
def test_an_endpoint_that_is_not_a_url_is_one_clear_error(endpoint: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_store("s3://bucket/prod", endpoint_url=endpoint)
    assert "is not a URL" in str(caught.value) and "http://HOST:PORT" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("url", ["gs://bucket/prod", "file:///srv/store"])
def test_an_endpoint_for_a_store_that_is_not_s3_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match="applies to s3:// stores only"):
        open_store(url, endpoint_url="http://127.0.0.1:9000")


def test_gs_without_google_cloud_storage_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a plain `pip install triton-orchestrator` has boto3 but not google-cloud-storage
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
    with pytest.raises(StorageError) as caught:
        open_store("gs://bucket/prod")
    assert "pip install 'triton-orchestrator[gcs]'" in str(caught.value)


def test_boto3_is_in_the_base_install_and_google_cloud_storage_in_the_gcs_extra() -> None:
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    base = {re.split(r"[=<>\[]", dep)[0] for dep in project["dependencies"]}
    assert "boto3" in base
    assert "google-cloud-storage" not in base
    assert any(
        d.startswith("google-cloud-storage==") for d in project["optional-dependencies"]["gcs"]
    )


def test_objects_past_the_single_request_limit_go_through_boto3s_managed_transfer(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client is botocore's; past 5 GiB the store borrows boto3's multipart upload and
    # copy for it (boto3.s3.inject). A 0-byte limit sends this small file down that path.
    from orchestrator.releases.stores import s3

    monkeypatch.setattr(s3, "_SINGLE_REQUEST_MAX_BYTES", 0)
    source = tmp_path / "weights.bin"
    source.write_bytes(b"x" * 4096)
    store = open_store(f"s3://{s3_bucket}/prod", endpoint_url=s3_server.endpoint_url)

    assert store.upload("a/weights.bin", source) is None  # verify by digest()
    assert store.copy("a/weights.bin", "b/weights.bin", 4096) is None

    want = hashlib.sha256(source.read_bytes()).hexdigest()
    for key in ("a/weights.bin", "b/weights.bin"):
        found = store.digest(key)
        assert found is not None and (found.sha256, found.size_bytes) == (want, 4096)
