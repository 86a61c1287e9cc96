"""The ``gs://`` store: the only module that imports google-cloud-storage.

GCS stores md5/crc32c, not sha256, so a digest is computed by streaming the object.
Conditional writes use object generations: ``ifGenerationMatch=0`` creates only,
``ifGenerationMatch=<generation>`` is compare-and-swap. Credentials come from Google's
default chain (``GOOGLE_APPLICATION_CREDENTIALS``, workload identity, gcloud); setting
``STORAGE_EMULATOR_HOST`` points the client at an emulator with anonymous credentials.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.core.digest import FileDigest, stream_digest
from orchestrator.errors import StorageError, StoreConflictError
from orchestrator.releases.stores.base import (
    MAX_READ_BYTES,
    PrefixedKeys,
    StoredObject,
    StoreLocation,
    Versioned,
    check_key,
    check_size,
    redact,
)

__all__ = ["GcsStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class GcsStore(PrefixedKeys):
    """A store under ``gs://bucket/prefix``."""

    def __init__(
        self, location: StoreLocation, *, client: Any = None, retry_timeout_s: float = 60.0
    ) -> None:
        _import_quietly()
        from google.cloud.storage.retry import DEFAULT_RETRY

        # Transient errors (5xx, 429, dropped connections) are retried with exponential
        # backoff until this deadline; the library's default would wait 120 s.
        self._retry = DEFAULT_RETRY.with_timeout(retry_timeout_s)
        self.bucket_name = location.bucket
        self.prefix = location.prefix
        self.url = f"gs://{location.bucket}/{location.prefix}".rstrip("/")
        self.endpoint_url: str | None = None  # an emulator comes from STORAGE_EMULATOR_HOST
        self._client = client if client is not None else _gcs_client()
        self._bucket = self._client.bucket(self.bucket_name)

    def _call(self, action: str, call: Callable[[], T]) -> T:
        return _gcs_call(self, action, call)

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix``."""
        full = self._listing_prefix(prefix)

        def run() -> list[StoredObject]:
            blobs = self._client.list_blobs(self.bucket_name, prefix=full, retry=self._retry)
            return [StoredObject(self._relative(b.name), int(b.size or 0)) for b in blobs]

        return self._call(f"list {full!r}", run)

    def list_children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (a ``/`` delimiter listing)."""
        full = self._key(prefix.rstrip("/") + "/")

        def run() -> list[str]:
            iterator = self._client.list_blobs(
                self.bucket_name, prefix=full, delimiter="/", retry=self._retry
            )
            names = {check_key(blob.name[len(full) :]) for blob in iterator}
            names |= {check_key(p[len(full) :].rstrip("/")) for p in iterator.prefixes}
            return sorted(names)

        return self._call(f"list {full!r}", run)

    def read(self, key: str) -> Versioned | None:
        """The object's bytes; the token is its generation."""

        def run() -> Versioned | None:
            blob = self._bucket.get_blob(self._key(key), retry=self._retry)
            if blob is None:
                return None
            where = f"{self.url}/{key}"
            check_size(where, blob.size)
            data = blob.download_as_bytes(
                if_generation_match=blob.generation,
                retry=self._retry,
                end=MAX_READ_BYTES,  # inclusive: MAX_READ_BYTES + 1 bytes at most
            )
            check_size(where, len(data))
            return Versioned(data, str(blob.generation))

        return self._call(f"read {self._key(key)!r}", run)

    def digest(self, key: str) -> FileDigest | None:
        """sha256 of the streamed object (GCS keeps no sha256)."""

        def run() -> FileDigest | None:
            blob = self._bucket.get_blob(self._key(key), retry=self._retry)
            if blob is None:
                return None
            with blob.open("rb") as handle:
                return stream_digest(handle)

        return self._call(f"check {self._key(key)!r}", run)

    def upload(self, key: str, source: Path) -> str | None:
        """Upload with a crc32c check of the bytes sent (GCS reports no sha256)."""
        full = self._key(key)
        self._call(
            f"upload {source} to {full!r}",
            lambda: self._bucket.blob(full).upload_from_filename(
                str(source), checksum="crc32c", retry=self._retry
            ),
        )
        return None

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        """Server-side rewrite (works for any size, in as many calls as GCS asks)."""
        source = self._bucket.blob(self._key(source_key))
        target = self._bucket.blob(self._key(key))

        def run() -> None:
            token, _, _ = target.rewrite(source, retry=self._retry)
            while token is not None:
                token, _, _ = target.rewrite(source, token=token, retry=self._retry)

        self._call(f"copy {source.name!r} to {target.name!r}", run)
        return None

    def create(self, key: str, data: bytes) -> bool:
        """Upload with ``ifGenerationMatch=0``: refused when the object exists."""
        full = self._key(key)
        from google.api_core import exceptions

        def run() -> bool:
            try:
                self._bucket.blob(full).upload_from_string(
                    data, if_generation_match=0, retry=self._retry
                )
            except exceptions.PreconditionFailed:
                return False
            return True

        return self._call(f"create {full!r}", run)

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        """Compare-and-swap on the object's generation (0: must not exist)."""
        full = self._key(key)
        from google.api_core import exceptions

        def run() -> None:
            try:
                self._bucket.blob(full).upload_from_string(
                    data,
                    if_generation_match=int(token) if token is not None else 0,
                    retry=self._retry,
                )
            except exceptions.PreconditionFailed as exc:
                raise StoreConflictError(
                    f"gs://{self.bucket_name}/{full} changed since it was read (expected "
                    f"generation {token or 'none'}). Read it again and retry."
                ) from exc

        self._call(f"write {full!r}", run)

    def delete(self, keys: Sequence[str]) -> None:
        """Delete objects; missing ones are ignored."""
        blobs = [self._bucket.blob(self._key(key)) for key in keys]
        self._call(
            f"delete {len(blobs)} object(s)",
            lambda: self._bucket.delete_blobs(blobs, on_error=lambda blob: None, retry=self._retry),
        )


def _import_quietly() -> None:
    # google-api-core warns at import when the optional grpcio-status is missing; we
    # use the JSON API only, so that warning says nothing to our users.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Please install grpcio-status", ImportWarning)
        try:
            import google.api_core.exceptions  # noqa: F401
            import google.cloud.storage  # noqa: F401
        except ImportError as exc:
            raise StorageError(
                "gs:// needs the google-cloud-storage package, which is not installed. "
                "Install it with: pip install 'triton-orchestrator[gcs]'."
            ) from exc


def _gcs_client() -> Any:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    try:
        return storage.Client()
    except DefaultCredentialsError as exc:
        raise StorageError(
            f"No Google Cloud credentials were found ({redact(str(exc))}). Set "
            "GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, "
            "or use workload identity."
        ) from exc


def _gcs_call(store: GcsStore, action: str, call: Callable[[], T]) -> T:
    import requests
    from google.api_core import exceptions
    from google.auth.exceptions import GoogleAuthError

    where = f"gs://{store.bucket_name}"
    try:
        return call()
    except StorageError:
        raise
    except exceptions.NotFound as exc:
        raise StorageError(
            f"Could not {action} in {where}: not found ({exc.message}). "
            f"Check that bucket {store.bucket_name!r} exists."
        ) from exc
    except (exceptions.Forbidden, exceptions.Unauthorized) as exc:
        raise StorageError(
            f"Could not {action} in {where}: access was denied ({exc.message}). Check that "
            "your credentials may read and write the bucket."
        ) from exc
    except exceptions.GoogleAPICallError as exc:
        raise StorageError(f"Could not {action} in {where}: {redact(exc.message)}.") from exc
    except exceptions.RetryError as exc:
        raise StorageError(
            f"Could not {action}: the GCS endpoint is unreachable or keeps failing "
            f"({redact(str(exc.cause))}). Check the network (and STORAGE_EMULATOR_HOST if set)."
        ) from exc
    except GoogleAuthError as exc:
        raise StorageError(
            f"Could not {action} in {where}: the credentials were rejected "
            f"({redact(str(exc))}). Check GOOGLE_APPLICATION_CREDENTIALS or "
            "`gcloud auth application-default login`."
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise StorageError(
            f"Could not {action}: the GCS endpoint is unreachable ({redact(str(exc))}). Check the "
            "network (and STORAGE_EMULATOR_HOST if set)."
        ) from exc
