"""One publish of a model at a time: an exclusive ``flock`` on a lock file per model.

A publish decides the config (keep it, or regenerate it with ``--update-config``),
claims a version number and writes the config; two publishes of one model interleaving
those steps could leave a served version whose graph does not match the config. The lock
(``<repo>/.staging-<model>.lock``, a hidden file in the repository root, which Triton
ignores: it looks at folders only) serializes them, across processes and machines that
share the file system's locks. The kernel releases it when the process dies; the holder
removes the file when it is done, and a waiter that locked a removed file starts over.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import RepositoryError
from orchestrator.repository.layout import STAGING_PREFIX

__all__ = ["DEFAULT_LOCK_TIMEOUT_S", "lock_path", "model_lock"]

logger = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT_S = 600.0
_POLL_S = 0.05
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def lock_path(repo: Path, model: str) -> Path:
    """The lock file of one model's publishes: ``<repo>/.staging-<model>.lock``.

    Example:
        >>> lock_path(Path("model_repository"), "digits")
        PosixPath('model_repository/.staging-digits.lock')
    """
    return repo / f"{STAGING_PREFIX}{model}.lock"


@contextmanager
def model_lock(
    repo: Path, model: str, *, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Hold the exclusive publish lock of ``model`` in ``repo`` for the ``with`` block.

    Raises:
        RepositoryError: another publish held it for ``timeout_s``, or the lock file
            cannot be created (a read-only repository) or is not a regular file.

    Example:
        >>> with model_lock(Path("model_repository"), "digits"):  # doctest: +SKIP
        ...     pass  # decide the config, claim a version, write the config
    """
    path = lock_path(repo, model)
    deadline = time.monotonic() + timeout_s
    waited = False
    while True:
        fd = _open(path)
        try:
            waited |= _acquire(fd, path, model, deadline, timeout_s)
            held = os.fstat(fd)
            try:
                current = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the holder before us removed this file: lock the new one
    if waited:
        logger.info("Waited for another publish of %s to finish", model)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            os.unlink(path)  # still holding the lock: a waiter on this file starts over
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)


def _open(path: Path) -> int:
    try:
        fd = os.open(path, _FLAGS, 0o644)
    except OSError as exc:
        raise RepositoryError(
            f"Cannot create the publish lock {path}: {exc.strerror or exc}. Check that the "
            "repository is a writable folder and that nothing else has that name."
        ) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RepositoryError(
            f"The publish lock {path} is not a regular file. Remove it and publish again."
        )
    return fd


def _acquire(fd: int, path: Path, model: str, deadline: float, timeout_s: float) -> bool:
    """Take the lock, polling until ``deadline``; True when someone else held it first."""
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return waited
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RepositoryError(
                    f"Cannot lock {path}: {exc.strerror or exc}. The file system may not "
                    "support locks; publish from a machine with a local repository."
                ) from exc
        if time.monotonic() >= deadline:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise RepositoryError(
                f"Another publish of model {model!r} (pid {holder}) has held {path} for "
                f"over {timeout_s:g} s. Wait for it to finish, or stop it if it is stuck; "
                "the lock goes away with the process."
            )
        waited = True
        time.sleep(_POLL_S)
