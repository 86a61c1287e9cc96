"""The file-system steps of an atomic publish: owner tokens, leftovers, atomic writes.

- A publish stages its files in folders named ``<prefix><pid>-<token>``
  (``owner_token``) and renames them into place.
- ``remove_stale`` removes what killed publishes left (the pid is dead).
- ``write_atomically`` replaces a file through a temporary file and ``os.replace``.
- ``fsync_path`` makes a file or folder durable before the next step.

(Named for the scratch folders, not for the staging environment.)
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

__all__ = ["TMP_INFIX", "fsync_path", "owner_token", "remove_stale", "write_atomically"]

logger = logging.getLogger(__name__)

TMP_INFIX = ".tmp-"


def owner_token() -> str:
    """``<pid>-<random>``: names a staging file or folder of this process.

    Example:
        >>> owner_token()  # doctest: +SKIP
        '4242-9f86d081'
    """
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def remove_stale(folder: Path, prefix: str) -> None:
    """Remove what killed publishes left in ``folder`` (``<prefix><pid>-<token>``, pid dead).

    Entries of living processes are kept; an unreadable folder is left alone.

    Example:
        >>> remove_stale(Path("model_repository/digits"), ".staging-")  # doctest: +SKIP
    """
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        logger.info("Removing %s left by an interrupted publish", entry)
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one ``os.replace``: readers see old or new, whole.

    Raises:
        OSError: the folder cannot be written.

    Example:
        >>> write_atomically(Path("model_repository/digits/config.pbtxt"), text)  # doctest: +SKIP
    """
    tmp = path.with_name(f"{path.name}{TMP_INFIX}{owner_token()}")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """``fsync`` a file or a folder (a folder's entries: a rename is durable after it).

    Example:
        >>> fsync_path(Path("model_repository/digits"))  # doctest: +SKIP
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
