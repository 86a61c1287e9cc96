"""The local digest cache: hits while the stat is unchanged, misses on any change, and a
cache file that is not exactly its own is ignored and rewritten, never believed."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.core.cache_files import MAX_CACHE_BYTES, default_cache_dir
from orchestrator.core.digest import FileDigest, file_digest
from orchestrator.core.digest_cache import DigestCache
from tests.support.file_times import move_ctime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "m" / "1").mkdir(parents=True)
    (root / "m" / "1" / "model.onnx").write_bytes(b"graph bytes " * 1000)
    (root / "m" / "config.pbtxt").write_text('name: "m"\n')
    return root


def _open(repo: Path, cache_dir: Path, **kwargs: object) -> DigestCache:
    # settle_ns=0: a file may be remembered as soon as it is written (tests write files
    # and read them back at once; the default waits until a change is 2 s old).
    return DigestCache.for_repository(repo, cache_dir=cache_dir, settle_ns=0, **kwargs)  # type: ignore[arg-type]


def _warm(repo: Path, cache_dir: Path, path: Path) -> FileDigest:
    cache = _open(repo, cache_dir)
    digest = cache.digest(path)
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.save()
    return digest


def test_an_unchanged_file_is_taken_from_the_cache_in_a_later_run(
    repo: Path, tmp_path: Path
) -> None:
    model = repo / "m" / "1" / "model.onnx"
    first = _warm(repo, tmp_path / "cache", model)

    later = _open(repo, tmp_path / "cache", hash_file=_refuse)
    assert later.digest(model) == first == file_digest(model)
    assert (later.hits, later.misses) == (1, 0)
    assert not later.save()  # nothing changed: nothing written


def _refuse(path: Path) -> FileDigest:
    raise AssertionError(f"{path} was read although its digest is cached")


def _new_inode(path: Path, before: os.stat_result) -> None:
    copy = path.with_name(path.name + ".new")
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _grow(path: Path, before: os.stat_result) -> None:
    with path.open("ab") as handle:
        handle.write(b"!")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _touch(path: Path, before: os.stat_result) -> None:
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def _same_size_edit_with_mtime_restored(path: Path, before: os.stat_result) -> None:
    data = path.read_bytes()
    path.write_bytes(data.replace(b"graph", b"GRAPH", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    move_ctime(path, before)


CHANGES: dict[str, Callable[[Path, os.stat_result], None]] = {
    "new inode, same bytes and mtime": _new_inode,
    "size, mtime restored": _grow,
    "mtime only": _touch,
    "ctime only (chmod to the same mode)": move_ctime,
    "same-size edit, mtime restored": _same_size_edit_with_mtime_restored,
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_any_change_of_inode_size_mtime_or_ctime_is_a_miss_and_rehashed(
    repo: Path, tmp_path: Path, change: Callable[[Path, os.stat_result], None]
) -> None:
    model = repo / "m" / "1" / "model.onnx"
    _warm(repo, tmp_path / "cache", model)
    before = os.stat(model)
    assert before.st_mtime_ns == os.stat(model).st_mtime_ns

    change(model, before)

    later = _open(repo, tmp_path / "cache")
    assert later.digest(model) == file_digest(model)
    assert (later.hits, later.misses) == (0, 1)


def test_a_same_size_edit_with_the_mtime_put_back_gets_its_new_digest(
    repo: Path, tmp_path: Path
) -> None:
    model = repo / "m" / "1" / "model.onnx"
    old = _warm(repo, tmp_path / "cache", model)
    before = os.stat(model)

    _same_size_edit_with_mtime_restored(model, before)

    after = os.stat(model)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    new = _open(repo, tmp_path / "cache").digest(model)
    assert new != old and new == file_digest(model)


def test_a_file_changed_within_the_settle_time_is_not_remembered(
    repo: Path, tmp_path: Path
) -> None:
    model = repo / "m" / "1" / "model.onnx"  # written just now
    for _ in range(2):
        cache = DigestCache.for_repository(repo, cache_dir=tmp_path / "cache")
        assert cache.digest(model) == file_digest(model)
        assert (cache.hits, cache.misses) == (0, 1)
        assert not cache.save()


def test_a_file_that_changes_while_it_is_read_is_not_remembered(repo: Path, tmp_path: Path) -> None:
    model = repo / "m" / "1" / "model.onnx"

    def changing(path: Path) -> FileDigest:
        digest = file_digest(path)
        path.write_bytes(b"new bytes")
        return digest

    _open(repo, tmp_path / "cache", hash_file=changing).digest(model)
    later = _open(repo, tmp_path / "cache")
    assert later.digest(model) == FileDigest(file_digest(model).sha256, len(b"new bytes"))
    assert later.misses == 1


def test_a_symbolic_link_is_left_to_the_hasher_and_never_cached(repo: Path, tmp_path: Path) -> None:
    link = repo / "m" / "1" / "link.onnx"
    link.symlink_to(repo / "m" / "1" / "model.onnx")
    seen: list[Path] = []

    def hasher(path: Path) -> FileDigest:
        seen.append(path)
        return file_digest(path)

    cache = _open(repo, tmp_path / "cache", hash_file=hasher)
    cache.digest(link)
    cache.digest(link)
    assert seen == [link, link] and cache.hits == 0
    with pytest.raises(FileNotFoundError):
        cache.digest(repo / "missing")


def _garbage(path: Path, good: bytes) -> None:
    path.write_bytes(b"\x00\xffnot json")


def _truncated(path: Path, good: bytes) -> None:
    path.write_bytes(good[: len(good) // 2])


def _edit(**changes: object) -> Callable[[Path, bytes], None]:
    def write(path: Path, good: bytes) -> None:
        body = json.loads(good)
        body.update(changes)
        path.write_text(json.dumps(body))

    return write


def _poison_entries(transform: Callable[[list[object]], list[object]]) -> Callable[..., None]:
    def write(path: Path, good: bytes) -> None:
        body = json.loads(good)
        body["entries"] = {name: transform(value) for name, value in body["entries"].items()}
        path.write_text(json.dumps(body))

    return write


def _foreign(**changes: object) -> Callable[[Path, bytes], None]:
    """Entries with the right stat but a wrong digest, in a file written for someone else."""

    def write(path: Path, good: bytes) -> None:
        body = json.loads(good)
        body.update(changes)
        body["entries"] = {
            name: [*value[:5], WRONG_DIGEST] for name, value in body["entries"].items()
        }
        path.write_text(json.dumps(body))

    return write


def _oversized(path: Path, good: bytes) -> None:
    with path.open("wb") as handle:
        handle.truncate(MAX_CACHE_BYTES + 1)


def _fifo(path: Path, good: bytes) -> None:
    path.unlink()
    os.mkfifo(path)  # opening it for reading would block forever


def _link(path: Path, good: bytes) -> None:
    target = path.with_name("elsewhere.json")
    target.write_bytes(good)
    path.unlink()
    path.symlink_to(target)


WRONG_DIGEST = "0" * 64
CORRUPTIONS: dict[str, Callable[[Path, bytes], object]] = {
    "not json": _garbage,
    "truncated": _truncated,
    "not an object": lambda path, good: path.write_text("[1, 2]"),
    "nested too deep": lambda path, good: path.write_text("[" * 100_000 + "]" * 100_000),
    "another format": _edit(format=2),
    "another kind of file": _edit(kind="something else"),
    "written on another host": _foreign(machine="other-host"),
    "for another repository": _foreign(scope="/elsewhere/repo"),
    "a sha256 that is not hex": _poison_entries(lambda v: [*v[:5], "z" * 64]),
    "a negative size": _poison_entries(lambda v: [v[0], v[1], -1, v[3], v[4], v[5]]),
    "a boolean for a number": _poison_entries(lambda v: [True, *v[1:]]),
    "a short entry": _poison_entries(lambda v: v[:5]),
    "entries not an object": _edit(entries=[]),
    "facts not an object": _edit(facts=[]),
    "facts of a kind not an object": _edit(facts={"onnx-signature/1": []}),
    "a fact under a key that is not a sha256": _edit(facts={"onnx-signature/1": {"x": {}}}),
    "larger than the cap": _oversized,
    "a FIFO": _fifo,
    "a symbolic link": _link,
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_or_foreign_cache_file_is_ignored_and_rewritten(
    repo: Path,
    tmp_path: Path,
    corrupt: Callable[[Path, bytes], object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = repo / "m" / "1" / "model.onnx"
    _warm(repo, tmp_path / "cache", model)
    cache_file = _open(repo, tmp_path / "cache").cache_file
    assert cache_file is not None
    good = cache_file.read_bytes()
    corrupt(cache_file, good)

    with caplog.at_level(logging.WARNING, "orchestrator.core.digest_cache"):
        cache = _open(repo, tmp_path / "cache")
    assert "Ignoring the digest cache" in caplog.text
    assert cache.digest(model) == file_digest(model)
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.save()

    assert cache_file.is_file() and not cache_file.is_symlink()
    again = _open(repo, tmp_path / "cache", hash_file=_refuse)
    assert again.digest(model) == file_digest(model) and again.hits == 1


def test_an_ignored_cache_is_rewritten_even_when_nothing_was_read(
    repo: Path, tmp_path: Path
) -> None:
    cache = _open(repo, tmp_path / "cache")
    assert cache.cache_file is not None
    cache.cache_file.parent.mkdir(parents=True)
    cache.cache_file.write_text("{")
    assert _open(repo, tmp_path / "cache").save()
    assert json.loads(cache.cache_file.read_text())["entries"] == {}


def test_entries_of_deleted_files_are_dropped_when_the_cache_is_saved(
    repo: Path, tmp_path: Path
) -> None:
    model, config = repo / "m" / "1" / "model.onnx", repo / "m" / "config.pbtxt"
    cache = _open(repo, tmp_path / "cache")
    cache.digest(model)
    cache.digest(config)
    cache.save()
    config.unlink()
    other = repo / "m" / "1" / "notes.txt"
    other.write_text("notes")

    later = _open(repo, tmp_path / "cache")
    later.digest(other)
    later.save()

    assert later.cache_file is not None
    names = set(json.loads(later.cache_file.read_text())["entries"])
    assert names == {str(model), str(other)}  # model kept (unchanged), config dropped


def test_a_cache_that_cannot_be_written_is_skipped_with_a_warning(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be")
    cache = _open(repo, blocker)
    cache.digest(repo / "m" / "1" / "model.onnx")
    with caplog.at_level(logging.WARNING, "orchestrator.core.digest_cache"):
        assert not cache.save()
    assert "Cannot write the digest cache" in caplog.text


def test_concurrent_writers_never_leave_a_torn_or_foreign_file(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir = tmp_path / "cache"
    files = []
    for index in range(4):
        path = repo / "m" / "1" / f"part{index}.bin"
        path.write_bytes(bytes([index]) * 4096)
        files.append(path)
    writer = (
        "import sys\n"
        "from pathlib import Path\n"
        "from orchestrator.core.digest_cache import DigestCache\n"
        "repo, cache_dir, target = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])\n"
        "for round in range(60):\n"
        "    target.write_bytes(round.to_bytes(2, 'big') * 100)\n"
        "    cache = DigestCache.for_repository(repo, cache_dir=cache_dir, settle_ns=0)\n"
        "    cache.digest(target)\n"
        "    assert cache.save()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", writer, str(repo), str(cache_dir), str(path)], env=env
        )
        for path in files[:2]
    ]
    errors: list[BaseException] = []

    def thread_writer(path: Path) -> None:
        try:
            for round in range(60):
                path.write_bytes(round.to_bytes(2, "big") * 100)
                cache = _open(repo, cache_dir)
                cache.digest(path)
                assert cache.save()
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=thread_writer, args=(path,)) for path in files[2:]]
    with caplog.at_level(logging.WARNING, "orchestrator.core.digest_cache"):
        for thread in threads:
            thread.start()
        while any(p.poll() is None for p in processes) or any(t.is_alive() for t in threads):
            _open(repo, cache_dir)  # a reader in the middle of it all
        for thread in threads:
            thread.join()
    assert [p.wait() for p in processes] == [0, 0]
    assert errors == []
    assert "Ignoring the digest cache" not in caplog.text  # never saw a torn file
    cache = _open(repo, cache_dir)
    assert cache.cache_file is not None
    assert [p.name for p in cache.cache_file.parent.iterdir()] == [cache.cache_file.name]
    for path in files:  # whatever the last writer kept is right; the rest is a miss
        assert cache.digest(path) == file_digest(path)


def test_the_cache_lives_in_the_user_cache_dir_keyed_by_the_repositorys_real_path(
    repo: Path, tmp_path: Path, user_cache_dir: Path
) -> None:
    assert default_cache_dir() == user_cache_dir / "triton-orchestrator"
    link = tmp_path / "link-to-repo"
    link.symlink_to(repo)
    direct = DigestCache.for_repository(repo)
    via_link = DigestCache.for_repository(link)
    other = DigestCache.for_repository(tmp_path)
    assert direct.cache_file is not None
    assert direct.cache_file.parent == user_cache_dir / "triton-orchestrator" / "digests"
    assert direct.cache_file == via_link.cache_file != other.cache_file
    assert direct.scope == str(repo.resolve())


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert default_cache_dir() == Path.home() / ".cache" / "triton-orchestrator"


def test_a_cache_folder_inside_the_repository_is_not_used(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "orchestrator.core.digest_cache"):
        cache = DigestCache.for_repository(repo, cache_dir=repo / "m" / ".cache", settle_ns=0)
    assert cache.cache_file is None
    assert "inside the repository" in caplog.text
    cache.digest(repo / "m" / "1" / "model.onnx")
    assert not cache.save()
    assert not (repo / "m" / ".cache").exists()


def test_the_host_name_is_recorded(repo: Path, tmp_path: Path) -> None:
    _warm(repo, tmp_path / "cache", repo / "m" / "config.pbtxt")
    cache_file = _open(repo, tmp_path / "cache").cache_file
    assert cache_file is not None
    assert json.loads(cache_file.read_text())["machine"] == socket.gethostname()


def test_a_fact_is_kept_while_a_file_has_its_content_and_dropped_after(
    repo: Path, tmp_path: Path
) -> None:
    model = repo / "m" / "1" / "model.onnx"
    cache = _open(repo, tmp_path / "cache")
    sha256 = cache.digest(model).sha256
    cache.remember("note/1", sha256, {"inputs": ["x"]})
    assert cache.save()

    later = _open(repo, tmp_path / "cache", hash_file=_refuse)
    assert later.known(model) == file_digest(model)
    assert later.recall("note/1", sha256) == {"inputs": ["x"]}
    assert later.recall("other/1", sha256) is None

    before = model.stat()
    model.write_bytes(b"another graph " * 1000)
    move_ctime(model, before)
    changed = _open(repo, tmp_path / "cache")
    assert changed.known(model) is None  # its stat moved: unknown, and nothing was read
    assert changed.misses == 0
    changed.digest(model)
    assert changed.save()
    assert _open(repo, tmp_path / "cache").recall("note/1", sha256) is None


def test_remember_refuses_a_key_that_is_not_a_sha256(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        _open(repo, tmp_path / "cache").remember("note/1", "../../etc", True)


def test_a_fact_under_a_key_that_names_no_file_is_kept_while_each_run_recalls_it(
    repo: Path, tmp_path: Path
) -> None:
    tree = "7" * 64  # e.g. validation.verdict's key of the whole tree: no file has it
    first = _open(repo, tmp_path / "cache")
    first.digest(repo / "m" / "1" / "model.onnx")
    first.remember("tree/1", tree, True)
    assert first.save()

    second = _open(repo, tmp_path / "cache")
    assert second.recall("tree/1", tree) is True
    second.digest(repo / "m" / "config.pbtxt")  # something to save
    assert second.save()

    third = _open(repo, tmp_path / "cache")
    assert third.recall("tree/1", tree) is True  # kept: the second run recalled it
    fourth = _open(repo, tmp_path / "cache")
    fourth.digest(repo / "m" / "config.pbtxt")
    fourth.remember("tree/1", "8" * 64, True)  # the tree changed: a new key, the old unused
    assert fourth.save()
    fifth = _open(repo, tmp_path / "cache")
    assert fifth.recall("tree/1", tree) is None
    assert fifth.recall("tree/1", "8" * 64) is True
