"""HOST:PORT parsing and the HTTP/gRPC endpoint pair."""

from __future__ import annotations

import pytest

from orchestrator.client.endpoints import Endpoints, parse_host_port
from orchestrator.errors import ConfigError


def test_endpoints_default_grpc_to_the_next_port_like_tritonserver() -> None:
    assert Endpoints.from_urls("http://localhost:8000/") == Endpoints(
        "localhost:8000", "localhost:8001"
    )
    assert Endpoints.from_urls("h:1", "grpc://g:5").grpc_url == "g:5"
    with pytest.raises(ConfigError, match="'localhost' is not HOST:PORT"):
        Endpoints.from_urls("localhost")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("http://localhost:8000/", "localhost:8000"),
        ("grpc://triton.svc:8001", "triton.svc:8001"),
        ("[::1]:8000", "[::1]:8000"),
    ],
    ids=["plain", "http-scheme-and-slash", "grpc-scheme", "ipv6"],
)
def test_parse_host_port_keeps_host_and_port_only(url: str, expected: str) -> None:
    assert parse_host_port(url) == expected


@pytest.mark.parametrize(
    "url",
    ["localhost", ":8000", "localhost:", "localhost:http", "h:0", "h:65536", ""]
    + ["[::1:8000", "a b:8000", "user@h:8000", "h/x:8000", "\u00fc:8000", "h:\u0661"],
)
def test_parse_host_port_refuses_what_is_not_host_colon_port(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_host_port(url, option="--grpc-url")
    assert str(info.value) == (
        f"URL {url!r} is not HOST:PORT (a host, a colon, a port from 1 to 65535). "
        "Pass the server's endpoint, e.g. --grpc-url 127.0.0.1:8000."
    )


def test_a_grpc_url_is_checked_and_names_its_option() -> None:
    with pytest.raises(ConfigError, match="'g' is not HOST:PORT.*--grpc-url 127.0.0.1:8000"):
        Endpoints.from_urls("h:8000", "g")


def test_the_last_http_port_has_no_default_grpc_port() -> None:
    with pytest.raises(ConfigError, match="h:65535 has no next port for gRPC"):
        Endpoints.from_urls("h:65535")
    assert Endpoints.from_urls("h:65535", "h:1").url("grpc") == "h:1"
