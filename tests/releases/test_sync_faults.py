"""A sync killed at random points never leaves a release.json that lies; a re-run completes.

The crash is injected through the store seam: a wrapper around the real store (moto
S3, fake-gcs-server, or a local folder) raises ``SimulatedCrash`` (a BaseException, so
nothing catches it) before, after or in the middle of a randomly chosen write. "In the
middle" writes a truncated object under the final key first, as a store without atomic
writes would.
A few real SIGKILLs of a ``orchestrator sync`` subprocess complement it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from orchestrator.core.digest import FileDigest
from orchestrator.releases.catalog import gc_releases, read_releases
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import Store, StoredObject, Versioned
from orchestrator.releases.sync import sync_release
from tests.conftest import make_dest
from tests.support.release_repos import rewrite

TRIALS = 50


class SimulatedCrash(BaseException):
    """The process 'dies' here."""


class CrashingStore:
    """Delegates to ``inner``; the ``crash_at``-th write crashes (before/during/after)."""

    def __init__(self, inner: Store, crash_at: int, mode: str, scratch: Path) -> None:
        self.inner = inner
        self.url = inner.url
        self.endpoint_url = inner.endpoint_url
        self.crash_at = crash_at
        self.mode = mode
        self.scratch = scratch
        self.writes = 0

    def _write(self, key: str, do: Callable[[], object], partial: bytes | None) -> object:
        self.writes += 1
        if self.writes != self.crash_at:
            return do()
        if self.mode == "before":
            raise SimulatedCrash(key)
        if self.mode == "torn" and partial is not None:
            torn = self.scratch / "torn"
            torn.write_bytes(partial)
            self.inner.upload(key, torn)
            raise SimulatedCrash(key)
        do()  # "after": the write landed, the process died before it learnt so
        raise SimulatedCrash(key)

    def list_objects(self, prefix: str) -> list[StoredObject]:
        return self.inner.list_objects(prefix)

    def list_children(self, prefix: str) -> list[str]:
        return self.inner.list_children(prefix)

    def read(self, key: str) -> Versioned | None:
        return self.inner.read(key)

    def digest(self, key: str) -> FileDigest | None:
        return self.inner.digest(key)

    def upload(self, key: str, source: Path) -> str | None:
        data = source.read_bytes()
        result = self._write(key, lambda: self.inner.upload(key, source), data[: len(data) // 2])
        return result if isinstance(result, str) else None

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        stored = self.inner.read(source_key)
        partial = stored.data[: len(stored.data) // 2] if stored else b""
        result = self._write(key, lambda: self.inner.copy(source_key, key, size_bytes), partial)
        return result if isinstance(result, str) else None

    def create(self, key: str, data: bytes) -> bool:
        return bool(self._write(key, lambda: self.inner.create(key, data), None))

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        self._write(key, lambda: self.inner.replace(key, data, token), None)

    def delete(self, keys: Sequence[str]) -> None:
        self.inner.delete(keys)


def assert_every_release_json_tells_the_truth(store: Store, checked: set[str] | None = None) -> int:
    """Every stored release.json: all its files present with its digests, no others.

    Releases in ``checked`` were verified before (a release is immutable) and are skipped.
    """
    complete = 0
    for release_id, release in read_releases(store).items():
        if release is None:
            continue
        complete += 1
        if checked is not None:
            if release_id in checked:
                continue
            checked.add(release_id)
        prefix = release_prefix(release_id)
        listed = {o.key for o in store.list_objects(prefix)}
        assert listed == {prefix + p for p in release.files} | {prefix + "release.json"}
        for path, digest in release.files.items():
            assert store.digest(prefix + path) == digest, f"{release_id}/{path} lies"
    return complete


def _mutate(repo: Path, rng: random.Random) -> None:
    """A new release: change a config's bytes (a version's files never change: issue 18)."""
    target = rng.choice([repo / "beta" / "config.pbtxt", repo / "alpha" / "config.pbtxt"])
    text = target.read_text()
    rewrite(target, text + f"# {rng.randrange(10**9)}\n")


@pytest.mark.parametrize("kind", ["s3", "gs", "file"])
def test_killed_syncs_never_leave_a_lying_manifest_and_reruns_complete(
    kind: str, release_repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = make_dest(kind, request, tmp_path).open()
    rng = random.Random(20261126)
    crashed = 0
    checked: set[str] = set()
    for trial in range(TRIALS):
        if trial:
            _mutate(release_repo, rng)
        release = build_release(release_repo)
        # at most len(files) transfers + release.json: pick a write in that range
        crash_at = rng.randint(1, len(release.files) + 1)
        mode = rng.choice(["before", "torn", "after"])
        faulty = CrashingStore(store, crash_at, mode, tmp_path)
        try:
            sync_release(release, faulty, jobs=rng.choice([1, 4]))
        except SimulatedCrash:
            crashed += 1
        assert_every_release_json_tells_the_truth(store, checked)

        report = sync_release(release, store, jobs=4)

        assert read_releases(store)[release.id] == release
        assert report.plan.complete or report.wrote_manifest
        # keep DEST small (and gc between crashes): the two newest stay as copy sources
        gc_releases(store, keep=2)
    assert crashed > TRIALS // 2  # the faults really happened
    assert assert_every_release_json_tells_the_truth(store) == 2


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_sigkilled_sync_processes_leave_no_lying_manifest(
    kind: str, release_repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dest = make_dest(kind, request, tmp_path)
    store = dest.open()
    rng = random.Random(7)
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "sync",
        str(release_repo),
        dest.url,
        *(["--endpoint-url", dest.endpoint_url] if dest.endpoint_url else []),
        "--jobs",
        "2",
    ]
    for _ in range(3):
        _mutate(release_repo, rng)
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(rng.uniform(0.3, 1.5))
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert_every_release_json_tells_the_truth(store)
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        release = build_release(release_repo)
        assert read_releases(store)[release.id] == release
    assert_every_release_json_tells_the_truth(store)
