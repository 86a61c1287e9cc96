"""Commands printed as hints: they run as printed (the store and its endpoint included).

Example:
    >>> class S3:
    ...     url, endpoint_url = "s3://models/prod", "http://127.0.0.1:9000"
    >>> store_args(S3())
    's3://models/prod --endpoint-url http://127.0.0.1:9000'
"""

from __future__ import annotations

import shlex
from typing import Protocol

__all__ = ["store_args"]


class _Located(Protocol):
    url: str
    endpoint_url: str | None


def store_args(store: _Located) -> str:
    """``STORE`` as a command line needs it: its URL, and ``--endpoint-url`` when it has one."""
    parts = [store.url]
    if store.endpoint_url:
        parts += ["--endpoint-url", store.endpoint_url]
    return shlex.join(parts)
