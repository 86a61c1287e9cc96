"""One shape for a Triton this process started: a local child process or a container.

- Addresses: ``http_url``, ``grpc_url``, ``metrics_address`` and ``metrics_url``, from
  the interface it listens on and the three ports claimed before it starts.
- Lifecycle: ``start`` checks and claims, launches, waits for ``/v2/health/ready`` and
  stops what it started on any failure (Ctrl-C included); ``stop`` runs on every path;
  it is a context manager (``core.lifecycle.Started``).
- Its log: ``log_tail`` of ``log_path``; ``run_until_exit`` for a server that serves
  until it is interrupted.

``TritonServer`` (``serving/triton/server.py``) and ``TritonContainer``
(``serving/container/run.py``) say how to launch, whether it still runs, how to stop,
and how to word its failures.
"""

from __future__ import annotations

import abc
import logging
import time
from pathlib import Path
from typing import Protocol, TypeVar

from orchestrator import client
from orchestrator.core.lifecycle import Started
from orchestrator.errors import ServerError
from orchestrator.serving.triton.ports import PORT_FLAGS, claim_ports, client_host

__all__ = ["ListenOptions", "RunningTriton"]

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 30
_Running = TypeVar("_Running", bound="RunningTriton")


class ListenOptions(Protocol):
    """What both runtimes' options say about where and how long: ports, address, timeout."""

    @property
    def http_port(self) -> int | None: ...  # noqa: D102
    @property
    def grpc_port(self) -> int | None: ...  # noqa: D102
    @property
    def metrics_port(self) -> int | None: ...  # noqa: D102
    @property
    def address(self) -> str: ...  # noqa: D102
    @property
    def ready_timeout_s(self) -> float: ...  # noqa: D102


class RunningTriton(Started):
    """A Triton this process started; ``start`` (or ``with``) it, and it is stopped after.

    Example:
        >>> with TritonServer(ServerOptions(Path("model_repository"))) as server:  # doctest: +SKIP
        ...     print(server.http_url)
        127.0.0.1:40123
    """

    ready_poll_s = 0.1  # how often start() asks /v2/health/ready
    serving_poll_s = 0.2  # how often run_until_exit() checks that it still runs

    def __init__(self, options: ListenOptions) -> None:
        self._listen = options
        self.http_port = 0
        self.grpc_port = 0
        self.metrics_port = 0
        self.startup_s = 0.0

    # -- addresses --------------------------------------------------------------------
    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP endpoint, as tritonclient takes it."""
        return f"{self._client_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def metrics_address(self) -> str:
        """``host:port`` of the metrics endpoint (what ``gate --metrics-url`` takes)."""
        return f"{self._client_host}:{self.metrics_port}"

    @property
    def metrics_url(self) -> str:
        """The Prometheus metrics URL."""
        return f"http://{self.metrics_address}/metrics"

    @property
    def ports(self) -> dict[str, int]:
        """``http``, ``grpc`` and ``metrics`` -> the port claimed (0 before ``start``)."""
        return {"http": self.http_port, "grpc": self.grpc_port, "metrics": self.metrics_port}

    @property
    def _client_host(self) -> str:
        return client_host(self._listen.address)

    # -- what a runtime provides --------------------------------------------------------
    @property
    @abc.abstractmethod
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""

    @property
    @abc.abstractmethod
    def is_running(self) -> bool:
        """Whether the server still runs."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop it and remove what was made for it; never leaves it running."""

    @abc.abstractmethod
    def _prepare(self) -> None:
        """Checks before the ports are claimed (the repository, the binary, the engine)."""

    @abc.abstractmethod
    def _launch(self) -> None:
        """Start the server on the claimed ports; ``stop`` undoes a partial launch."""

    @abc.abstractmethod
    def _exited(self, *, serving: bool) -> str:
        """The first sentence of the error when it exited (while serving, or before ready)."""

    @abc.abstractmethod
    def _not_ready(self) -> str:
        """The first sentence of the error when it was not ready in time."""

    def _log_note(self) -> str:
        return f"Last lines of its log ({self.log_path})"

    def _refresh_log(self) -> None:
        """Bring ``log_path`` up to date (a container's log is saved from the engine)."""
        return None  # a child process writes its log itself

    # -- lifecycle --------------------------------------------------------------------
    def start(self: _Running) -> _Running:
        """Start it and wait until it is ready.

        Raises:
            ServerError: the repository or a port is unusable, it fails to start, or it
                exits or is not ready before the deadline (with the log tail). What was
                started is stopped before the error leaves.
        """
        self._prepare()
        requested = {attribute: getattr(self._listen, attribute) for attribute in PORT_FLAGS}
        for attribute, port in claim_ports(self._listen.address, requested).items():
            setattr(self, attribute, port)
        started = time.monotonic()
        try:
            self._launch()
            # The wait gets the whole ready_timeout_s, however long the launch took.
            self._wait_until_ready(time.monotonic() + self._listen.ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        self._refresh_log()
        logger.info(
            "Triton ready in %.1f s: HTTP %s, gRPC %s", self.startup_s, self.http_url, self.grpc_url
        )
        return self

    def run_until_exit(self) -> None:
        """Block while it serves; it exiting on its own is an error.

        Raises:
            ServerError: it exited (with the last lines of its log).
        """
        while self.is_running:
            time.sleep(self.serving_poll_s)
        raise ServerError(f"{self._exited(serving=True)}. {self._failure_log()}")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of its log (empty when there is none)."""
        self._refresh_log()
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, ServerError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_until_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self.is_running:
                raise ServerError(f"{self._exited(serving=False)}. {self._failure_log()}")
            if client.is_server_ready(self.http_url, timeout_s=1.0):
                return
            time.sleep(self.ready_poll_s)
        raise ServerError(
            f"{self._not_ready()} (waiting for /v2/health/ready). Try a longer "
            f"--ready-timeout-s. {self._failure_log()}"
        )

    def _failure_log(self) -> str:
        return f"{self._log_note()}:\n{self.log_tail()}"
