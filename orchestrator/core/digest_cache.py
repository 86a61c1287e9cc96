"""A local cache of file digests: an unchanged repository costs one ``lstat`` per file.

``release`` and ``sync`` need the sha256 of every file Triton will read, and validation
checks every version's ``manifest.json`` against its files; reading every byte on every
run made a no-change re-sync of a large repository slower than hashing it. This cache
remembers each file's digest together with what ``lstat`` said about it when it was
read: device, inode, size, ``mtime_ns`` and ``ctime_ns``. A file whose five values are
unchanged is not read again; any difference is a miss, and the file is hashed.

**Why ctime.** A same-size edit whose mtime is put back (``cp -p``, ``rsync -t``,
unpacking an archive, ``os.utime``) keeps size and mtime, which is all ``aws s3 sync``
compares, so it misses such an edit. Any write or ``utime`` sets the ctime to the clock,
and no call sets it back, so the edit still misses the cache and is still found.

**Racy entries.** File systems stamp times from a coarse clock, so a file written again
within the same tick after it was hashed could keep all five values. As git does with
"racily clean" index entries, a digest is only remembered when the file's last change
(mtime and ctime) is at least ``SETTLE_NS`` older than the start of the hash and its stat
did not move while it was read; a newer file is simply hashed again next time.

**Where it lives.** ``$XDG_CACHE_HOME/triton-orchestrator/digests/<key>.json``
(``~/.cache`` when the variable is unset or relative), one file per repository, ``<key>``
being the sha256 of the repository's real path. Never inside the repository: the
repository is what is released, synced, committed and served; it may be read-only (a CI
checkout, a mounted volume); and a tool that mirrors the folder (``aws s3 sync``) would
carry the file along. (The repository's staging folders were the other candidate; they
sit under each model, and the validator reports them as leftovers of a crashed publish.)
A cache folder that resolves into the repository is not used (digests are then kept for
the one run only).

**Remembered facts.** Beside the digests, the file keeps what was once derived from a
file's content, by its sha256 (``remember``, ``recall``): the ONNX signature of a model
file (``onnx_signature.read_signature``), so an unchanged repository is validated without
importing ``onnx`` or parsing a graph again. A fact is kept while some file of the
repository still has that sha256 (or, for a key that names no file, while each run
recalls it: ``validation.verdict``), and is the caller's to check when recalled.

**Trust.** The file is local and advisory. One that is not exactly what this module writes
(its format, this machine's host name, this repository's real path, well-formed entries,
a regular file under ``MAX_CACHE_BYTES``) is ignored whole, never partly believed, and
rewritten: a miss only costs a hash. A copied cache fails the host check, and its entries
would also need the same device, inode and nanosecond ctime. It is written to a temporary
file in its own folder and renamed over the old one, so two runs at once never leave a
torn file: the last writer wins, and an entry it lacks is a later miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator.core import untrusted
from orchestrator.core.cache_files import default_cache_dir, read_regular, write_atomically
from orchestrator.core.digest import FileDigest, FileHasher, file_digest

__all__ = ["SETTLE_NS", "DigestCache", "tree_hasher"]

logger = logging.getLogger(__name__)

SETTLE_NS = 2_000_000_000
_FORMAT = 1
_KIND = "triton-orchestrator digest cache"
_SHA256 = re.compile(r"[0-9a-f]{64}")

_Key = tuple[int, int, int, int, int]
"""What lstat said: (device, inode, size, mtime_ns, ctime_ns)."""


@dataclass(frozen=True)
class _Entry:
    key: _Key
    digest: FileDigest


class DigestCache:
    """Digests of a repository's files, taken from the cache while their stat is unchanged.

    Use ``DigestCache.for_repository(root)``; ``digest(path)`` is a drop-in for
    ``file_digest``; ``save()`` (or leaving a ``with`` block) writes what changed.
    ``hits`` and ``misses`` count this run's lookups.

    Args:
        cache_file: where entries are loaded from and saved to; None keeps them for this
            object's life only.
        scope: what the file belongs to (the repository's real path); a file written for
            another scope, or on another host, is ignored.
        hash_file: how a miss is hashed.
        settle_ns: how old a file's last change must be before its digest is remembered
            (``SETTLE_NS`` when None).
        clock_ns: the wall clock, in nanoseconds (file times are wall-clock times).
    """

    def __init__(
        self,
        cache_file: Path | None,
        *,
        scope: str = "",
        hash_file: FileHasher = file_digest,
        settle_ns: int | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.cache_file = cache_file
        self.scope = scope
        self.hits = 0
        self.misses = 0
        self._hash_file = hash_file
        self._settle_ns = SETTLE_NS if settle_ns is None else settle_ns
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._used: set[str] = set()
        self._facts: dict[str, dict[str, Any]] = {}
        self._facts_used: set[tuple[str, str]] = set()
        self._entries, self._dirty = self._load()

    @classmethod
    def for_repository(
        cls,
        root: Path,
        *,
        cache_dir: Path | None = None,
        hash_file: FileHasher | None = None,
        settle_ns: int | None = None,
    ) -> DigestCache:
        """The cache of one repository, in ``cache_dir`` (``default_cache_dir()``).

        A miss is hashed by ``hash_file``, by default under the untrusted-input rule
        (``untrusted.digest`` relative to ``root``: never through a link, never a FIFO).

        Example:
            >>> digests = DigestCache.for_repository(Path("model_repository"))  # doctest: +SKIP
            >>> digests.digest(Path("model_repository/m/1/model.onnx")).size_bytes  # doctest: +SKIP
            155080
            >>> digests.save()  # doctest: +SKIP
            True
        """
        real_root = os.path.realpath(root)
        folder = Path(os.path.realpath(cache_dir or default_cache_dir())) / "digests"
        cache_file: Path | None = folder / (_sha256_hex(real_root)[:32] + ".json")
        if folder == Path(real_root) or Path(real_root) in folder.parents:
            logger.warning(
                "Not using the digest cache in %s: it lies inside the repository %s, which "
                "must hold only what is released. Set XDG_CACHE_HOME to a folder outside it.",
                folder,
                real_root,
            )
            cache_file = None
        hasher = hash_file if hash_file is not None else tree_hasher(root)
        return cls(cache_file, scope=real_root, hash_file=hasher, settle_ns=settle_ns)

    def digest(self, path: Path) -> FileDigest:
        """sha256 and size of ``path``: from the cache if its stat is unchanged, else read.

        Anything but a regular file (a link, a FIFO, a device, a missing path) is passed
        to the hasher untouched and never cached, so its handling is the hasher's.

        Example:
            >>> DigestCache(None).digest(Path("model.onnx")).size_bytes  # doctest: +SKIP
            155080
        """
        name = os.path.abspath(path)
        try:
            before = os.stat(path, follow_symlinks=False)
        except OSError:
            return self._hash_file(path)
        if not stat.S_ISREG(before.st_mode):
            return self._hash_file(path)
        key = _key(before)
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.key == key:
                self.hits += 1
                self._used.add(name)
                return entry.digest
        started_ns = self._clock_ns()
        digest = self._hash_file(path)
        try:
            after: _Key | None = _key(os.stat(path, follow_symlinks=False))
        except OSError:
            after = None
        settled = max(before.st_mtime_ns, before.st_ctime_ns) + self._settle_ns <= started_ns
        with self._lock:
            self.misses += 1
            if after == key and digest.size_bytes == before.st_size and settled:
                self._entries[name] = _Entry(key, digest)
                self._used.add(name)
                self._dirty = True
            elif self._entries.pop(name, None) is not None:
                self._dirty = True
        return digest

    @property
    def settle_ns(self) -> int:
        """How old a change must be before what was read of it is remembered."""
        return self._settle_ns

    def known(self, path: Path) -> FileDigest | None:
        """The cached digest of ``path`` while its stat is unchanged; None, never read, else.

        Example:
            >>> DigestCache(None).known(Path("model.onnx")) is None  # doctest: +SKIP
            True
        """
        name = os.path.abspath(path)
        try:
            found = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.key != _key(found):
                return None
            self._used.add(name)
            return entry.digest

    def recall(self, kind: str, sha256: str) -> Any:
        """What ``remember`` kept for ``kind`` of the content ``sha256``; None when nothing.

        The value is as loaded from the cache file: the caller checks its shape.
        """
        with self._lock:
            value = self._facts.get(kind, {}).get(sha256)
            if value is not None:
                self._facts_used.add((kind, sha256))
            return value

    def recall_unchanged(self, root: Path, relative: str, kind: str, *, max_bytes: int) -> Any:
        """What ``remember`` kept for ``kind`` of the file ``root/relative``, while unchanged.

        None when its stat changed since it was hashed, it is larger than ``max_bytes``, or
        nothing was kept (the caller then reads the file, under its own rules). The file is
        not read, but the untrusted-input rule still holds (``core.untrusted``): no link on
        the way inside ``root``, a regular file at the end.

        Raises:
            UnsafeFileError: a link or special file on the way or at the end.
        """
        known = self.known(root / relative)
        if known is None or known.size_bytes > max_bytes:
            return None
        found = untrusted.kind_of(root, relative)
        if found != "file":
            untrusted.require_kind(root, untrusted.Entry(relative, found or "special"), "file")
        return self.recall(kind, known.sha256)

    def remember(self, kind: str, sha256: str, value: Any) -> None:
        """Keep ``value`` (JSON data) as ``kind`` of the content whose sha256 is ``sha256``.

        It is saved while a file of the repository with that content is in the cache, or
        while each run recalls it (a key that names no file, such as a tree's).

        Example:
            >>> cache = DigestCache(None)
            >>> cache.remember("note", "ab" * 32, {"ok": True})
            >>> cache.recall("note", "ab" * 32)
            {'ok': True}
        """
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        with self._lock:
            facts = self._facts.setdefault(kind, {})
            self._facts_used.add((kind, sha256))
            if facts.get(sha256) != value:
                facts[sha256] = value
                self._dirty = True

    def save(self) -> bool:
        """Write the cache if this run changed it; True when written.

        Entries this run did not look up are kept while their file's stat still matches.
        A cache that cannot be written is logged and skipped: the next run hashes again.
        """
        with self._lock:
            written = False
            if self.cache_file is not None and self._dirty:
                written = self._write(self.cache_file)
            logger.info(
                "Digests: %d from the cache, %d read; cache %s %s",
                self.hits,
                self.misses,
                self.cache_file or "(this run only)",
                "saved" if written else "not written",
            )
            return written

    def _write(self, cache_file: Path) -> bool:
        entries = {
            name: entry
            for name, entry in self._entries.items()
            if name in self._used or _still_matches(name, entry)
        }
        contents = {entry.digest.sha256 for entry in entries.values()}
        facts = {
            kind: {
                sha256: value
                for sha256, value in sorted(values.items())
                if sha256 in contents or (kind, sha256) in self._facts_used
            }
            for kind, values in sorted(self._facts.items())
        }
        body = {
            "format": _FORMAT,
            "kind": _KIND,
            "machine": socket.gethostname(),
            "scope": self.scope,
            "entries": {
                name: [*entry.key, entry.digest.sha256] for name, entry in sorted(entries.items())
            },
            "facts": {kind: values for kind, values in facts.items() if values},
        }
        try:
            write_atomically(cache_file, json.dumps(body, separators=(",", ":")).encode())
        except OSError as exc:
            logger.warning("Cannot write the digest cache %s: %s", cache_file, exc.strerror or exc)
            return False
        self._dirty = False
        return True

    def __enter__(self) -> DigestCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Digests taken before a failure are still right: keep them.
        self.save()

    def _load(self) -> tuple[dict[str, _Entry], bool]:
        """The entries (and facts) of the cache file, and whether it must be rewritten."""
        if self.cache_file is None:
            return {}, False
        try:
            data = read_regular(self.cache_file)
        except FileNotFoundError:
            return {}, False
        except (OSError, ValueError) as exc:
            return self._ignore(str(exc))
        try:
            body = json.loads(data)
            entries = self._parse(body)
            self._facts = _parse_facts(body.get("facts", {}))
        except (ValueError, RecursionError) as exc:  # json's errors are ValueErrors
            return self._ignore(str(exc) or type(exc).__name__)
        return entries, False

    def _parse(self, body: Any) -> dict[str, _Entry]:
        if not isinstance(body, dict) or body.get("kind") != _KIND:
            raise ValueError("not a digest cache")
        if body.get("format") != _FORMAT:
            raise ValueError(f"format {body.get('format')!r}, expected {_FORMAT}")
        if body.get("machine") != socket.gethostname() or body.get("scope") != self.scope:
            raise ValueError(
                f"written for {body.get('scope')!r} on {body.get('machine')!r}, not for "
                f"{self.scope!r} on this host"
            )
        listed = body.get("entries")
        if not isinstance(listed, dict):
            raise ValueError("entries is not an object")
        entries = {}
        for name, value in listed.items():
            if not isinstance(value, list) or len(value) != 6:
                raise ValueError(f"malformed entry for {name!r}")
            *numbers, sha256 = value
            if not all(type(n) is int and n >= 0 for n in numbers):
                raise ValueError(f"malformed entry for {name!r}")
            if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
                raise ValueError(f"malformed sha256 for {name!r}")
            device, inode, size, mtime_ns, ctime_ns = numbers
            key = (device, inode, size, mtime_ns, ctime_ns)
            entries[str(name)] = _Entry(key, FileDigest(sha256, size))
        return entries

    def _ignore(self, why: str) -> tuple[dict[str, _Entry], bool]:
        logger.warning(
            "Ignoring the digest cache %s (%s); every file is read, and the cache rewritten.",
            self.cache_file,
            why,
        )
        return {}, True


def _parse_facts(listed: Any) -> dict[str, dict[str, Any]]:
    """``{kind: {sha256: value}}``; the values are checked by whoever recalls them."""
    if not isinstance(listed, dict):
        raise ValueError("facts is not an object")
    facts: dict[str, dict[str, Any]] = {}
    for kind, values in listed.items():
        if not isinstance(values, dict):
            raise ValueError(f"facts of {kind!r} is not an object")
        for sha256 in values:
            if not _SHA256.fullmatch(sha256):
                raise ValueError(f"malformed sha256 among the facts of {kind!r}")
        facts[str(kind)] = dict(values)
    return facts


def _key(result: os.stat_result) -> _Key:
    return (
        result.st_dev,
        result.st_ino,
        result.st_size,
        result.st_mtime_ns,
        result.st_ctime_ns,
    )


def _still_matches(name: str, entry: _Entry) -> bool:
    try:
        return _key(os.stat(name, follow_symlinks=False)) == entry.key
    except OSError:
        return False


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def tree_hasher(root: Path) -> FileHasher:
    """A hasher of files under ``root`` that follows the untrusted-input rule.

    Example:
        >>> hash_file = tree_hasher(Path("model_repository"))
        >>> hash_file(Path("model_repository/m/1/model.onnx")).size_bytes  # doctest: +SKIP
        155080
    """
    base = os.path.abspath(root)

    def hash_file(path: Path) -> FileDigest:
        # A path that leaves root becomes "../...", which untrusted refuses as outside.
        return untrusted.digest(root, os.path.relpath(os.path.abspath(path), base))

    return hash_file
