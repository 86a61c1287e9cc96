"""The server's endpoints as options, each defined once.

* ``--url HOST:PORT`` is the HTTP endpoint, ``--grpc-url HOST:PORT`` the gRPC one
  (default: the HTTP port + 1), ``--metrics-url HOST:PORT`` the metrics port.
* ``--protocol`` chooses what is used.
* ``endpoints_from`` and ``endpoint_for`` turn the values into the endpoints a command
  talks to; a bad pair is a usage error (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.client.endpoints import Endpoints

__all__ = [
    "HostPort",
    "endpoint_for",
    "endpoints_from",
    "grpc_url_option",
    "metrics_url_option",
    "protocol_option",
    "url_option",
]

F = TypeVar("F", bound=Callable[..., Any])


class HostPort(click.ParamType[str, Any]):
    """A server endpoint, ``HOST:PORT``; anything else is a usage error (exit 2)."""

    name = "host:port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """``value`` as ``HOST:PORT`` (scheme and trailing slash dropped)."""
        from orchestrator.client.endpoints import parse_host_port

        option = param.opts[0] if param is not None and param.opts else "--url"
        try:
            return parse_host_port(str(value), option=option)
        except ConfigError as exc:
            self.fail(str(exc), param, ctx)


def url_option(*, required: bool = True, help_text: str | None = None) -> Callable[[F], F]:
    """``--url HOST:PORT``: the server's HTTP endpoint, required (parameter ``url``)."""
    return click.option(
        "--url",
        type=HostPort(),
        metavar="HOST:PORT",
        required=required,
        help=help_text or "HOST:PORT of the server's HTTP endpoint.",
    )


def grpc_url_option() -> Callable[[F], F]:
    """``--grpc-url HOST:PORT``: the server's gRPC endpoint (parameter ``grpc_url``)."""
    return click.option(
        "--grpc-url",
        type=HostPort(),
        metavar="HOST:PORT",
        help="HOST:PORT of the server's gRPC endpoint (default: the HTTP port + 1).",
    )


def metrics_url_option(help_text: str) -> Callable[[F], F]:
    """``--metrics-url HOST:PORT``: Triton's metrics port, beside --url (``metrics_url``)."""
    return click.option("--metrics-url", type=HostPort(), metavar="HOST:PORT", help=help_text)


def protocol_option(
    help_text: str = "Protocol to send the requests over (gRPC goes to --grpc-url).",
    *,
    both: bool = False,
) -> Callable[[F], F]:
    """``--protocol``: http or grpc (default http), or with ``both`` also both (the default).

    Example:
        >>> @protocol_option()  # doctest: +SKIP
        ... @click.command()
        ... def infer(protocol: str) -> None: ...
    """
    choices = ["http", "grpc", "both"] if both else ["http", "grpc"]
    return click.option(
        "--protocol",
        type=click.Choice(choices),
        default="both" if both else "http",
        show_default=True,
        help=help_text,
    )


def endpoints_from(url: str, grpc_url: str | None) -> Endpoints:
    """The server's endpoints from ``--url`` and ``--grpc-url``; a bad pair is a usage error.

    Example:
        >>> endpoints_from("127.0.0.1:8000", None).grpc_url
        '127.0.0.1:8001'
    """
    from orchestrator.client.endpoints import Endpoints

    try:
        return Endpoints.from_urls(url, grpc_url)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def endpoint_for(url: str, grpc_url: str | None, protocol: str) -> str:
    """The one endpoint a single-protocol command talks to, with a note for the gRPC default.

    Example:
        >>> endpoint_for("127.0.0.1:8000", "127.0.0.1:9001", "grpc")
        '127.0.0.1:9001'
    """
    endpoints = endpoints_from(url, grpc_url)
    if protocol != "grpc":
        return endpoints.http_url
    if grpc_url is None:
        click.echo(
            f"Note: using the gRPC endpoint {endpoints.grpc_url} (the HTTP port + 1); "
            "--grpc-url chooses it.",
            err=True,
        )
    return endpoints.grpc_url
