"""The ``file://`` store: a local folder, written through temporary files and renames.

Conditional writes without a server: ``create`` links a temporary file to the key
(``link()`` refuses an existing name), ``replace`` compares the file's sha256 under an
exclusive lock on the key's lock file. Temporary and lock files live under ``.tmp/`` at
the root, which listings skip.

``check_destination`` refuses a local store that overlaps the repository synced into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.errors import StorageError, StoreConflictError, UnsafeFileError
from orchestrator.releases.stores.base import (
    MAX_READ_BYTES,
    StoredObject,
    Versioned,
    check_key,
    parse_store_url,
    redact,
)

__all__ = ["FileStore", "check_destination"]

logger = logging.getLogger(__name__)

_TMP_DIR = ".tmp"


class FileStore:
    """A store in a local folder; writes go through a temporary file and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        self.endpoint_url: str | None = None

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
        self._path(key)
        try:
            # Under the untrusted rule: a regular file (a FIFO is never opened to block),
            # no link on the way, no more than MAX_READ_BYTES read.
            data = untrusted.read_bytes(self.root, key, max_bytes=MAX_READ_BYTES)
        except UnsafeFileError as exc:
            if exc.reason == "missing":
                return None
            raise StorageError(f"Cannot read {key} in the store {self.url}: {exc}") from exc
        return Versioned(data, hashlib.sha256(data).hexdigest())

    def digest(self, key: str) -> FileDigest | None:
        """sha256 and size of the file, or None."""
        self._path(key)
        try:
            return untrusted.digest(self.root, key)
        except UnsafeFileError as exc:
            if exc.reason == "missing":
                return None
            raise StorageError(f"Cannot read {key} in the store {self.url}: {exc}") from exc

    def upload(self, key: str, source: Path) -> str | None:
        """Copy ``source`` in through a temporary file and an atomic rename."""
        with _writing(self, key), self._temporary(key) as temp:
            shutil.copyfile(source, temp)
            os.replace(temp, self._path(key))
        return None

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        """Copy a stored file to ``key``."""
        return self.upload(key, self._path(source_key))

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` unless ``key`` exists (``link()`` refuses an existing name)."""
        with _writing(self, key), self._temporary(key) as temp:
            temp.write_bytes(data)
            try:
                os.link(temp, self._path(key))
            except FileExistsError:
                return False
        return True

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        """Compare-and-swap under an exclusive lock on the key's lock file."""
        with _writing(self, key), self._locked(key):
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
            with _writing(self, key):
                self._delete_one(key)

    def _delete_one(self, key: str) -> None:
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


def check_destination(repository: Path, dest: str) -> None:
    """Refuse a ``file://`` ``dest`` inside ``repository``, or ``repository`` inside it.

    Both are resolved (symbolic links followed, a missing folder resolved as far as it
    exists), so ``file:///repo/../repo/out`` and a link into the repository are caught.
    Object stores (s3://, gs://) cannot overlap a local folder and always pass.

    Raises:
        StorageError: the two overlap; the message names both and what to do.

    Example:
        >>> check_destination(Path("/srv/model_repository"), "file:///srv/releases")
    """
    location = parse_store_url(dest)
    if location.scheme != "file":
        return
    store_root = Path(location.prefix).resolve()
    repo_root = repository.resolve()
    if store_root == repo_root or store_root.is_relative_to(repo_root):
        where = "is the repository" if store_root == repo_root else "is inside the repository"
        raise StorageError(
            f"Refusing to sync into {redact(dest)}: it {where} {repository} ({repo_root}), so "
            "the release would be written among the models it is built from and every later "
            "command would read it as a model. Choose a folder outside the repository."
        )
    if repo_root.is_relative_to(store_root):
        raise StorageError(
            f"Refusing to sync into {redact(dest)}: the repository {repository} ({repo_root}) "
            "is inside it, where sync writes releases and gc deletes them. Choose a store "
            "folder that does not contain the repository."
        )


@contextlib.contextmanager
def _writing(store: FileStore, key: str) -> Iterator[None]:
    # A read-only or full destination is the user's to fix, not a traceback.
    try:
        yield
    except OSError as exc:
        where = exc.filename or store.root / key
        raise StorageError(
            f"Cannot write {key!r} to the store {store.url}: {exc.strerror or exc} ({where}). "
            "Check that the folder exists, that you may write to it, and that its disk has "
            "room."
        ) from exc
