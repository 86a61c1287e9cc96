"""core.untrusted: regular files only, only inside their folder, size caps, bounded walks.

Every hostile file is made for real in tmp_path (a FIFO, links to /dev/zero and to a file
outside, a sparse 5 GB file); a test that would block instead of refusing is cut by
pytest-timeout.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.core import untrusted
from orchestrator.errors import RepositoryError, UnsafeFileError

pytestmark = pytest.mark.timeout(60)

FIVE_GB = 5 << 30


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "model.onnx").write_bytes(b"onnx bytes")
    secret = tmp_path / "secret.txt"
    secret.write_text("aws_secret_access_key = hunter2\n")
    os.symlink(secret, root / "m" / "outside-link")
    os.symlink("1/model.onnx", root / "m" / "inside-link")
    os.symlink("/dev/zero", root / "m" / "zero")
    os.symlink("m", root / "linked-model")
    os.mkfifo(root / "m" / "fifo")
    with (root / "big").open("wb") as handle:
        handle.truncate(FIVE_GB)
    return root


def test_a_regular_file_inside_is_read(tree: Path) -> None:
    assert untrusted.read_bytes(tree, "m/1/model.onnx", max_bytes=100) == b"onnx bytes"
    assert untrusted.digest(tree, "m/1/model.onnx").size_bytes == 10
    assert untrusted.kind_of(tree, "m/1/model.onnx") == "file"
    assert untrusted.kind_of(tree, "m/1/nothing") is None


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("m/outside-link", "link"),
        ("m/inside-link", "link"),  # links are refused even when they stay inside
        ("m/zero", "link"),
        ("linked-model/1/model.onnx", "link"),  # a link on the way, not only at the end
        ("m/fifo", "special"),
        ("m/1", "special"),
        ("big", "too-large"),
        ("../secret.txt", "outside"),
        ("m/../../secret.txt", "outside"),
        ("/etc/hostname", "outside"),
        ("", "outside"),
        ("m/1/nothing", "missing"),
    ],
)
def test_every_breach_is_refused_without_reading(tree: Path, relative: str, reason: str) -> None:
    reads: list[Callable[[], object]] = [
        lambda: untrusted.read_bytes(tree, relative, max_bytes=untrusted.CONFIG_MAX_BYTES)
    ]
    if reason != "too-large":  # a digest streams: it has no cap
        reads.append(lambda: untrusted.digest(tree, relative))
    for read in reads:
        with pytest.raises(UnsafeFileError) as caught:
            read()
        assert caught.value.reason == reason
        assert isinstance(caught.value, RepositoryError)
        assert "hunter2" not in str(caught.value)


def test_the_refusal_names_the_path_and_the_limit(tree: Path) -> None:
    with pytest.raises(UnsafeFileError, match=f"{tree / 'big'} is {FIVE_GB} bytes") as caught:
        untrusted.read_bytes(tree, "big", max_bytes=untrusted.JSON_MAX_BYTES)
    assert f"{untrusted.JSON_MAX_BYTES} byte limit" in str(caught.value)
    assert caught.value.path == tree / "big"


def test_a_file_that_grows_past_the_cap_while_read_is_cut(tmp_path: Path) -> None:
    # /proc files report size 0 and yield more: the read stops at the cap + 1 byte.
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(UnsafeFileError) as caught:
        untrusted.read_bytes(Path("/proc/self"), "status", max_bytes=10)
    assert caught.value.reason == "too-large"


def test_walks_report_links_and_special_files_without_following_them(tree: Path) -> None:
    kinds = {e.name: e.kind for e in untrusted.walk(tree)}
    assert kinds == {
        "big": "file",
        "linked-model": "link",
        "m": "folder",
        "m/1": "folder",
        "m/1/model.onnx": "file",
        "m/fifo": "special",
        "m/inside-link": "link",
        "m/outside-link": "link",
        "m/zero": "link",
    }
    assert [e.name for e in untrusted.entries(tree, "m/1")] == ["model.onnx"]
    with pytest.raises(UnsafeFileError) as caught:
        untrusted.entries(tree, "linked-model")
    assert caught.value.reason == "link"


def test_a_walk_stops_at_its_depth(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * (untrusted.MAX_DEPTH + 2))
    deep.mkdir(parents=True)
    with pytest.raises(UnsafeFileError, match="deeper than") as caught:
        untrusted.walk(tmp_path)
    assert caught.value.reason == "too-large"


def test_split_keeps_a_file_inside_the_folder_it_belongs_to(tmp_path: Path) -> None:
    assert untrusted.split(tmp_path / "a" / "b", tmp_path) == (tmp_path, "a/b")
    assert untrusted.split(tmp_path / "a", None) == (tmp_path, "a")
    with pytest.raises(UnsafeFileError) as caught:
        untrusted.split(Path("/etc/hostname"), tmp_path)
    assert caught.value.reason == "outside"
