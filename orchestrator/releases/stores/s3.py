"""The ``s3://`` store: the only module that imports botocore (and boto3).

The client is botocore's own: boto3 (its managed, multipart transfers) is imported only
for an object past 5 GiB, so a sync that sends nothing never loads it.

botocore's errors become ``StorageError`` naming what to check (credentials, bucket,
endpoint). Conditional writes use S3's ``If-None-Match: *`` and ``If-Match: <ETag>``;
file digests are S3's own ``ChecksumSHA256``, computed by botocore from the bytes sent.
"""

from __future__ import annotations

import logging
import os
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
    hex_from_b64,
    redact,
)

__all__ = ["S3Store"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A single PutObject/CopyObject takes at most 5 GiB; past that the managed (multipart)
# transfer is used, whose checksum is per part, so its digest is read back by download.
_SINGLE_REQUEST_MAX_BYTES = 5 * 1024**3


class S3Store(PrefixedKeys):
    """A store under ``s3://bucket/prefix``; credentials and region: botocore's (boto3's) chain."""

    def __init__(
        self,
        location: StoreLocation,
        *,
        endpoint_url: str | None = None,
        max_connections: int = 16,
        client: Any = None,
    ) -> None:
        self.bucket = location.bucket
        self.prefix = location.prefix
        # boto3 also reads the endpoint from the environment; Triton does not, so the
        # serving URL needs it spelled out: remember where this store really is.
        self.endpoint_url = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        self.url = f"s3://{location.bucket}/{location.prefix}".rstrip("/")
        self._client = client if client is not None else _s3_client(endpoint_url, max_connections)

    def _call(self, action: str, call: Callable[[], T]) -> T:
        return _s3_call(self, action, call)

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix`` (paginated ListObjectsV2)."""
        full = self._listing_prefix(prefix)

        def run() -> list[StoredObject]:
            found = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    found.append(StoredObject(self._relative(entry["Key"]), int(entry["Size"])))
            return found

        return self._call(f"list {full!r}", run)

    def list_children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (ListObjectsV2 with a ``/`` delimiter)."""
        full = self._key(prefix.rstrip("/") + "/")

        def run() -> list[str]:
            names = set()
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full, Delimiter="/"
            )
            for page in pages:
                keys = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                keys += [entry["Key"] for entry in page.get("Contents", [])]
                for key in keys:
                    names.add(check_key(key[len(full) :].rstrip("/") or "/"))
            return sorted(names)

        return self._call(f"list {full!r}", run)

    def read(self, key: str) -> Versioned | None:
        """GetObject; the token is the ETag."""

        def run() -> Versioned | None:
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            except _client_error() as exc:
                if _error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            where = f"{self.url}/{key}"
            check_size(where, int(response.get("ContentLength") or 0))
            data = response["Body"].read(MAX_READ_BYTES + 1)
            response["Body"].close()
            check_size(where, len(data))
            return Versioned(data, str(response["ETag"]))

        return self._call(f"read {self._key(key)!r}", run)

    def digest(self, key: str) -> FileDigest | None:
        """The stored ``ChecksumSHA256`` (HEAD), or the sha256 of a download without one."""

        def run() -> FileDigest | None:
            try:
                head = self._client.head_object(
                    Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED"
                )
            except _client_error() as exc:
                if _error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            size = int(head["ContentLength"])
            sha256 = hex_from_b64(str(head.get("ChecksumSHA256", "")))
            if sha256 is not None:
                return FileDigest(sha256, size)
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return stream_digest(body)

        return self._call(f"check {self._key(key)!r}", run)

    def upload(self, key: str, source: Path) -> str | None:
        """PutObject with a SHA256 checksum that botocore computes from the bytes sent.

        S3 checks that checksum against what it received and returns it: that is the
        sha256 of the stored object, so no HEAD is needed to verify it.
        """
        full = self._key(key)

        def run() -> str | None:
            if source.stat().st_size > _SINGLE_REQUEST_MAX_BYTES:
                from boto3.s3.inject import upload_file  # boto3's managed transfer

                upload_file(
                    self._client,
                    str(source),
                    self.bucket,
                    full,
                    ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                )
                return None  # a multipart checksum is per part: verify by digest()
            with source.open("rb") as body:
                response = self._client.put_object(
                    Bucket=self.bucket, Key=full, Body=body, ChecksumAlgorithm="SHA256"
                )
            return hex_from_b64(str(response.get("ChecksumSHA256", "")))

        return self._call(f"upload {source} to {full!r}", run)

    def copy(self, source_key: str, key: str, size_bytes: int) -> str | None:
        """CopyObject inside the bucket: no bytes travel through this machine."""
        source = {"Bucket": self.bucket, "Key": self._key(source_key)}
        full = self._key(key)

        def run() -> str | None:
            if size_bytes > _SINGLE_REQUEST_MAX_BYTES:
                from boto3.s3.inject import copy  # boto3's managed (multipart) copy

                copy(
                    self._client,
                    source,
                    self.bucket,
                    full,
                    ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                )
                return None
            response = self._client.copy_object(
                Bucket=self.bucket, Key=full, CopySource=source, ChecksumAlgorithm="SHA256"
            )
            result = response.get("CopyObjectResult", {})
            return hex_from_b64(str(result.get("ChecksumSHA256", "")))

        return self._call(f"copy {source['Key']!r} to {full!r}", run)

    def create(self, key: str, data: bytes) -> bool:
        """PutObject with ``If-None-Match: *``: S3 refuses it when the key exists."""
        full = self._key(key)

        def run() -> bool:
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=data,
                    IfNoneMatch="*",
                    ChecksumAlgorithm="SHA256",
                )
            except _client_error() as exc:
                if _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False
                raise
            return True

        return self._call(f"create {full!r}", run)

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        """PutObject with ``If-Match: <ETag>`` (or ``If-None-Match: *`` when absent)."""
        full = self._key(key)
        condition = {"IfMatch": token} if token is not None else {"IfNoneMatch": "*"}

        def run() -> None:
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=data,
                    ChecksumAlgorithm="SHA256",
                    **condition,
                )
            except _client_error() as exc:
                code = _error_code(exc)
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                    raise StoreConflictError(
                        f"s3://{self.bucket}/{full} changed since it was read "
                        f"(expected {token or 'no object'}; S3 answered {code}). "
                        "Read it again and retry."
                    ) from exc
                raise

        self._call(f"write {full!r}", run)

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects in batches of 1000."""
        full_keys = [self._key(key) for key in keys]

        def run() -> None:
            for start in range(0, len(full_keys), 1000):
                batch = [{"Key": key} for key in full_keys[start : start + 1000]]
                response = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise StorageError(
                        f"S3 refused to delete {len(errors)} object(s), first "
                        f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}. "
                        "Check that your credentials may s3:DeleteObject."
                    )

        self._call(f"delete {len(full_keys)} object(s)", run)


def _s3_client(endpoint_url: str | None, max_connections: int) -> Any:
    # botocore's session, not boto3's: the same credential, region and endpoint chain
    # (boto3.session.Session wraps this one), without importing boto3 and s3transfer.
    import botocore.session
    from botocore.config import Config

    # "standard" retries transient errors (throttling, 5xx, dropped connections) with
    # exponential backoff and jitter; a refused connection still fails within seconds.
    config = Config(
        retries={"mode": "standard", "max_attempts": 5},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=max_connections,
        # Only add checksums where we ask for them (ChecksumAlgorithm="SHA256").
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        return botocore.session.Session().create_client(
            "s3", endpoint_url=endpoint_url, config=config
        )
    except ValueError as exc:  # botocore: "Invalid endpoint: ..." (the option or AWS_ENDPOINT_URL)
        if endpoint_url is None:
            raise StorageError(
                "The S3 endpoint (--endpoint-url or AWS_ENDPOINT_URL) is not a URL botocore "
                "accepts (not repeated here: it may carry credentials). Pass an http(s) URL such "
                "as http://127.0.0.1:9000, or leave both unset for AWS."
            ) from exc
        raise StorageError(
            f"The S3 endpoint {redact(str(endpoint_url))} is not a URL ({redact(str(exc))}). "
            "Expected http://HOST:PORT or https://HOST:PORT, e.g. --endpoint-url "
            "http://127.0.0.1:9000."
        ) from exc


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError  # type: ignore[no-any-return]


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _s3_call(store: S3Store, action: str, call: Callable[[], T]) -> T:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = f"s3://{store.bucket}" + (
        f" at {redact(store.endpoint_url)}" if store.endpoint_url else ""
    )
    try:
        return call()
    except StorageError:
        raise
    except ClientError as exc:
        code = _error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            hint = f"bucket {store.bucket!r} does not exist. Create it or check the bucket name"
        elif code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"):
            hint = (
                f"the credentials were rejected ({code}). Check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the endpoint"
            )
        elif code in ("AccessDenied", "403", "AllAccessDisabled"):
            hint = "access was denied. Check that your credentials may read and write the bucket"
        else:
            hint = f"S3 answered {code or 'an error'}: {redact(message)}"
        raise StorageError(f"Could not {action} in {where}: {hint}.") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise StorageError(
            f"Could not {action} in {where}: no AWS credentials were found. Set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE."
        ) from exc
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise StorageError(
            f"Could not {action}: the S3 endpoint is unreachable ({redact(str(exc))}). Check "
            "--endpoint-url (or AWS_ENDPOINT_URL), the network, and that the server is up."
        ) from exc
    except BotoCoreError as exc:
        raise StorageError(f"Could not {action} in {where}: {redact(str(exc))}.") from exc
    except OSError as exc:
        raise StorageError(f"Could not {action}: {exc.strerror or exc}.") from exc
