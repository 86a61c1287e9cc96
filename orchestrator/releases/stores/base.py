"""Object stores behind one small interface: ``file://``, ``s3://`` (boto3) and ``gs://``.

A store is rooted at a URL (``s3://bucket/prefix``); every key is relative to that root
and is checked (``check_key``) both ways: keys we write and keys a listing returns. A key
with ``..``, an absolute path, a backslash or a NUL byte is refused, so nothing is ever
read from or written outside the root.

The S3 backend (the only boto3 import) lives in ``storage_s3``, the GCS one in
``storage_gcs``; each maps its library's errors to ``StorageError``.

The operations sync needs, and how each store does them:

=========  =========================  ===================================  ======================
operation  file://                    s3://                                gs://
=========  =========================  ===================================  ======================
digest     sha256 of the file         ``ChecksumSHA256`` from HEAD          download and hash
                                      (download and hash when absent)
create     ``link()`` (fails if       ``PutObject`` ``If-None-Match: *``    ``ifGenerationMatch=0``
           the name exists)
replace    lock + compare sha256      ``PutObject`` ``If-Match: <ETag>``    ``ifGenerationMatch``
copy       local copy                 ``CopyObject`` (server side)          ``copy_blob``
=========  =========================  ===================================  ======================
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from orchestrator.core.digest import FileDigest, file_digest
from orchestrator.errors import StorageError

__all__ = [
    "FileStore",
    "PrefixedKeys",
    "Store",
    "StoreConflictError",
    "StoreLocation",
    "StoredObject",
    "Versioned",
    "check_key",
    "open_store",
    "parse_store_url",
]

logger = logging.getLogger(__name__)

_TMP_DIR = ".tmp"


class StoreConflictError(StorageError):
    """Raised when a conditional write finds the key created or changed by someone else."""


@dataclass(frozen=True)
class StoredObject:
    """One object in a store: its key (relative to the store's root) and size."""

    key: str
    size_bytes: int


@dataclass(frozen=True)
class Versioned:
    """An object's bytes and the token a later ``replace`` compares (ETag, generation)."""

    data: bytes
    token: str


@dataclass(frozen=True)
class StoreLocation:
    """A parsed store URL: ``scheme://bucket/prefix`` (``file``: bucket empty, prefix a path)."""

    scheme: str
    bucket: str
    prefix: str

    def __post_init__(self) -> None:
        if self.scheme not in ("file", "s3", "gs"):
            raise StorageError(
                f"Unsupported store scheme {self.scheme!r}. "
                "Expected file:///path, s3://bucket/prefix or gs://bucket/prefix."
            )


class Store(Protocol):
    """What sync, releases and environment pointers need from a store."""

    url: str

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with ``prefix``, keys checked."""

    def list_children(self, prefix: str) -> list[str]:
        """The names directly under ``prefix`` (a folder-like key ending in ``/``)."""

    def read(self, key: str) -> Versioned | None:
        """The object's bytes and version token, or None when it does not exist."""

    def digest(self, key: str) -> FileDigest | None:
        """sha256 and size of the stored object, or None when it does not exist."""

    def upload(self, key: str, source: Path) -> str | None:
        """Store the local file ``source`` under ``key``.

        Returns:
            The sha256 (hex) the store computed over the bytes it stored, when it
            reports one (S3's ``ChecksumSHA256``); None otherwise (use ``digest``).
        """

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        """Copy an object inside the store (server side where the store can).

        Returns:
            As ``upload``: the stored object's sha256 when the store reports it.
        """

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` only if ``key`` does not exist; False when it already did."""

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        """Compare-and-swap: write if the key's token is still ``token`` (None: absent).

        Raises:
            StoreConflictError: the key changed (or appeared) since ``token`` was read.
        """

    def delete(self, keys: Sequence[str]) -> None:
        """Delete these objects (missing ones are fine)."""


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise.

    Safe: non-empty ``/``-separated parts, none of them ``.`` or ``..``, no leading
    ``/``, no backslash, no NUL byte, no drive letter.

    Raises:
        StorageError: the key could escape the store's root or the local target.

    Example:
        >>> check_key("releases/abc/model/1/model.onnx")
        'releases/abc/model/1/model.onnx'
    """
    problem = None
    if not key:
        problem = "it is empty"
    elif "\x00" in key:
        problem = "it contains a NUL byte"
    elif "\\" in key:
        problem = "it contains a backslash"
    elif key.startswith("/") or (len(key) > 1 and key[1] == ":"):
        problem = "it is an absolute path"
    else:
        parts = key.rstrip("/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            problem = "it has an empty, '.' or '..' path segment"
    if problem:
        raise StorageError(
            f"Refusing unsafe key {key!r}: {problem}. Expected a relative path such as "
            "'releases/<id>/<model>/config.pbtxt'; check who wrote this name into the store "
            "or the repository."
        )
    return key


def parse_store_url(url: str) -> StoreLocation:
    """Split a store URL into scheme, bucket and prefix.

    Example:
        >>> parse_store_url("s3://models/prod/")
        StoreLocation(scheme='s3', bucket='models', prefix='prod')
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StorageError(
                f"Store URL {url!r} is not an absolute file URL. Expected file:///abs/path."
            )
        return StoreLocation("file", "", parts.path)
    if scheme not in ("s3", "gs"):
        raise StorageError(
            f"Unsupported store URL {url!r}. "
            "Expected file:///path, s3://bucket/prefix or gs://bucket/prefix."
        )
    if not parts.netloc:
        raise StorageError(f"Store URL {url!r} has no bucket. Expected {scheme}://bucket/prefix.")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return StoreLocation(scheme, parts.netloc, prefix)


def open_store(url: str, *, endpoint_url: str | None = None, max_connections: int = 16) -> Store:
    """Open the store at ``url``.

    Args:
        url: ``file:///path``, ``s3://bucket/prefix`` or ``gs://bucket/prefix``.
        endpoint_url: an S3-compatible endpoint (MinIO, moto, ...); S3 only.
        max_connections: HTTP connection pool size (one per parallel transfer).

    Example:
        >>> store = open_store("file:///tmp/releases")  # doctest: +SKIP
    """
    location = parse_store_url(url)
    if location.scheme == "file":
        return FileStore(Path(location.prefix))
    if location.scheme == "s3":
        from orchestrator.releases.stores.s3 import S3Store

        return S3Store(location, endpoint_url=endpoint_url, max_connections=max_connections)
    from orchestrator.releases.stores.gcs import GcsStore

    return GcsStore(location)


def join_key(prefix: str, key: str) -> str:
    """``prefix/key``, or ``key`` when there is no prefix."""
    return f"{prefix}/{key}" if prefix else key


class PrefixedKeys:
    """Maps store keys to object names under a bucket prefix, for the object stores.

    Subclasses set ``prefix`` (no leading or trailing slash; empty for the bucket root).
    """

    prefix: str

    def _key(self, key: str) -> str:
        trailing = "/" if key.endswith("/") else ""
        return join_key(self.prefix, check_key(key.rstrip("/")) + trailing)

    def _relative(self, full_key: str) -> str:
        start = len(self.prefix) + 1 if self.prefix else 0
        return check_key(full_key[start:])

    def _listing_prefix(self, prefix: str) -> str:
        # Listing the whole store lists "<prefix>/", never a sibling such as "<prefix>-old/".
        return self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")


def hex_from_b64(value: str) -> str | None:
    """Hex of a base64 checksum; None for a multipart (``...-N``) or malformed one."""
    # A multipart object's checksum is "<base64>-<parts>": a checksum of checksums.
    if "-" in value:
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


# --- file:// ---------------------------------------------------------------------------


class FileStore:
    """A store in a local folder; writes go through a temporary file and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        check_key(key.rstrip("/") if key.endswith("/") else key)
        path = self.root.joinpath(*key.strip("/").split("/"))
        resolved_root = os.path.realpath(self.root)
        resolved = os.path.realpath(path)
        if resolved != resolved_root and not resolved.startswith(resolved_root + os.sep):
            raise StorageError(
                f"Refusing key {key!r}: it resolves to {resolved}, outside {self.root} "
                "(a symbolic link?). Remove the link from the store."
            )
        return path

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every file under ``prefix``."""
        base = self._path(prefix) if prefix else self.root
        start = base if base.is_dir() or base == self.root else base.parent
        if not start.is_dir() or not (start == self.root or start.is_relative_to(self.root)):
            return []
        found = []
        for folder, dirs, files in os.walk(start):
            dirs[:] = sorted(d for d in dirs if not (Path(folder) == self.root and d == _TMP_DIR))
            for name in sorted(files):
                path = Path(folder) / name
                key = check_key(path.relative_to(self.root).as_posix())
                if key.startswith(prefix):
                    found.append(StoredObject(key, path.stat().st_size))
        return found

    def list_children(self, prefix: str) -> list[str]:
        """Names directly under the folder ``prefix``."""
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(check_key(entry.name) for entry in folder.iterdir())

    def read(self, key: str) -> Versioned | None:
        """The file's bytes; its token is their sha256."""
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"Cannot read {self._path(key)}: {exc.strerror or exc}.") from exc
        return Versioned(data, hashlib.sha256(data).hexdigest())

    def digest(self, key: str) -> FileDigest | None:
        """sha256 and size of the file, or None."""
        path = self._path(key)
        return file_digest(path) if path.is_file() else None

    def upload(self, key: str, source: Path) -> str | None:
        """Copy ``source`` in through a temporary file and an atomic rename."""
        with self._temporary(key) as temp:
            shutil.copyfile(source, temp)
            os.replace(temp, self._path(key))
        return None

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        """Copy a stored file to ``key``."""
        return self.upload(key, self._path(source_key))

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` unless ``key`` exists (``link()`` refuses an existing name)."""
        with self._temporary(key) as temp:
            temp.write_bytes(data)
            try:
                os.link(temp, self._path(key))
            except FileExistsError:
                return False
        return True

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        """Compare-and-swap under an exclusive lock on the key's lock file."""
        with self._locked(key):
            current = self.read(key)
            current_token = current.token if current else None
            if current_token != token:
                raise StoreConflictError(
                    f"{self._path(key)} changed since it was read (expected "
                    f"{token or 'no file'}, found {current_token or 'no file'}). "
                    "Read it again and retry."
                )
            with self._temporary(key) as temp:
                temp.write_bytes(data)
                os.replace(temp, self._path(key))

    def delete(self, keys: Sequence[str]) -> None:
        """Remove files, then the folders they leave empty."""
        for key in keys:
            path = self._path(key)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            parent = path.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    @contextlib.contextmanager
    def _temporary(self, key: str) -> Iterator[Path]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp_dir = self.root / _TMP_DIR
        temp_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=temp_dir, prefix=target.name[:40] + ".")
        os.close(handle)
        try:
            yield Path(name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        locks = self.root / _TMP_DIR / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock_path = locks / hashlib.sha256(key.encode()).hexdigest()
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
