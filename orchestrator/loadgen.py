"""An asyncio load generator: N closed-loop workers, each with one request in flight.

HTTP requests are encoded once by tritonclient (``client.encode_http_request``) and
written as raw HTTP/1.1 on keep-alive connections, one per worker, so the client spends
its time on the network and not on re-encoding tensors: on 2 cores a single Python
process then keeps up with Triton (``benchmarks/generator_vs_wrk.py`` measures that
against ``wrk``). gRPC goes through tritonclient's asyncio client on one channel.

Every completed request is one ``Sample`` (completion time and latency in nanoseconds,
and whether it succeeded); the caller cuts the stream of samples into windows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import HttpInferRequest, Protocol
from orchestrator.errors import ServerError

__all__ = ["LoadGenerator", "Sample", "ServerGone"]

logger = logging.getLogger(__name__)

_HEADER_END = b"\r\n\r\n"


class ServerGone(ServerError):
    """Raised when the server stops accepting connections in the middle of a run."""


@dataclass(frozen=True)
class Sample:
    """One completed request: when it completed, how long it took, whether it succeeded."""

    end_ns: int
    latency_ns: int
    ok: bool


@dataclass
class _State:
    samples: list[Sample] = field(default_factory=list)
    first_error: str = ""
    gone: str = ""


class _HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends a pre-encoded request."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host = host
        self.port = port
        self.request = request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass  # the peer is gone already; nothing left to close
            self.writer = None

    async def roundtrip(self) -> tuple[int, bytes, int | None]:
        """Send the request, read one response: (status, body, inference header length)."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(_HEADER_END)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        header_length: int | None = None
        chunked = False
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "content-length":
                length = int(value)
            elif key == "inference-header-content-length":
                header_length = int(value)
            elif key == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        body = await self._chunked_body() if chunked else await self.reader.readexactly(length)
        return status, body, header_length

    async def _chunked_body(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def _raw_request(host: str, port: int, request: HttpInferRequest) -> bytes:
    lines = [f"POST {request.path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{key}: {value}" for key, value in request.headers]
    lines.append(f"Content-Length: {len(request.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body


def _split_url(url: str) -> tuple[str, int]:
    host, _, port = url.rpartition(":")
    if not host or not port.isdigit():
        raise ServerError(f"Server URL {url!r} is not HOST:PORT. Try 127.0.0.1:8000.")
    return host, int(port)


class LoadGenerator:
    """Closed-loop load on one model: ``concurrency`` requests in flight at all times.

    Example:
        >>> generator = LoadGenerator("127.0.0.1:8000", "m", {"x": batch})  # doctest: +SKIP
        >>> samples = asyncio.run(generator.run_for(8, 2.0))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model: str,
        inputs: Mapping[str, NDArray[Any]],
        *,
        protocol: Protocol = "http",
        request_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.model = model
        self.inputs = dict(inputs)
        self.protocol = protocol
        self.request_timeout_s = request_timeout_s
        self._host, self._port = _split_url(url)
        self._request = (
            _raw_request(self._host, self._port, client.encode_http_request(model, inputs))
            if protocol == "http"
            else b""
        )
        self._state = _State()
        self._stop = asyncio.Event()

    def take_samples(self) -> list[Sample]:
        """The samples completed since the last call (the list is handed over, not copied)."""
        samples, self._state.samples = self._state.samples, []
        return samples

    @property
    def first_error(self) -> str:
        """The first failure message seen, for reports ("" when none failed)."""
        return self._state.first_error

    @property
    def gone(self) -> str:
        """Why the server is considered gone ("" while it answers)."""
        return self._state.gone

    async def run(
        self, concurrency: int, controller: Callable[[LoadGenerator], Awaitable[None]]
    ) -> None:
        """Keep ``concurrency`` requests in flight while ``controller`` runs, then drain.

        Raises:
            ServerGone: the server refused new connections (it died or was stopped).
        """
        self._stop = asyncio.Event()
        self._state = _State()
        if self.protocol == "http":
            workers = [self._http_worker() for _ in range(concurrency)]
            tasks = [asyncio.ensure_future(w) for w in workers]
        else:
            async with client.AsyncGrpcInferencer(self.url, self.model, self.inputs) as grpc:
                tasks = [asyncio.ensure_future(self._grpc_worker(grpc)) for _ in range(concurrency)]
                await self._control(controller, tasks)
                return
        await self._control(controller, tasks)

    async def _control(
        self,
        controller: Callable[[LoadGenerator], Awaitable[None]],
        tasks: Sequence[asyncio.Future[None]],
    ) -> None:
        try:
            await controller(self)
        finally:
            self._stop.set()
            # Each worker finishes its request in flight; the deadline bounds a stuck one.
            done, pending = await asyncio.wait(tasks, timeout=self.request_timeout_s + 5.0)
            for task in pending:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    logger.debug("Load worker ended with %r", task.exception())
        if self._state.gone:
            raise ServerGone(self._state.gone)

    def _record(self, start_ns: int, ok: bool, error: str = "") -> None:
        end_ns = time.perf_counter_ns()
        self._state.samples.append(Sample(end_ns, end_ns - start_ns, ok))
        if not ok and not self._state.first_error:
            self._state.first_error = error

    async def _http_worker(self) -> None:
        connection = _HttpConnection(self._host, self._port, self._request)
        try:
            await self._connect(connection)
            while not self._stop.is_set() and not self._state.gone:
                start_ns = time.perf_counter_ns()
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        status, body, _ = await connection.roundtrip()
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                    self._record(start_ns, False, f"connection to {self.url} broke: {exc!r}")
                    await connection.close()
                    await self._connect(connection)
                    continue
                except TimeoutError:
                    self._record(start_ns, False, f"no answer within {self.request_timeout_s} s")
                    await connection.close()
                    await self._connect(connection)
                    continue
                if status == 200:
                    self._record(start_ns, True)
                else:
                    self._record(start_ns, False, f"HTTP {status}: {body[:300]!r}")
        finally:
            await connection.close()

    async def _connect(self, connection: _HttpConnection) -> None:
        try:
            async with asyncio.timeout(self.request_timeout_s):
                await connection.open()
        except (OSError, TimeoutError) as exc:
            self._state.gone = (
                f"Triton at {self.url} stopped accepting connections during the run "
                f"({exc.strerror if isinstance(exc, OSError) and exc.strerror else exc!r})"
            )

    async def _grpc_worker(self, grpc: client.AsyncGrpcInferencer) -> None:
        # A dead server shows as failing requests here; the caller's statistics call at
        # the end of each window finds that it is gone.
        while not self._stop.is_set() and not self._state.gone:
            start_ns = time.perf_counter_ns()
            try:
                await grpc.infer(self.request_timeout_s)
            except ServerError as exc:
                self._record(start_ns, False, str(exc))
                await asyncio.sleep(0.01)  # do not spin on a refusing server
                continue
            self._record(start_ns, True)
