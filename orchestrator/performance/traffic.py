"""Constant background traffic on one model: N threads, each one connection, in a loop.

Used to prove that a swap drops nothing: start it, swap, stop it, and read how many
requests were sent and how many failed. Requests name no version, as real clients do,
so Triton routes each one to whatever version serves at that moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import Transport
from orchestrator.core.lifecycle import Started
from orchestrator.errors import ConfigError, OrchestratorError

__all__ = ["Traffic", "TrafficReport"]

logger = logging.getLogger(__name__)

_MAX_KEPT_ERRORS = 5

Check = Callable[[dict[str, NDArray[Any]]], str | None]


@dataclass(frozen=True)
class TrafficReport:
    """What the traffic did: requests sent, failed (an error, or a wrong answer), elapsed."""

    sent: int
    failed: int
    elapsed_s: float
    errors: tuple[str, ...]

    @property
    def requests_per_s(self) -> float:
        """Mean throughput."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"{self.sent} requests sent, {self.failed} failed in {self.elapsed_s:.1f} s "
            f"({self.requests_per_s:.0f}/s)"
        )


class Traffic(Started):
    """Background requests at fixed concurrency until ``stop()``; a context manager.

    Args:
        url: the server's endpoint for ``protocol``.
        model: the model to call (no version: the server picks).
        inputs: the request's inputs, sent unchanged each time.
        protocol: "http" or "grpc".
        concurrency: threads, each with its own connection and one request in flight.
        check: returns why an answer is wrong (None when right); a wrong answer counts
            as a failure. An exception it raises (a bug) stops that sender and is
            raised again by ``stop()``.

    Example:
        >>> with Traffic("127.0.0.1:8001", "digits_cnn", {"input": x}) as load:  # doctest: +SKIP
        ...     swap(...)
        ...     report = load.stop(min_requests=10_000)
        >>> report.failed  # doctest: +SKIP
        0
    """

    def __init__(
        self,
        url: str,
        model: str,
        inputs: Mapping[str, NDArray[Any]],
        *,
        protocol: Transport = "grpc",
        concurrency: int = 8,
        check: Check | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"Traffic concurrency is {concurrency}; expected at least 1.")
        self._args = (url, model, dict(inputs), protocol)
        self._check = check
        self._concurrency = concurrency
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._failed = 0
        self._errors: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self._senders: list[Future[None]] = []
        self._started = 0.0
        self._report: TrafficReport | None = None

    @property
    def sent(self) -> int:
        """Requests answered or failed so far."""
        with self._lock:
            return self._sent

    def start(self) -> Traffic:
        """Open the connections and start sending."""
        self._started = time.monotonic()
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="traffic")
        self._senders = [self._pool.submit(self._run) for _ in range(self._concurrency)]
        return self

    def wait_for(self, requests: int, timeout_s: float) -> bool:
        """Wait until at least ``requests`` were sent; False when the deadline passed first."""
        deadline = time.monotonic() + timeout_s
        while self.sent < requests:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self, min_requests: int = 0, timeout_s: float = 120.0) -> TrafficReport:
        """Stop (after at least ``min_requests``, within ``timeout_s``) and report.

        Raises:
            Exception: whatever a sender met that is not a failed request (a bug, such as
                a ``check`` that raised), with its own traceback.
        """
        if self._report is not None:
            return self._report
        if min_requests and not self.wait_for(min_requests, timeout_s):
            logger.warning(
                "Traffic sent only %d of %d requests within %.0f s",
                self.sent,
                min_requests,
                timeout_s,
            )
        self._stop.set()
        finished, _ = wait(self._senders, timeout=timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        with self._lock:
            self._report = TrafficReport(
                self._sent, self._failed, time.monotonic() - self._started, tuple(self._errors)
            )
        logger.info("Traffic on %s: %s", self._args[1], self._report)
        for sender in finished:
            sender.result()  # a sender's bug surfaces here rather than in a lost thread
        return self._report

    def _run(self) -> None:
        url, model, inputs, protocol = self._args
        try:
            session = client.InferSession(url, model, inputs, protocol=protocol)
        except OrchestratorError as exc:
            self._record(str(exc))
            return
        with session:
            while not self._stop.is_set():
                problem: str | None
                try:
                    outputs = session.infer()
                    problem = self._check(outputs) if self._check is not None else None
                except OrchestratorError as exc:
                    # The client turns every failed request into one (refused, dropped,
                    # timed out); anything else is a bug and ends this sender.
                    problem = str(exc)
                self._record(problem)

    def _record(self, problem: str | None) -> None:
        with self._lock:
            self._sent += 1
            if problem is not None:
                self._failed += 1
                if len(self._errors) < _MAX_KEPT_ERRORS:
                    self._errors.append(problem)
