"""File digests: the sha256 and size of a file, read in chunks.

Publish writes them into a version's ``manifest.json``, releases into theirs, and stores
compare them to decide what to upload.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileDigest", "file_digest"]

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """The sha256 and size of one file."""

    sha256: str
    size_bytes: int


def file_digest(path: Path) -> FileDigest:
    """sha256 and size of ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(digest.hexdigest(), size)
