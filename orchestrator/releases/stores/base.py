"""What every store shares: the ``Store`` protocol, its data types, URL and key checks.

A store is rooted at a URL (``s3://bucket/prefix``); every key is relative to that root
and is checked (``check_key``) both ways: keys we write and keys a listing returns. A key
with ``..``, an absolute path, a backslash or a NUL byte is refused, so nothing is ever
read from or written outside the root.

A URL may carry credentials (``http://user:secret@host``); ``redact`` hides them, and
every message or log line that shows a store URL or an endpoint goes through it.

The stores themselves live beside this module (``file``, ``s3``, ``gcs``); ``open_store``
in the package picks one by the URL's scheme.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.errors import StorageError

__all__ = [
    "PrefixedKeys",
    "Store",
    "StoreLocation",
    "StoredObject",
    "Versioned",
    "check_key",
    "hex_from_b64",
    "join_key",
    "parse_store_url",
    "redact",
]

logger = logging.getLogger(__name__)

# scheme://userinfo@ anywhere in a text: the userinfo is what ``redact`` hides.
MAX_READ_BYTES = max(untrusted.JSON_MAX_BYTES, untrusted.GOLDEN_MAX_BYTES)
"""``Store.read`` is for documents (release.json, pointers, records) and the golden data
the deploy smoke fetches: never more than this."""
MAX_KEY_BYTES = 1024
"""S3's own key limit; GCS allows 1024 too."""
MAX_PART_BYTES = 255
"""One path segment: a file name on every local file system (NAME_MAX)."""
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*)@")


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
    """What sync, releases and environment pointers need from a store.

    ``url`` is the store's URL without credentials; ``endpoint_url`` the S3-compatible
    endpoint it talks to when that is not the cloud's own (None otherwise).
    """

    url: str
    endpoint_url: str | None

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
    elif len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        problem = f"it is longer than {MAX_KEY_BYTES} bytes"
    else:
        parts = key.rstrip("/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            problem = "it has an empty, '.' or '..' path segment"
        elif any(len(part.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES for part in parts):
            problem = f"a path segment is longer than {MAX_PART_BYTES} bytes"
    if problem:
        shown = key if len(key) <= 120 else f"{key[:100]}...({len(key)} characters)"
        raise StorageError(
            f"Refusing unsafe key {shown!r}: {problem}. Expected a relative path such as "
            "'releases/<id>/<model>/config.pbtxt'; check who wrote this name into the store "
            "or the repository."
        )
    return key


def check_size(where: str, size_bytes: int | None) -> None:
    """Refuse an object larger than ``MAX_READ_BYTES`` before a byte of it is read.

    Raises:
        StorageError: ``size_bytes`` is over the limit.
    """
    if size_bytes is not None and size_bytes > MAX_READ_BYTES:
        raise StorageError(
            f"{where} is {size_bytes} bytes (or more), over the {MAX_READ_BYTES} byte limit "
            "for an object read into memory (a manifest, pointer, record or golden data); it "
            "was not read. It was not written by orchestrator: remove it from the store."
        )


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``.

    Works on a bare URL and on a message that quotes one (a library's error text).

    Example:
        >>> redact("http://user:secret@minio:9000/")
        'http://***@minio:9000/'
        >>> redact('Could not connect to "https://key@host/b"')
        'Could not connect to "https://***@host/b"'
    """
    return _USERINFO.sub(lambda m: m.group("scheme") + "***@", text)


def parse_store_url(url: str) -> StoreLocation:
    """Split a store URL into scheme, bucket and prefix.

    A ``file://`` path is percent-decoded (``file:///a%20b`` is the folder ``/a b``), as
    ``Path.as_uri()`` encodes it. Credentials in the URL are refused: they would end up
    in logs and in the URL Triton is started with.

    Raises:
        StorageError: not a ``file://``, ``s3://`` or ``gs://`` URL, no bucket, an unsafe
            prefix, or credentials in the URL.

    Example:
        >>> parse_store_url("s3://models/prod/")
        StoreLocation(scheme='s3', bucket='models', prefix='prod')
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
        raise StorageError(
            f"Store URL {url!r} does not parse ({exc}). "
            "Expected file:///path, s3://bucket/prefix or gs://bucket/prefix."
        ) from exc
    scheme = parts.scheme.lower()
    shown = redact(url)
    if "@" in parts.netloc:
        raise StorageError(
            f"Store URL {shown!r} carries credentials. Expected {scheme or 's3'}://bucket/prefix "
            "with the credentials in the environment (AWS_ACCESS_KEY_ID, "
            "GOOGLE_APPLICATION_CREDENTIALS) or workload identity."
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise StorageError(
                f"Store URL {shown!r} is not an absolute file URL. Expected file:///abs/path."
            )
        return StoreLocation("file", "", unquote(parts.path))
    if scheme not in ("s3", "gs"):
        raise StorageError(
            f"Unsupported store URL {shown!r}. "
            "Expected file:///path, s3://bucket/prefix or gs://bucket/prefix."
        )
    if not parts.netloc:
        raise StorageError(f"Store URL {shown!r} has no bucket. Expected {scheme}://bucket/prefix.")
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return StoreLocation(scheme, parts.netloc, prefix)


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
