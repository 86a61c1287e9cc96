"""File digests: the sha256 and size of a file or a stream, read in chunks.

Publish writes them into a version's ``manifest.json``, releases into theirs, and stores
compare them to decide what to upload (a store that keeps no sha256 streams the object
through ``stream_digest``). ``digest_cache`` keeps the digests of unchanged files between
runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["FileDigest", "FileHasher", "Readable", "file_digest", "stream_digest"]

_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """The sha256 and size of one file."""

    sha256: str
    size_bytes: int


FileHasher = Callable[[Path], FileDigest]
"""What takes a file's digest: ``file_digest``, or ``DigestCache.digest`` (``digest_cache``)."""


class Readable(Protocol):
    """Anything with ``read(n)`` returning bytes (b"" at the end): a file, an HTTP body."""

    def read(self, size: int, /) -> bytes: ...  # noqa: D102


def stream_digest(stream: Readable) -> FileDigest:
    """sha256 and size of what ``stream`` yields until its end, read in chunks.

    Example:
        >>> digest = stream_digest(io.BytesIO(b"abc"))  # doctest: +SKIP
        >>> digest.sha256[:12], digest.size_bytes  # doctest: +SKIP
        ('ba7816bf8f01', 3)
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return FileDigest(digest.hexdigest(), size)


def file_digest(path: Path) -> FileDigest:
    """sha256 and size of ``path``, read in chunks.

    Example:
        >>> file_digest(Path("model.onnx")).size_bytes  # doctest: +SKIP
        155080
    """
    with path.open("rb") as handle:
        return stream_digest(handle)
