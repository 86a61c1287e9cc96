"""The ``--model-repository`` URL Triton serves a release from, and whether it can.

Triton 24.10 reads object-store paths with its own parser, not the cloud SDKs'. Its S3
parser (``s3.h`` in the core) matches ``s3://[http://|https://]HOST:PORT/BUCKET/PATH``
for a custom endpoint; anything it cannot match is split at the first slash, so a
bucket or a path segment with other characters is silently misread (server#6910,
#2008). The rules below are what that parser accepts:

- bucket: ``[0-9a-z.-]`` (3-63 characters, as S3 itself requires);
- every path segment: ``[0-9a-zA-Z._-]``;
- a custom endpoint (MinIO, moto, ...) goes into the URL itself:
  ``s3://HOST:PORT/bucket/path`` (``AWS_ENDPOINT_URL`` is not read by Triton);
  ``https://`` endpoints keep their scheme: ``s3://https://HOST:PORT/bucket/path``.

GCS paths (``gs://bucket/path``): Triton's GCS parser splits at the first slash after
``gs://`` and hands the rest to google-cloud-cpp, so the bucket may be any GCS bucket
name (``[0-9a-z._-]``, 3-63 characters; ``_`` included, which S3 forbids: checked by
serving a release from ``gs://under_score/...`` against fake-gcs-server). Path segments
are held to the S3 characters, the only ones both parsers keep for sure. A ``file://``
store is served from its local path.

``serving_url`` is the one function that says where Triton finds a release; ``sync``
prints it and ``deploy`` writes it into the pod template, so a store Triton could not
read is refused before anything is uploaded or rolled out.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from orchestrator.errors import StorageError
from orchestrator.releases.stores.base import parse_store_url, redact

__all__ = ["serving_url"]

logger = logging.getLogger(__name__)

_BUCKET = {"s3": re.compile(r"[0-9a-z.-]{3,63}"), "gs": re.compile(r"[0-9a-z._-]{3,63}")}
_BUCKET_CHARACTERS = {
    "s3": "[0-9a-z.-] (lower-case letters, digits, '.' and '-')",
    "gs": "[0-9a-z._-] (lower-case letters, digits, '.', '_' and '-')",
}
_SEGMENT = re.compile(r"[0-9a-zA-Z._-]+")
_HOST = re.compile(r"[0-9a-zA-Z.-]+")


def serving_url(store_url: str, release_id: str = "", *, endpoint_url: str | None = None) -> str:
    """Where Triton's ``--model-repository`` finds ``release_id`` in the store at ``store_url``.

    Args:
        store_url: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or ``file:///path``.
        release_id: the release (its folder ``releases/<id>``); empty for the store's root.
        endpoint_url: an S3-compatible endpoint (``http://HOST:PORT``), written into the URL.

    Returns:
        The URL (or local path) to pass as ``--model-repository``.

    Raises:
        StorageError: Triton's parser would misread the bucket, a path segment or the
            endpoint; the message names the part and the characters allowed.

    Example:
        >>> serving_url("s3://models/prod", "3f1c", endpoint_url="http://127.0.0.1:9000")
        's3://127.0.0.1:9000/models/prod/releases/3f1c'
        >>> serving_url("gs://models", "3f1c")
        'gs://models/releases/3f1c'
    """
    location = parse_store_url(store_url)
    shown = redact(store_url)
    segments = [s for s in location.prefix.split("/") if s]
    if release_id:
        segments += ["releases", release_id]
    if location.scheme == "file":
        if endpoint_url:
            raise StorageError(
                f"--endpoint-url {redact(endpoint_url)} applies to s3:// stores only, not "
                f"{shown}. Leave it out for a local store."
            )
        return "/" + "/".join(segments)
    if not _BUCKET[location.scheme].fullmatch(location.bucket):
        raise StorageError(
            f"Triton cannot serve from bucket {location.bucket!r} of {shown}: its "
            f"{location.scheme}:// path parser reads only bucket names of 3-63 characters "
            f"from {_BUCKET_CHARACTERS[location.scheme]}. Use a bucket named that way."
        )
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise StorageError(
                f"Triton cannot serve from {shown}: the path segment {segment!r} has "
                "characters its path parser misreads. Segments may hold only [0-9a-zA-Z._-] "
                "(letters, digits, '.', '_' and '-'); rename the prefix."
            )
    path = "/".join([location.bucket, *segments])
    if endpoint_url is None:
        return f"{location.scheme}://{path}"
    if location.scheme != "s3":
        raise StorageError(
            f"--endpoint-url {redact(endpoint_url)} applies to s3:// stores only, not "
            f"{shown}. Leave it out, or use an s3:// store."
        )
    return f"s3://{_endpoint_part(endpoint_url)}/{path}"


def _endpoint_part(endpoint_url: str) -> str:
    parts = urlsplit(endpoint_url)
    problem = None
    port = None
    if parts.scheme not in ("http", "https"):
        problem = "it does not start with http:// or https://"
    elif parts.username is not None or parts.password is not None:
        problem = "it carries credentials (use the environment or workload identity instead)"
    elif parts.path.strip("/") or parts.query or parts.fragment:
        problem = "it has a path, a query or a fragment"
    else:
        try:
            port = parts.port
        except ValueError:
            problem = "its port is not a number from 0 to 65535"
    host = parts.hostname or ""
    if problem is None and not _HOST.fullmatch(host):
        problem = "its host may hold only letters, digits, '.' and '-'"
    if problem is not None:
        raise StorageError(
            f"Triton cannot reach the S3 endpoint {redact(endpoint_url)}: {problem}. "
            "Expected http://HOST:PORT or https://HOST:PORT, e.g. http://minio.storage:9000."
        )
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    scheme = "https://" if parts.scheme == "https" else ""
    return f"{scheme}{host}:{port}"
