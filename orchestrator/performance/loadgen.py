"""An asyncio load generator: N closed-loop connections, each with one request in flight.

On 2 cores every microsecond the client spends is taken from the server, so each
protocol's path does as little as it can:

- HTTP: the request is encoded once by tritonclient (``client.encode_http_request``);
  each keep-alive connection is a bare ``asyncio.Protocol`` that finds the end of the
  response (status line and Content-Length, ``http_wire``), records it, and writes the
  same bytes again from the callback (no coroutine, future or timer per request).
- gRPC: tritonclient's asyncio client, one coroutine per request in flight, each call
  with gRPC's own deadline (``client_timeout``).
- Deadlines: a watchdog fails HTTP requests older than ``request_timeout_s``, and so
  does the drain after the last window, so a server that trickles its answers holds no
  request past its deadline.
- Samples: completed requests are kept as two flat lists (latency, success) and handed
  over as numpy arrays (``Samples``) when the caller cuts a window.

``benchmarks/generator_vs_wrk.py`` compares it with wrk on the same endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import Transport
from orchestrator.errors import ServerError, ServerGone
from orchestrator.performance.http_wire import HttpResponseParser, raw_request, split_url

__all__ = ["LoadGenerator", "Samples"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Samples:
    """Requests completed in one span: latency in nanoseconds and success, per request."""

    latency_ns: NDArray[np.int64]
    ok: NDArray[np.bool_]

    @property
    def count(self) -> int:
        """Requests completed."""
        return int(self.ok.size)

    @property
    def succeeded(self) -> int:
        """Requests that succeeded."""
        return int(self.ok.sum())

    @staticmethod
    def concat(parts: list[Samples]) -> Samples:
        """All samples of ``parts`` in one."""
        if not parts:
            return Samples(np.zeros(0, np.int64), np.zeros(0, np.bool_))
        return Samples(
            np.concatenate([p.latency_ns for p in parts]), np.concatenate([p.ok for p in parts])
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection of the closed loop: answer in, same request out."""

    def __init__(self, generator: LoadGenerator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.parser = HttpResponseParser(keep_ok_body=False)
        self.sent_ns = 0
        self.in_flight = False
        self.failed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.fire()

    def fire(self) -> None:
        assert self.transport is not None
        self.in_flight = True
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(self.generator.http_request)

    def data_received(self, data: bytes) -> None:
        try:
            responses = self.parser.feed(data)
        except ValueError as exc:
            self.fail(f"unreadable answer from {self.generator.url}: {exc}")
            return
        for response in responses:
            self.in_flight = False
            ok = response.status == 200
            error = "" if ok else f"HTTP {response.status}: {response.body[:300]!r}"
            self.generator.record(self.sent_ns, ok, error)
            if self.generator.running:
                self.fire()

    def fail(self, error: str) -> None:
        """Count the request in flight as failed and drop the connection (a new one follows)."""
        if self.in_flight:
            self.in_flight = False
            self.generator.record(self.sent_ns, False, error)
        self.failed = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight:
            self.in_flight = False
            self.generator.record(self.sent_ns, False, f"connection to {self.generator.url} broke")
        self.generator.connection_closed(self)


class LoadGenerator:
    """Closed-loop load on one model: ``concurrency`` requests in flight at all times.

    Example:
        >>> generator = LoadGenerator("127.0.0.1:8000", "m", {"x": batch})  # doctest: +SKIP
        >>> asyncio.run(generator.run(8, controller))  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model: str,
        inputs: Mapping[str, NDArray[Any]],
        *,
        protocol: Transport = "http",
        request_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.model = model
        self.inputs = dict(inputs)
        self.protocol = protocol
        self.request_timeout_s = request_timeout_s
        self._host, self._port = split_url(url)
        self.http_request = (
            raw_request(self._host, self._port, client.encode_http_request(model, inputs))
            if protocol == "http"
            else b""
        )
        self.running = False
        self._latency_ns: list[int] = []
        self._ok: list[bool] = []
        self._first_error = ""
        self._gone = ""
        self._connections: set[_Connection] = set()
        self._reconnects: set[asyncio.Task[None]] = set()

    # -- what the caller sees --------------------------------------------------------------
    def take_samples(self) -> Samples:
        """The requests completed since the last call."""
        latency, ok = self._latency_ns, self._ok
        self._latency_ns, self._ok = [], []
        return Samples(np.array(latency, dtype=np.int64), np.array(ok, dtype=np.bool_))

    @property
    def first_error(self) -> str:
        """The first failure message seen, for reports ("" when none failed)."""
        return self._first_error

    @property
    def gone(self) -> str:
        """Why the server is considered gone ("" while it answers)."""
        return self._gone

    def record(self, start_ns: int, ok: bool, error: str = "") -> None:
        """Count one completed request (called by the connections and workers)."""
        self._latency_ns.append(time.perf_counter_ns() - start_ns)
        self._ok.append(ok)
        if not ok and not self._first_error:
            self._first_error = error

    # -- the run ----------------------------------------------------------------------------
    async def run(
        self, concurrency: int, controller: Callable[[LoadGenerator], Awaitable[None]]
    ) -> None:
        """Keep ``concurrency`` requests in flight while ``controller`` runs, then drain.

        Raises:
            ServerGone: the server refused new connections (it died or was stopped).
        """
        self.running = True
        self._first_error = ""
        self._gone = ""
        self.take_samples()
        try:
            if self.protocol == "http":
                await self._run_http(concurrency, controller)
            else:
                await self._run_grpc(concurrency, controller)
        finally:
            self.running = False
        if self._gone:
            raise ServerGone(self._gone)

    async def _run_http(
        self, concurrency: int, controller: Callable[[LoadGenerator], Awaitable[None]]
    ) -> None:
        for _ in range(concurrency):
            await self._open()
        watchdog = asyncio.ensure_future(self._watchdog())
        try:
            await controller(self)
        finally:
            self.running = False
            watchdog.cancel()
            # Each connection finishes its request in flight, or fails it at its deadline.
            await self._drain()

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.request_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self), self._host, self._port
                )
        except (OSError, TimeoutError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
            self._gone = f"Triton at {self.url} stopped accepting connections ({reason})"
            self.running = False
            return
        self._connections.add(connection)

    def connection_closed(self, connection: _Connection) -> None:
        """A connection ended: replace it while the run goes on."""
        self._connections.discard(connection)
        if self.running and not self._gone:
            task = asyncio.ensure_future(self._open())
            self._reconnects.add(task)
            task.add_done_callback(self._reconnects.discard)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.request_timeout_s / 4))
            self._expire()

    def _expire(self) -> None:
        """Fail every request in flight for longer than the deadline, however it trickles."""
        timeout_ns = int(self.request_timeout_s * 1e9)
        now = time.perf_counter_ns()
        for connection in list(self._connections):
            if connection.in_flight and now - connection.sent_ns > timeout_ns:
                connection.fail(f"no answer within {self.request_timeout_s:g} s")

    async def _drain(self) -> None:
        # Each request in flight ends by its own deadline: answered, or failed here.
        while any(c.in_flight for c in self._connections):
            self._expire()
            await asyncio.sleep(0.005)
        for task in list(self._reconnects):
            task.cancel()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        self._connections.clear()
        await asyncio.sleep(0)  # let the transports finish closing

    async def _run_grpc(
        self, concurrency: int, controller: Callable[[LoadGenerator], Awaitable[None]]
    ) -> None:
        async with client.AsyncGrpcInferencer(self.url, self.model, self.inputs) as grpc:
            tasks = [asyncio.ensure_future(self._grpc_worker(grpc)) for _ in range(concurrency)]
            try:
                await controller(self)
            finally:
                self.running = False
                _, pending = await asyncio.wait(tasks, timeout=self.request_timeout_s + 5.0)
                for task in pending:
                    task.cancel()

    async def _grpc_worker(self, grpc: client.AsyncGrpcInferencer) -> None:
        # A dead server shows as failing requests here; the caller's statistics call at
        # the end of each window finds that it is gone.
        while self.running:
            start_ns = time.perf_counter_ns()
            try:
                await grpc.infer(self.request_timeout_s)
            except ServerError as exc:
                self.record(start_ns, False, str(exc))
                await asyncio.sleep(0.01)  # do not spin on a refusing server
                continue
            self.record(start_ns, True)
