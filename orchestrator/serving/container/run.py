"""Run production's Triton image in Docker until it is stopped; remove it on every path.

The container runs what the Kubernetes manifests run:

- the image built from ``Dockerfile.triton``;
- production's tritonserver flags (``triton.flags``);
- the repository mounted read-only at ``/models``;
- the GPUs requested, the image's non-root user;
- a ``/dev/shm`` larger than Docker's 64 MB.

The Docker client is a parameter (``docker.from_env()`` when None), so tests record the
request without an engine. Addresses, start, ready and stop are ``RunningTriton``'s.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ServerError
from orchestrator.serving.container.engine import connect, docker_module, translated
from orchestrator.serving.container.image import DEFAULT_IMAGE
from orchestrator.serving.triton.flags import PRODUCTION_PORTS, production_args
from orchestrator.serving.triton.running import RunningTriton
from orchestrator.serving.triton.server import require_repository_folder

__all__ = [
    "ALL_GPUS",
    "CONTAINER_REPOSITORY",
    "CONTAINER_USER",
    "DEFAULT_SHM_SIZE",
    "DEFAULT_STOP_TIMEOUT_S",
    "ContainerOptions",
    "TritonContainer",
]

logger = logging.getLogger(__name__)

CONTAINER_REPOSITORY = "/models"
# The image's non-root user (tritonserver images call uid 1000 "triton-server"), as the
# manifests' runAsUser.
CONTAINER_USER = "1000:1000"
ALL_GPUS = -1
# Docker's 64 MB /dev/shm is too small for Triton's shared-memory tensors (server#4869).
DEFAULT_SHM_SIZE = "1g"
# Production's --exit-timeout-secs=30 plus room to exit, as the manifests' grace period.
DEFAULT_STOP_TIMEOUT_S = 40.0


@dataclass(frozen=True)
class ContainerOptions:
    """How to run production's Triton image on this machine.

    Attributes:
        repository: the local model repository, mounted read-only at ``/models``.
        image: the image built from Dockerfile.triton.
        gpus: how many GPUs to request: ``ALL_GPUS`` (-1), a count, or 0 for none.
        http_port, grpc_port, metrics_port: host ports for 8000/8001/8002 (free ones if None).
        address: the host interface the ports are published on.
        ready_timeout_s: how long to wait for ``/v2/health/ready``.
        stop_timeout_s: SIGTERM, then SIGKILL after this long.
        shm_size: the container's /dev/shm.
        name: the container's name (``orchestrator-triton-<random>`` if None).
        log_path: where the container's log is saved (in the temporary folder if None).
    """

    repository: Path
    image: str = DEFAULT_IMAGE
    gpus: int = ALL_GPUS
    http_port: int | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    address: str = "127.0.0.1"
    ready_timeout_s: float = 120.0
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    shm_size: str = DEFAULT_SHM_SIZE
    name: str | None = None
    log_path: Path | None = None

    def __post_init__(self) -> None:
        for name in ("http_port", "grpc_port", "metrics_port"):
            port = getattr(self, name)
            if port is not None and not 1 <= port <= 65535:
                raise ServerError(f"{name.replace('_', '-')} {port} is not a TCP port (1-65535).")
        if self.gpus < ALL_GPUS:
            raise ServerError(f"gpus {self.gpus} is not a GPU count: pass 'all', 0 or more.")
        if self.ready_timeout_s <= 0 or self.stop_timeout_s <= 0:
            raise ServerError("ready_timeout_s and stop_timeout_s must be positive.")
        if "://" in str(self.repository):
            raise ServerError(
                f"The Docker runtime mounts a local folder, not {self.repository}. Sync the "
                "release to a folder first, or serve the URL with --runtime local."
            )


class TritonContainer(RunningTriton):
    """Production's image running in Docker; stopped and removed on exit. A context manager.

    Example:
        >>> options = ContainerOptions(Path("model_repository"))
        >>> with TritonContainer(options) as box:  # doctest: +SKIP
        ...     print(box.http_url)
        127.0.0.1:40123
    """

    ready_poll_s = 0.2
    serving_poll_s = 0.5  # each check asks the engine

    def __init__(self, options: ContainerOptions, client: Any | None = None) -> None:
        super().__init__(options)
        self.options = options
        self._client: Any = client  # connected in start() when None
        self._container: Any | None = None
        self.name = options.name or f"orchestrator-triton-{secrets.token_hex(4)}"
        self._log_path = options.log_path or Path(tempfile.gettempdir(), f"{self.name}.log")

    @property
    def log_path(self) -> Path:
        """Where the container's log is saved (at ready, on failure, at stop)."""
        return self._log_path

    def request(self) -> dict[str, Any]:
        """The keyword arguments given to ``containers.create`` (ports must be claimed)."""
        types = docker_module().types
        options = self.options
        gpus = (
            []
            if options.gpus == 0
            else [types.DeviceRequest(count=options.gpus, capabilities=[["gpu"]])]
        )
        return {
            "image": options.image,
            # As the manifests: the binary, then production's arguments.
            "entrypoint": ["tritonserver"],
            "command": production_args(CONTAINER_REPOSITORY),
            "name": self.name,
            "user": CONTAINER_USER,
            "environment": {"MODEL_REPOSITORY": CONTAINER_REPOSITORY},
            "mounts": [
                types.Mount(
                    target=CONTAINER_REPOSITORY,
                    source=str(Path(options.repository).resolve()),
                    type="bind",
                    read_only=True,
                )
            ],
            "ports": {
                f"{PRODUCTION_PORTS[kind]}/tcp": (options.address, port)
                for kind, port in self.ports.items()
            },
            "device_requests": gpus,
            "shm_size": options.shm_size,
            # The pods' restricted profile: read-only root, no capabilities, no setuid.
            "read_only": True,
            "tmpfs": {"/tmp": "rw,size=1g"},
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "ulimits": [
                types.Ulimit(name="memlock", soft=-1, hard=-1),
                types.Ulimit(name="stack", soft=64 * 1024 * 1024, hard=64 * 1024 * 1024),
            ],
            "labels": {"triton-orchestrator/repository": str(Path(options.repository).resolve())},
            # Removed by stop() after its log is saved: with auto_remove Docker would
            # delete the log of a container that exits before it is ready.
            "auto_remove": False,
            "detach": True,
        }

    def _prepare(self) -> None:
        require_repository_folder(Path(self.options.repository))
        if self._client is None:
            self._client = connect()

    def _check_image(self) -> None:
        image = self.options.image
        errors = docker_module().errors
        with translated(f"find image {image!r}", self._client):
            try:
                self._client.images.get(image)
            except errors.ImageNotFound as exc:
                flag = "" if image == DEFAULT_IMAGE else f" --tag {image}"
                raise ServerError(
                    f"Image {image!r} is not in the Docker engine ({exc.explanation}). Build "
                    f"it with `orchestrator image build{flag}`, or pass the image you built "
                    "with --image."
                ) from exc

    def _launch(self) -> None:
        assert self._client is not None
        self._check_image()
        request = self.request()
        with translated(f"create container {self.name} from {self.options.image}", self._client):
            self._container = self._client.containers.create(**request)
        gpu_hint = (
            ""
            if self.options.gpus == 0
            else " If that is about the GPU request: install the NVIDIA Container Toolkit and "
            "restart Docker, or pass --gpus 0 (KIND_GPU models then fail to load)."
        )
        logger.info("Starting container %s: %s", self.name, " ".join(request["command"]))
        with translated(f"start container {self.name}", self._client, hint=gpu_hint):
            self._container.start()

    @property
    def is_running(self) -> bool:
        """Whether the container still runs (False once it exited or was removed)."""
        if self._container is None:
            return False
        with translated(f"inspect container {self.name}", self._client):
            self._container.reload()
        return str(self._container.status) in ("created", "running", "restarting")

    @property
    def exit_code(self) -> int | None:
        """The container's exit status once it has exited."""
        if self._container is None:
            return None
        code = self._container.attrs.get("State", {}).get("ExitCode")
        return int(code) if code is not None else None

    def _refresh_log(self) -> None:
        if self._container is not None:
            _save_log(self._container, self.log_path)

    def stop(self) -> None:
        """SIGTERM, SIGKILL after ``stop_timeout_s``, save the log, remove the container.

        Never raises for Docker's errors: it runs on every failure path, where the first
        error is the one to report. A second Ctrl-C while Triton drains still removes
        the container (by force).
        """
        container, self._container = self._container, None
        if container is None:
            return
        errors = docker_module().errors
        try:
            with contextlib.suppress(errors.DockerException, OSError):
                container.stop(timeout=int(self.options.stop_timeout_s))
            _save_log(container, self.log_path)
        finally:
            try:
                container.remove(force=True)
                logger.info("Container %s stopped and removed", self.name)
            except (errors.DockerException, OSError) as exc:
                logger.warning(
                    "Could not remove container %s (%s): remove it with `docker rm -f %s`",
                    self.name,
                    exc,
                    self.name,
                )

    def _exited(self, *, serving: bool) -> str:
        if serving:
            return f"Container {self.name} exited with status {self.exit_code} while serving"
        return (
            f"Container {self.name} ({self.options.image}) exited with status "
            f"{self.exit_code} before Triton was ready"
        )

    def _not_ready(self) -> str:
        return (
            f"Triton in container {self.name} was not ready on {self.http_url} within "
            f"{self.options.ready_timeout_s:g} s"
        )


def _save_log(container: Any, path: Path) -> None:
    errors = docker_module().errors
    try:
        path.write_bytes(container.logs(stdout=True, stderr=True))
    except (errors.DockerException, OSError) as exc:
        logger.warning("Could not save the container's log to %s: %s", path, exc)
