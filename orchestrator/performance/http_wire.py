"""HTTP/1.1 on a bare socket, as the load generator speaks it: requests and responses.

- A request is tritonclient's encoded inference request (``client.HttpInferRequest``)
  with a request line and ``Content-Length`` in front (``raw_request``).
- ``HttpResponseParser`` cuts a byte stream into responses by their ``Content-Length``
  (no chunked encoding: Triton does not send it for inference answers).
- ``http_request_once`` sends one request on a fresh connection, to check an encoded
  request before it is sent thousands of times, under one deadline for the whole call.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import cast

from orchestrator.client import HttpInferRequest
from orchestrator.errors import ServerError

__all__ = [
    "HttpResponse",
    "HttpResponseParser",
    "http_request_once",
    "raw_request",
    "split_url",
]

logger = logging.getLogger(__name__)

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_INFERENCE_HEADER_LENGTH = re.compile(rb"\r\ninference-header-content-length:\s*(\d+)", re.I)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked", re.IGNORECASE)


@dataclass(frozen=True)
class HttpResponse:
    """One HTTP/1.1 response: status, body (empty when not kept), inference header length."""

    status: int
    body: bytes
    header_length: int | None


class HttpResponseParser:
    """Splits a byte stream into HTTP/1.1 responses with a Content-Length."""

    def __init__(self, keep_ok_body: bool = True) -> None:
        # The closed loop only needs the body of a failed answer: copying the others
        # would be CPU taken from the server.
        self.keep_ok_body = keep_ok_body
        self.buffer = bytearray()
        self.body_start = -1
        self.end = 0
        self.status = 0
        self.header_length: int | None = None

    def feed(self, data: bytes) -> list[HttpResponse]:
        r"""The responses completed by ``data`` (none while one is still partial).

        Raises:
            ValueError: a response uses chunked transfer encoding.

        Example:
            >>> HttpResponseParser().feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            [HttpResponse(status=200, body=b'ok', header_length=None)]
        """
        self.buffer += data
        responses: list[HttpResponse] = []
        while True:
            if self.body_start < 0:
                head_end = self.buffer.find(_HEADER_END)
                if head_end < 0:
                    return responses
                head = bytes(self.buffer[:head_end])
                if _CHUNKED.search(head):
                    raise ValueError("chunked HTTP responses are not supported")
                length = _CONTENT_LENGTH.search(head)
                inference = _INFERENCE_HEADER_LENGTH.search(head)
                self.status = int(head[9:12])
                self.header_length = int(inference.group(1)) if inference else None
                self.body_start = head_end + len(_HEADER_END)
                self.end = self.body_start + (int(length.group(1)) if length else 0)
            if len(self.buffer) < self.end:
                return responses
            keep = self.keep_ok_body or self.status != 200
            body = bytes(self.buffer[self.body_start : self.end]) if keep else b""
            responses.append(HttpResponse(self.status, body, self.header_length))
            del self.buffer[: self.end]
            self.body_start = -1


class _OneShot(asyncio.Protocol):
    def __init__(self, request: bytes, answer: asyncio.Future[HttpResponse]) -> None:
        self.request = request
        self.answer = answer
        self.parser = HttpResponseParser()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as ones.
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        responses = self.parser.feed(data)
        if responses and not self.answer.done():
            self.answer.set_result(responses[0])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ConnectionError(f"connection closed: {exc!r}"))


async def http_request_once(
    url: str, request: HttpInferRequest, timeout_s: float = 30.0
) -> tuple[int, bytes, int | None]:
    """Send ``request`` once on a fresh connection: (status, body, inference header length).

    Raises:
        ServerError: no complete answer within ``timeout_s``, or no connection.

    Example:
        >>> asyncio.run(http_request_once("127.0.0.1:8000", request))  # doctest: +SKIP
        (200, b'{"model_name":...', 120)
    """
    host, port = split_url(url)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[HttpResponse] = loop.create_future()
    # One deadline for the whole call (connect, send, every byte of the answer): a server
    # that trickles its answer never resets it, as a per-read timeout would be.
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_connection(
                lambda: _OneShot(raw_request(host, port, request), answer), host, port
            )
            try:
                response = await answer
            finally:
                transport.close()
    except TimeoutError as exc:
        raise ServerError(
            f"Triton at {url} sent no complete answer to {request.path} within {timeout_s:g} s."
            " Check that the server is running and not overloaded."
        ) from exc
    except OSError as exc:
        raise ServerError(f"Cannot reach Triton at {url}: {exc}") from exc
    return response.status, response.body, response.header_length


def raw_request(host: str, port: int, request: HttpInferRequest) -> bytes:
    r"""The bytes of ``request`` on the wire: request line, headers, body.

    Example:
        >>> raw_request("h", 1, HttpInferRequest("/v2/models/m/infer", (), b"{}"))
        b'POST /v2/models/m/infer HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\n{}'
    """
    lines = [f"POST {request.path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{key}: {value}" for key, value in request.headers]
    lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def split_url(url: str) -> tuple[str, int]:
    """Host and port of a ``HOST:PORT`` URL.

    Raises:
        ServerError: the URL is not ``HOST:PORT``.

    Example:
        >>> split_url("127.0.0.1:8000")
        ('127.0.0.1', 8000)
    """
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit():
        raise ServerError(f"Server URL {url!r} is not HOST:PORT. Try 127.0.0.1:8000.")
    return host, int(port)
