"""The user's cache folder and its files: where they live, how they are read and written.

- ``default_cache_dir``: ``$XDG_CACHE_HOME/triton-orchestrator`` (``~/.cache`` when the
  variable is unset or relative, as the XDG spec says).
- ``read_regular``: a cache file is local and advisory, so it is read like untrusted
  input: a regular file, never through a link, at most ``MAX_CACHE_BYTES``.
- ``write_atomically``: written to a temporary file in its own folder and renamed over
  the old one, so a crash or a second writer never leaves a torn file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "CACHE_FOLDER",
    "MAX_CACHE_BYTES",
    "default_cache_dir",
    "read_regular",
    "write_atomically",
]

CACHE_FOLDER = "triton-orchestrator"
MAX_CACHE_BYTES = 64 << 20


def default_cache_dir() -> Path:
    """The user's cache folder for this tool: ``$XDG_CACHE_HOME/triton-orchestrator``.

    Example:
        >>> default_cache_dir()  # doctest: +SKIP
        PosixPath('/home/me/.cache/triton-orchestrator')
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative value is invalid and is ignored.
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / CACHE_FOLDER


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``: no link, FIFO or device, nothing past the cap.

    Raises:
        FileNotFoundError: there is no such file.
        OSError: it cannot be opened (a link: ``ELOOP``).
        ValueError: it is not a regular file, or is larger than ``MAX_CACHE_BYTES``.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise ValueError("not a regular file")
        data = handle.read(MAX_CACHE_BYTES + 1)
    if len(data) > MAX_CACHE_BYTES:
        raise ValueError(f"larger than {MAX_CACHE_BYTES} bytes")
    return data


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file renamed over it (no temporary file is left).

    Two writers at once never leave a torn file: the last rename wins.

    Raises:
        OSError: the folder cannot be made, or the file written or renamed.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        # No fsync: a cache torn by a crash is ignored and rewritten by the next run.
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
