"""Stores: where releases live, behind one small interface (``base.Store``).

- ``file``: a store in a local folder.
- ``s3`` (the only boto3 importer): an S3 or S3-compatible bucket.
- ``gcs`` (the only google-cloud-storage importer): a GCS bucket.
- Each turns its library's errors into ``StorageError``; ``open_store`` picks one by
  URL. boto3 is in the base install; google-cloud-storage is the ``gcs`` extra. Both are
  imported only when such a store is opened.
- ``serving_url``: where Triton serves a release of a store from (or why it cannot).
- ``redact``: hides credentials in any URL that a message shows.

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

import logging
from pathlib import Path

from orchestrator.errors import StorageError
from orchestrator.releases.stores.base import (
    Store,
    StoredObject,
    StoreLocation,
    Versioned,
    check_key,
    parse_store_url,
    redact,
)
from orchestrator.releases.stores.file import FileStore, check_destination
from orchestrator.releases.stores.gcs import GcsStore
from orchestrator.releases.stores.s3 import S3Store
from orchestrator.releases.stores.serving_url import serving_url

__all__ = [
    "FileStore",
    "GcsStore",
    "S3Store",
    "Store",
    "StoreLocation",
    "StoredObject",
    "Versioned",
    "check_destination",
    "check_key",
    "open_store",
    "parse_store_url",
    "redact",
    "serving_url",
]

logger = logging.getLogger(__name__)


def open_store(url: str, *, endpoint_url: str | None = None, max_connections: int = 16) -> Store:
    """Open the store at ``url``.

    Args:
        url: ``file:///path``, ``s3://bucket/prefix`` or ``gs://bucket/prefix``.
        endpoint_url: an S3-compatible endpoint (MinIO, moto, ...); S3 only.
        max_connections: HTTP connection pool size (one per parallel transfer).

    Raises:
        StorageError: the URL is not one of those, an endpoint is given for a store that
            is not s3://, or the store's library is missing.

    Example:
        >>> store = open_store("file:///tmp/releases")
        >>> store.url
        'file:///tmp/releases'
    """
    location = parse_store_url(url)
    if endpoint_url and location.scheme != "s3":
        raise StorageError(
            f"--endpoint-url {redact(endpoint_url)} applies to s3:// stores only, not "
            f"{redact(url)}. Leave it out (a GCS emulator is set with STORAGE_EMULATOR_HOST)."
        )
    if location.scheme == "file":
        return FileStore(Path(location.prefix))
    if location.scheme == "s3":
        return S3Store(location, endpoint_url=endpoint_url, max_connections=max_connections)
    return GcsStore(location)
