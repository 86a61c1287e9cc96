"""Serve a model repository on Triton until Ctrl-C or SIGTERM: locally, or in Docker."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from orchestrator.client import Endpoints, ModelState, Transport, repository_index
from orchestrator.core.golden import DEFAULT_TOLERANCE, Tolerance
from orchestrator.errors import ServerError
from orchestrator.repository.layout import model_names
from orchestrator.serving.container import ContainerOptions, TritonContainer
from orchestrator.serving.smoke import PROTOCOLS, SmokeReport, smoke
from orchestrator.serving.triton import RunningTriton, ServerOptions, TritonServer, load_models

__all__ = ["ServeReport", "serve", "serve_and_smoke", "serve_in_container"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeReport:
    """What a started server offers: its endpoints and the state of every model version."""

    http_url: str
    grpc_url: str
    metrics_url: str
    startup_s: float
    log_path: Path
    models: tuple[ModelState, ...]

    @property
    def failed(self) -> tuple[ModelState, ...]:
        """The model versions not READY (an unloaded old version is not a failure).

        A version still LOADING when the ready timeout ran out counts as failed.
        """
        return tuple(
            m
            for m in self.models
            if m.state not in ("READY", "UNLOADING") and m.reason != "unloaded"
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the endpoints, the start-up time, the log and every model's state."""
        return {
            "http": self.http_url,
            "grpc": self.grpc_url,
            "metrics": self.metrics_url,
            "startup_s": round(self.startup_s, 3),
            "log": str(self.log_path),
            "models": [
                {"name": m.name, "version": m.version, "state": m.state, "reason": m.reason}
                for m in self.models
            ],
        }


@contextlib.contextmanager
def _stop_signals_as_interrupt() -> Iterator[None]:
    # SIGINT too: a shell starts background jobs (`serve &`) with SIGINT ignored, and
    # `kill -INT` must still stop the server cleanly.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(
    options: ServerOptions,
    models: Iterable[str] | None = None,
    *,
    on_ready: Callable[[ServeReport], None],
    cpu_override: bool | None = None,
) -> None:
    """Start Triton on ``options.repository``, load the models, and run until interrupted.

    Args:
        options: how to start the server (the model control mode must be "explicit").
        models: the models to load (all when None).
        on_ready: called once with the endpoints and model states.
        cpu_override: see ``load_models``.

    Raises:
        ServerError: a model in ``models`` is not in the repository, the server failed
            to start, a model failed to load (the server is then stopped), or the server
            died while serving.

    Example:
        >>> serve(ServerOptions(Path("model_repository")), on_ready=print)  # doctest: +SKIP
    """
    if models is not None:
        models = sorted(set(models))
        _check_models_exist(options, models)
    with _stop_signals_as_interrupt(), TritonServer(options) as server:
        try:
            report = _load(server, options, models, cpu_override)
            on_ready(report)
            _raise_if_failed(report)
            server.run_until_exit()
        except KeyboardInterrupt:
            logger.info("Interrupted: stopping Triton")


def serve_and_smoke(
    options: ServerOptions,
    models: Iterable[str] | None = None,
    *,
    protocols: Sequence[Transport] = PROTOCOLS,
    default_tolerance: Tolerance = DEFAULT_TOLERANCE,
    cpu_override: bool | None = None,
) -> SmokeReport:
    """Start Triton on ``options.repository``, smoke-test what it serves, and stop it.

    The pipeline's local check in one call: the same server ``serve`` starts (production
    flags, the CPU override where there is no GPU), every model loaded, then ``smoke``
    of every served version over ``protocols``; the server is stopped on every path.

    Raises:
        ServerError: a model is not in the repository, the server failed to start, or a
            model failed to load (Triton's reason is in the message).

    Example:
        >>> serve_and_smoke(ServerOptions(Path("model_repository"))).ok  # doctest: +SKIP
        True
    """
    if models is not None:
        models = sorted(set(models))
        _check_models_exist(options, models)
    with _stop_signals_as_interrupt(), TritonServer(options) as server:
        _raise_if_failed(_load(server, options, models, cpu_override))
        return smoke(
            Endpoints(server.http_url, server.grpc_url),
            Path(options.repository),
            models=models,
            protocols=protocols,
            default_tolerance=default_tolerance,
        )


def _load(
    server: TritonServer,
    options: ServerOptions,
    models: list[str] | None,
    cpu_override: bool | None,
) -> ServeReport:
    # --ready-timeout-s covers the start and every load: a model stuck LOADING (a stub
    # that never starts, say) must not hold the caller past it.
    states = load_models(
        server.http_url,
        Path(options.repository),
        models,
        cpu_override=cpu_override,
        timeout_s=max(1.0, options.ready_timeout_s - server.startup_s),
    )
    return _report(server, states)


def _report(running: RunningTriton, models: Iterable[ModelState]) -> ServeReport:
    return ServeReport(
        http_url=running.http_url,
        grpc_url=running.grpc_url,
        metrics_url=running.metrics_url,
        startup_s=running.startup_s,
        log_path=running.log_path,
        models=tuple(models),
    )


def _raise_if_failed(report: ServeReport) -> None:
    if report.failed:
        reasons = "; ".join(f"{m.name}: {m.reason or m.state}" for m in report.failed)
        raise ServerError(
            f"{len(report.failed)} model(s) failed to load: {reasons}. Run "
            "`orchestrator validate` on the repository to find the cause offline."
        )


def serve_in_container(
    options: ContainerOptions,
    *,
    on_ready: Callable[[ServeReport], None],
    client: Any | None = None,
) -> None:
    """Run production's image on ``options.repository`` with Docker until interrupted.

    The container runs production's flags (every model loads at start; one that fails
    stops Triton), so there is no model selection and no CPU override here.

    Args:
        options: the image, GPUs, ports and deadlines.
        on_ready: called once with the endpoints and model states.
        client: a Docker client (``docker.from_env()`` when None).

    Raises:
        ServerError: no Docker engine, no image, Docker refused the container, Triton
            exited or was not ready in time, or it exited while serving. The container
            is stopped and removed on every path, Ctrl-C and SIGTERM included.

    Example:
        >>> options = ContainerOptions(Path("model_repository"), gpus=1)
        >>> serve_in_container(options, on_ready=print)  # doctest: +SKIP
    """
    with _stop_signals_as_interrupt(), TritonContainer(options, client) as container:
        try:
            on_ready(_report(container, repository_index(container.http_url)))
            container.run_until_exit()
        except KeyboardInterrupt:
            logger.info("Interrupted: stopping container %s", container.name)


def _check_models_exist(options: ServerOptions, models: list[str]) -> None:
    if options.is_remote or not Path(options.repository).is_dir():
        return  # the server reports a missing remote model, and a missing folder
    available = model_names(Path(options.repository))
    missing = [name for name in models if name not in available]
    if missing:
        raise ServerError(
            f"Model(s) {', '.join(map(repr, missing))} not found in {options.repository} "
            f"(it has: {', '.join(available) or 'no models'}). Pass --model with one of those, "
            "or leave it out to load every model."
        )
