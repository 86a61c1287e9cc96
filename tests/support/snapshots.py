"""A snapshot of a folder tree, to show that a command wrote nothing at all."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

Snapshot = dict[str, tuple[str, int, int, str]]


def tree_snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` (``root`` included): kind, size, mtime_ns, sha256 of files.

    A folder's mtime changes when an entry is created or removed in it, so a lock file
    that came and went shows too.
    """
    found: Snapshot = {}
    for folder, folders, files in os.walk(root):
        for name in [".", *folders, *files]:
            path = Path(folder) / name
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            kind = "folder" if path.is_dir() else "file"
            found[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns, digest)
    return found
