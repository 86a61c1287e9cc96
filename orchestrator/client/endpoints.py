"""Where a Triton server answers: ``HOST:PORT`` parsing and the ``Endpoints`` pair.

Standard library only.

- A URL may carry an ``http://`` or ``grpc://`` scheme and a trailing slash; both are
  dropped.
- The gRPC endpoint defaults to the HTTP port + 1, as tritonserver's own defaults (HTTP
  8000, gRPC 8001).
- A URL that is not ``HOST:PORT`` raises ``ConfigError``; the CLI turns it into a usage
  error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from orchestrator.errors import ConfigError

__all__ = ["DEFAULT_GRPC_OFFSET", "Endpoints", "Transport", "parse_host_port"]

# The two ways to talk to Triton; every module that takes a protocol uses this type.
Transport = Literal["http", "grpc"]

DEFAULT_GRPC_OFFSET = 1  # tritonserver's defaults: HTTP 8000, gRPC 8001
_SCHEMES = ("http://", "grpc://")
_MAX_PORT = 65535
# A host name or IPv4 address, or an IPv6 address in brackets; nothing else reaches a URL.
_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def parse_host_port(url: str, *, option: str = "--url") -> str:
    """``url`` as ``HOST:PORT``, without scheme or trailing slash.

    Args:
        url: what the user wrote, e.g. ``127.0.0.1:8000`` or ``http://localhost:8000/``.
        option: the option the URL came from, named in the error message.

    Raises:
        ConfigError: ``url`` has no host (or one with characters a host name cannot
            have), no port, or a port outside 1-65535.

    Example:
        >>> parse_host_port("http://localhost:8000/")
        'localhost:8000'
    """
    stripped = url
    for scheme in _SCHEMES:
        stripped = stripped.removeprefix(scheme)
    stripped = stripped.rstrip("/")
    host, _, port = stripped.rpartition(":")
    port_ok = port.isascii() and port.isdigit() and 1 <= int(port) <= _MAX_PORT
    if not _HOST.fullmatch(host) or not port_ok:
        raise ConfigError(
            f"URL {url!r} is not HOST:PORT (a host, a colon, a port from 1 to {_MAX_PORT}). "
            f"Pass the server's endpoint, e.g. {option} 127.0.0.1:8000."
        )
    return f"{host}:{int(port)}"


@dataclass(frozen=True)
class Endpoints:
    """Where one Triton server answers: its HTTP and gRPC ``host:port``.

    Example:
        >>> Endpoints("127.0.0.1:8000", "127.0.0.1:8001").url("grpc")
        '127.0.0.1:8001'
    """

    http_url: str
    grpc_url: str

    @classmethod
    def from_urls(cls, http_url: str, grpc_url: str | None = None) -> Endpoints:
        """Endpoints from the HTTP URL; gRPC defaults to the next port, as tritonserver's do.

        Raises:
            ConfigError: a URL is not ``HOST:PORT``, or the HTTP port is the last one
                (no next port for gRPC).

        Example:
            >>> Endpoints.from_urls("localhost:8000").grpc_url
            'localhost:8001'
        """
        http = parse_host_port(http_url, option="--url")
        if grpc_url is not None:
            return cls(http_url=http, grpc_url=parse_host_port(grpc_url, option="--grpc-url"))
        host, _, port = http.rpartition(":")
        grpc_port = int(port) + DEFAULT_GRPC_OFFSET
        if grpc_port > _MAX_PORT:
            raise ConfigError(
                f"The HTTP endpoint {http} has no next port for gRPC (the default is the "
                "HTTP port + 1). Pass the gRPC endpoint with --grpc-url HOST:PORT."
            )
        return cls(http_url=http, grpc_url=f"{host}:{grpc_port}")

    def url(self, protocol: Transport) -> str:
        """The URL for ``protocol``.

        Example:
            >>> Endpoints.from_urls("localhost:8000").url("http")
            'localhost:8000'
        """
        return self.http_url if protocol == "http" else self.grpc_url
