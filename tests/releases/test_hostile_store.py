"""What a store holds is untrusted: every backend reads its documents within bounds.

A release.json or environment pointer that is nested deeply, holds ``1e400`` or a
number of thousands of digits, repeats a key, is not UTF-8 or is larger than any
document the orchestrator writes ends every releases verb with one StorageError (CLI:
exit 1, no traceback), for the file store, S3 (moto) and GCS (fake-gcs-server) alike.
In a ``file://`` store a FIFO is never opened to block, and a key with a path segment
over 255 bytes is refused by name before any backend sees it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.cli import cli
from orchestrator.core import untrusted
from orchestrator.errors import StorageError
from orchestrator.releases import environments
from orchestrator.releases.catalog import list_releases, verify_release
from orchestrator.releases.diff import read_release
from orchestrator.releases.manifest import RELEASE_FILENAME, release_prefix
from orchestrator.releases.stores import Store, base, check_key, open_store
from orchestrator.releases.stores import gcs as gcs_store
from orchestrator.releases.stores import s3 as s3_store
from tests.conftest import Dest

pytestmark = pytest.mark.timeout(90)

RELEASE = "a" * 64
DEEP = b'{"format": 1, "id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
HOSTILE = [
    ("deep", DEEP, "nested"),
    (
        "1e400",
        b'{"format": 1, "id": "x", "models": {}, "files": {"a": {"sha256": "x", '
        b'"size_bytes": 1e400}}}',
        "out of range",
    ),
    ("digits", b'{"format": 1, "n": ' + b"9" * 5000 + b"}", "digits"),
    ("nan", b'{"format": NaN}', "NaN is not a JSON number"),
    ("duplicate", b'{"format": 1, "format": 2}', "given twice"),
    ("not-utf8", b'{"format": "\xff\xfe"}', "not UTF-8"),
    ("not-json", b"\x00" * 100, "not JSON"),
]


def _open(dest: Dest) -> Store:
    return open_store(dest.url, endpoint_url=dest.endpoint_url)


def _args(dest: Dest) -> list[str]:
    return [dest.url] + (["--endpoint-url", dest.endpoint_url] if dest.endpoint_url else [])


@pytest.mark.parametrize(
    ("data", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_release_json_is_one_storage_error_in_every_verb(
    dest: Dest, data: bytes, expected: str
) -> None:
    store = _open(dest)
    assert store.create(release_prefix(RELEASE) + RELEASE_FILENAME, data)
    for verb in (
        lambda: read_release(store, RELEASE),
        lambda: verify_release(store, RELEASE),
        lambda: list_releases(store),
    ):
        with pytest.raises(StorageError, match=expected):
            verb()
    result = CliRunner().invoke(cli, ["releases", "list", *_args(dest)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert expected in result.output or expected.lower() in result.output.lower()


@pytest.mark.parametrize(
    ("data", "expected"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE]
)
def test_a_hostile_environment_pointer_is_one_storage_error(
    dest: Dest, data: bytes, expected: str
) -> None:
    store = _open(dest)
    assert store.create(environments.environment_key("staging"), data)
    with pytest.raises(StorageError, match=expected):
        environments.read_environment(store, "staging")


def test_an_object_over_the_read_limit_is_refused_before_it_is_read(
    dest: Dest, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (base, s3_store, gcs_store):
        monkeypatch.setattr(module, "MAX_READ_BYTES", 1000)
    if dest.url.startswith("file:"):
        from orchestrator.releases.stores import file as file_store

        monkeypatch.setattr(file_store, "MAX_READ_BYTES", 1000)
    store = _open(dest)
    key = environments.environment_key("staging")
    assert store.create(key, b" " * 1001)
    with pytest.raises(StorageError, match="over the 1000 byte limit"):
        store.read(key)


def test_a_huge_pointer_in_a_file_store_is_never_read_whole(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())
    key = environments.environment_key("staging")
    assert store.create(key, b"{}")
    with (tmp_path / "store" / key).open("r+b") as handle:
        handle.truncate(8 << 30)  # sparse: 8 GiB that a whole read would allocate
    with pytest.raises(StorageError, match="over the .* byte limit"):
        environments.read_environment(store, "staging")


@pytest.mark.parametrize("which", ["pointer", "release"])
def test_a_fifo_in_a_file_store_is_refused_without_blocking(tmp_path: Path, which: str) -> None:
    store = open_store((tmp_path / "store").as_uri())
    key = (
        environments.environment_key("staging")
        if which == "pointer"
        else release_prefix(RELEASE) + RELEASE_FILENAME
    )
    (tmp_path / "store" / key).parent.mkdir(parents=True)
    os.mkfifo(tmp_path / "store" / key)
    with pytest.raises(StorageError, match="FIFO, socket or device"):
        store.read(key)
    result = CliRunner().invoke(cli, ["releases", "list", (tmp_path / "store").as_uri()])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("releases/" + "x" * 256 + "/release.json", "segment is longer than 255 bytes"),
        ("releases/" + "é" * 128 + "/release.json", "segment is longer than 255 bytes"),
        ("/".join(["abcdefgh"] * 120), "longer than 1024 bytes"),
        ("x" * 255, None),
    ],
    ids=["256", "utf8-256", "key-1024", "255-ok"],
)
def test_a_key_no_file_system_can_hold_is_refused_by_name(key: str, expected: str | None) -> None:
    if expected is None:
        assert check_key(key) == key
        return
    with pytest.raises(StorageError, match=expected) as caught:
        check_key(key)
    assert len(str(caught.value)) < 600  # the key is shortened in the message


def test_a_release_id_over_255_characters_is_a_clear_error_in_the_cli(tmp_path: Path) -> None:
    (tmp_path / "store" / "releases").mkdir(parents=True)
    result = CliRunner().invoke(
        cli, ["releases", "verify", (tmp_path / "store").as_uri(), "f" * 300]
    )
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)
    assert "longer than" in result.output


JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**60), 10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=JSON_VALUES,
    wrap=st.integers(0, 80),
    noise=st.binary(max_size=8),
)
def test_parse_json_ends_in_a_value_or_one_value_error(value: Any, wrap: int, noise: bytes) -> None:
    import json

    text = "[" * wrap + json.dumps(value) + "]" * wrap
    for data in (text.encode(), text.encode() + noise, noise + text.encode()):
        try:
            untrusted.parse_json(data)
        except ValueError as exc:
            assert str(exc)
