"""The Docker engine: import the SDK, connect, and turn its errors into ``ServerError``.

The ``docker`` package (the ``docker`` extra) is imported here and only inside functions:
``import docker`` costs about 0.4 s that other commands should not pay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any, cast

from orchestrator.errors import ServerError

__all__ = ["connect", "docker_module", "translated"]

_DEFAULT_ENGINE = "unix:///var/run/docker.sock"
_EXTRA_HINT = "pip install 'triton-orchestrator[docker]'"


def docker_module() -> ModuleType:
    """The Docker SDK, or a ServerError that says how to install it.

    Example:
        >>> docker_module().__name__  # doctest: +SKIP
        'docker'
    """
    try:
        import docker
    except ImportError as exc:
        raise ServerError(
            "The Docker runtime needs the Docker SDK for Python, which is not installed "
            f"({exc}). Install it with: {_EXTRA_HINT}, or use --runtime local."
        ) from exc
    return cast(ModuleType, docker)


def _configured_engine() -> str:
    """Where ``docker.from_env()`` connects: DOCKER_HOST, the Docker context, the default."""
    docker = docker_module()
    with contextlib.suppress(docker.errors.DockerException, OSError, ValueError):
        params = docker.utils.kwargs_from_env() or docker.context.ContextAPI.kwargs_from_context()
        return str(params.get("base_url") or _DEFAULT_ENGINE)
    return _DEFAULT_ENGINE


def _engine_address(client: Any) -> str:
    api = getattr(client, "api", None)
    # A unix socket's APIClient says "http+docker://localhost"; its adapter knows the path.
    socket_path = getattr(getattr(api, "_custom_adapter", None), "socket_path", None)
    if socket_path:
        return f"unix://{socket_path}"
    return str(getattr(api, "base_url", None) or _configured_engine())


def connect() -> Any:
    """A Docker client configured like the ``docker`` CLI (DOCKER_HOST, context, socket).

    Raises:
        ServerError: the SDK is not installed, or no Docker engine answers.

    Example:
        >>> client = connect()  # doctest: +SKIP
    """
    docker = docker_module()
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise ServerError(
            f"No Docker engine answers at {_configured_engine()} ({exc}). Start Docker "
            "(or set DOCKER_HOST to where it listens), or use --runtime local."
        ) from exc


@contextlib.contextmanager
def translated(what: str, client: Any, *, hint: str = "") -> Iterator[None]:
    """Turn the Docker SDK's errors during ``what`` into one ServerError each.

    ``what`` completes "Docker could not ..." and ``hint`` is added to a refusal.

    Example:
        >>> with translated("find image 'x:1'", client):  # doctest: +SKIP
        ...     client.images.get("x:1")
    """
    errors = docker_module().errors
    try:
        yield
    except errors.ImageNotFound as exc:
        raise ServerError(
            f"Docker could not {what}: image not found ({exc.explanation or exc}). Build it "
            "with `orchestrator image build` (or pass the image you built with --image)."
        ) from exc
    except errors.APIError as exc:
        raise ServerError(
            f"Docker refused to {what}: {exc.explanation or exc}.{hint}".rstrip()
        ) from exc
    except errors.DockerException as exc:
        raise ServerError(f"Docker could not {what}: {exc}.{hint}".rstrip()) from exc
    except OSError as exc:  # the SDK's requests.ConnectionError is an OSError
        raise ServerError(
            f"No Docker engine answers at {_engine_address(client)} (while trying to {what}: "
            f"{exc}). Start Docker, or use --runtime local."
        ) from exc
