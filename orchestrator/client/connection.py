"""Connections to Triton and the translation of tritonclient's errors into ours.

``http_client`` and ``grpc_client`` open a tritonclient client and turn whatever it
raises (``InferenceServerException``, a refused connection) into a ``ServerError`` that
names the server; ``control`` and ``infer`` go through them. Readiness and liveness live
here too: they are questions about the connection, not about a model.

URLs are ``host:port`` as tritonclient takes them.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPException
from typing import Any

import gevent  # type: ignore[import-untyped]
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from orchestrator.client.endpoints import Transport
from orchestrator.errors import ServerError

__all__ = [
    "CONNECTION_ERRORS",
    "DeadlineGrpcClient",
    "DeadlineHttpClient",
    "Transport",
    "error_message",
    "grpc_client",
    "http_client",
    "is_server_live",
    "is_server_ready",
    "quiet_interrupts",
    "triton_reason",
]

logger = logging.getLogger(__name__)

# What a refused, dropped or timed-out HTTP connection raises under tritonclient: OSError
# from the socket, http.client.HTTPException from geventhttpclient's parser (a server
# that closes the connection in the middle of an answer, as a stopping one does).
CONNECTION_ERRORS: tuple[type[Exception], ...] = (OSError, HTTPException)
# Calls that do no network exchange of their own (async_infer's greenlet is waited on by
# its result's get_result, which the caller bounds).
# tritonclient's status of a gRPC call past its deadline (str of grpc.StatusCode).
_GRPC_DEADLINE = "StatusCode.DEADLINE_EXCEEDED"
_NOT_DEADLINED = {
    "close",
    "async_infer",
    "generate_request_body",
    "parse_response_body",
    "register_plugin",
    "plugin",
    "unregister_plugin",
}


class DeadlineHttpClient(httpclient.InferenceServerClient):  # type: ignore[misc]
    """tritonclient's HTTP client with one deadline per call, not per socket read.

    ``network_timeout`` bounds each read only: a server that trickles a byte a second
    keeps a call going for ever. Here every public call (the request, the headers and
    the body) runs under ``gevent.Timeout(timeout_s)``, which ends it at the deadline
    with a ``TimeoutError`` (an ``OSError``: callers report it as a connection failure).

    Example:
        >>> DeadlineHttpClient("127.0.0.1:8000", timeout_s=5).is_server_ready()  # doctest: +SKIP
        True
    """

    def __init__(self, url: str, *, timeout_s: float, connection_timeout_s: float | None = None):
        super().__init__(
            url,
            connection_timeout=connection_timeout_s or timeout_s,
            network_timeout=timeout_s,
        )
        self.deadline_s = timeout_s


def _deadlined(name: str) -> Any:
    method = getattr(httpclient.InferenceServerClient, name)

    @functools.wraps(method)
    def call(self: DeadlineHttpClient, *args: Any, **kwargs: Any) -> Any:
        timeout = gevent.Timeout(
            self.deadline_s,
            TimeoutError(f"no complete answer to {name} within {self.deadline_s:g} s"),
        )
        with timeout:
            return method(self, *args, **kwargs)

    return call


for _name in dir(httpclient.InferenceServerClient):
    if not _name.startswith("_") and _name not in _NOT_DEADLINED:
        if callable(getattr(httpclient.InferenceServerClient, _name)):
            setattr(DeadlineHttpClient, _name, _deadlined(_name))


class DeadlineGrpcClient(grpcclient.InferenceServerClient):  # type: ignore[misc]
    """tritonclient's gRPC client with a deadline on every call that does not name its own.

    tritonclient's gRPC calls wait for ever unless given ``client_timeout``, which they
    pass to the gRPC stub as ``timeout=``: gRPC's own per-call deadline, end to end
    (connection, request and answer; tritonclient 2.73 ``tritonclient/grpc/_client.py``,
    e.g. ``get_model_metadata``: ``self._client_stub.ModelMetadata(..., timeout=client_timeout)``).
    A server that accepts the connection and never completes HTTP/2's handshake would
    otherwise hold a call for gRPC's 20 s connect timeout, and one that accepts the call
    and never answers, for ever. Here ``client_timeout`` defaults to ``timeout_s``; a
    call that passes its own keeps it.

    Example:
        >>> DeadlineGrpcClient("127.0.0.1:8001", timeout_s=5).is_server_live()  # doctest: +SKIP
        True
    """

    def __init__(self, url: str, *, timeout_s: float) -> None:
        super().__init__(url)
        self.deadline_s = timeout_s


def _grpc_deadlined(name: str) -> Any:
    method = getattr(grpcclient.InferenceServerClient, name)

    @functools.wraps(method)
    def call(self: DeadlineGrpcClient, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("client_timeout") is None:
            kwargs["client_timeout"] = self.deadline_s
        return method(self, *args, **kwargs)

    return call


for _name in dir(grpcclient.InferenceServerClient):
    _method = getattr(grpcclient.InferenceServerClient, _name)
    if not _name.startswith("_") and callable(_method):
        if "client_timeout" in inspect.signature(_method).parameters:
            setattr(DeadlineGrpcClient, _name, _grpc_deadlined(_name))


def quiet_interrupts() -> None:
    """Let Ctrl-C leave a wait on Triton without gevent printing it as a traceback.

    tritonclient's HTTP client waits in gevent's hub; a KeyboardInterrupt raised there
    (Ctrl-C, or serve's SIGTERM handler) is printed by the hub before it reaches the
    caller. It is a request to stop, not an error: the hub of this thread is told so
    (``NOT_ERROR``, which gevent documents for this), and still re-raises it.

    Example:
        >>> quiet_interrupts()
    """
    hub = gevent.get_hub()
    if not issubclass(KeyboardInterrupt, hub.NOT_ERROR):
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)


@contextmanager
def http_client(url: str, timeout_s: float = 60.0) -> Iterator[httpclient.InferenceServerClient]:
    """An HTTP client for the server at ``url``, closed on exit; its failures as ``ServerError``.

    Raises:
        ServerError: Triton refused a request made in the block, or cannot be reached.

    Example:
        >>> with http_client("127.0.0.1:8000") as client:  # doctest: +SKIP
        ...     client.is_server_ready()
        True
    """
    quiet_interrupts()
    client = DeadlineHttpClient(url, timeout_s=timeout_s)
    try:
        yield client
    except InferenceServerException as exc:
        raise ServerError(f"Triton at {url} refused the request: {error_message(exc)}") from exc
    except CONNECTION_ERRORS as exc:
        raise ServerError(
            f"Cannot reach Triton at {url}: {exc}. Check that the server is running and that "
            "the URL is HOST:PORT of its HTTP endpoint."
        ) from exc
    finally:
        client.close()


@contextmanager
def grpc_client(url: str, timeout_s: float = 60.0) -> Iterator[grpcclient.InferenceServerClient]:
    """A gRPC client for the server at ``url``, closed on exit; its failures as ``ServerError``.

    Every call made in the block ends within ``timeout_s`` (``DeadlineGrpcClient``).

    Raises:
        ServerError: Triton refused a request made in the block, cannot be reached, or
            did not answer within ``timeout_s``.

    Example:
        >>> with grpc_client("127.0.0.1:8001") as client:  # doctest: +SKIP
        ...     client.is_server_live()
        True
    """
    client = DeadlineGrpcClient(url, timeout_s=timeout_s)
    try:
        yield client
    except InferenceServerException as exc:
        if exc.status() == _GRPC_DEADLINE:
            raise ServerError(
                f"Triton at {url} (gRPC) did not answer within {timeout_s:g} s. Check that "
                "the server is running and that the URL is HOST:PORT of its gRPC endpoint."
            ) from exc
        raise ServerError(
            f"Triton at {url} (gRPC) refused the request: {error_message(exc)}"
        ) from exc
    finally:
        client.close()


def error_message(exc: InferenceServerException) -> str:
    """The message of a tritonclient error (its text when it carries none).

    Example:
        >>> error_message(InferenceServerException("model 'm' is not found"))
        "model 'm' is not found"
    """
    return str(exc.message() or exc)


def triton_reason(text: str) -> str:
    r"""Triton's reason without the Python stack a Python-based backend appends to it.

    Example:
        >>> triton_reason("bad dims\n\nAt:\n  model.py(12): initialize")
        'bad dims'
    """
    # Python-based backends append the Python stack ("\n\nAt:\n  file(line): fn") to
    # their load errors; the message before it is what a user needs.
    return text.split("\n\nAt:\n", 1)[0].strip()


def is_server_ready(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the server at ``url`` answers ``/v2/health/ready`` with 200.

    Example:
        >>> is_server_ready("127.0.0.1:8000")  # doctest: +SKIP
        True
    """
    try:
        with http_client(url, timeout_s) as client:
            return bool(client.is_server_ready())
    except ServerError:
        return False


def is_server_live(url: str, timeout_s: float = 2.0, *, protocol: Transport = "http") -> bool:
    """Whether a Triton answers at ``url`` over ``protocol`` and says it is live.

    Unlike readiness, liveness stays true when some model failed to load (Triton's
    default strict readiness turns the whole server not-ready then).

    Example:
        >>> is_server_live("127.0.0.1:8001", protocol="grpc")  # doctest: +SKIP
        True
    """
    try:
        if protocol == "http":
            with http_client(url, timeout_s) as client:
                return bool(client.is_server_live())
        with grpc_client(url, timeout_s) as grpc:
            return bool(grpc.is_server_live())
    except ServerError:
        return False
