"""The three ports of a local Triton: checked, then claimed, before anything starts.

tritonserver given a port it cannot use prints its whole usage text, or fails after
loading; here each mistake is one sentence, found before the server is started: a port
outside 1-65535, the same port for two endpoints, a port something already listens on,
an address that is not an interface of this machine.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping

from orchestrator.errors import ConfigError, ServerError

__all__ = ["PORT_FLAGS", "check_ports", "claim_ports", "client_host", "free_port"]

logger = logging.getLogger(__name__)

# ServerOptions attribute -> the CLI flag that sets it, in tritonserver's order.
PORT_FLAGS = {
    "http_port": "--http-port",
    "grpc_port": "--grpc-port",
    "metrics_port": "--metrics-port",
}
_MAX_PORT = 65535


def check_ports(ports: Mapping[str, int | None]) -> None:
    """Refuse port numbers that cannot work together, without touching the network.

    Args:
        ports: ``PORT_FLAGS`` attribute -> port (None: a free one is picked).

    Raises:
        ConfigError: a port outside 1-65535, or one port given for two endpoints.

    Example:
        >>> check_ports({"http_port": 8000, "grpc_port": 8000})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        orchestrator.errors.ConfigError: --http-port and --grpc-port are both 8000; ...
    """
    seen: dict[int, str] = {}
    for attribute, port in ports.items():
        flag = PORT_FLAGS.get(attribute, attribute)
        if port is None:
            continue
        if not 1 <= port <= _MAX_PORT:
            raise ConfigError(f"{flag} {port} is not a TCP port (1-{_MAX_PORT}).")
        if port in seen:
            raise ConfigError(
                f"{seen[port]} and {flag} are both {port}; each endpoint needs its own port. "
                f"Pass another {flag}, or leave it out for a free one."
            )
        seen[port] = flag


def client_host(address: str) -> str:
    """Where a client on this machine reaches a server listening on ``address``.

    Example:
        >>> client_host("0.0.0.0")
        '127.0.0.1'
    """
    return "127.0.0.1" if address in ("0.0.0.0", "") else address


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now.

    Raises:
        ServerError: ``address`` is not an interface of this machine.

    Example:
        >>> 1 <= free_port() <= 65535
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        _bind(sock, address, 0, "--address")
        return int(sock.getsockname()[1])


def claim_ports(address: str, ports: Mapping[str, int | None]) -> dict[str, int]:
    """The ports to start on: the given ones once checked free, a free one for each None.

    Raises:
        ConfigError: see ``check_ports``.
        ServerError: a given port is in use, or ``address`` cannot be listened on.

    Example:
        >>> claim_ports("127.0.0.1", {"http_port": None})  # doctest: +SKIP
        {'http_port': 40123}
    """
    check_ports(ports)
    taken = {port for port in ports.values() if port is not None}
    chosen: dict[str, int] = {}
    for attribute, port in ports.items():
        if port is None:
            port = free_port(address)
            while port in taken:
                port = free_port(address)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                _bind(sock, address, port, PORT_FLAGS.get(attribute, attribute))
        taken.add(port)
        chosen[attribute] = port
    return chosen


def _bind(sock: socket.socket, address: str, port: int, flag: str) -> None:
    try:
        sock.bind((address, port))
    except socket.gaierror as exc:
        raise ServerError(
            f"--address {address!r} is not an IPv4 address or host name of this machine "
            f"({exc.strerror}). Pass e.g. --address 127.0.0.1, or 0.0.0.0 for every interface."
        ) from exc
    except OSError as exc:
        if port == 0:
            raise ServerError(
                f"Cannot listen on --address {address!r} ({exc.strerror}). Pass an address of "
                "this machine, e.g. 127.0.0.1, or 0.0.0.0 for every interface."
            ) from exc
        raise ServerError(
            f"Port {port} on {address} is already in use ({exc.strerror}). "
            f"Pick another with {flag}, or stop whatever listens there."
        ) from exc
