"""A recording stand-in for the Docker SDK's client object: the one fake of Docker here.

No Docker engine can run on these machines (as no Kubernetes API server can: kubectl is
faked behind one injected runner for the same reason). So the docker client object, and
only it, is replaced, at the parameter ``client`` that ``orchestrator.serving.container``
takes (or at ``docker.from_env`` for the CLI). Everything else is real: the request is
built with the real SDK's types, errors are the real ``docker.errors`` classes, the
readiness wait and the ready report talk to a real Triton over HTTP, and a container
asked to run Triton runs the real local ``tritonserver`` with the container's own
arguments (the repository mount and the published ports mapped to this machine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import ImageNotFound

from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer
from orchestrator.serving.triton.flags import PRODUCTION_PORTS


@dataclass
class Script:
    """What the stand-in engine does: its images and how its container behaves."""

    images: tuple[str, ...] = ("triton-orchestrator/triton:24.10",)
    start_error: Exception | None = None
    create_error: Exception | None = None
    build_error: Exception | None = None
    stop_error: Exception | None = None
    exit_code: int | None = None  # exits at once with this status when set
    log: bytes = b""
    run_triton: TritonInstall | None = None  # run the container's command on a real Triton
    workdir: Path | None = None


class StandInContainer:
    """A container as the SDK's ``Container``: start, reload, status, logs, stop, remove."""

    def __init__(self, engine: StandInDockerClient, request: dict[str, Any]) -> None:
        self.engine = engine
        self.request = request
        self.status = "created"
        self.attrs: dict[str, Any] = {"State": {"ExitCode": 0}}
        self.server: TritonServer | None = None

    def start(self) -> None:
        self.engine.calls.append(("start", {}))
        script = self.engine.script
        if script.start_error is not None:
            raise script.start_error
        if script.exit_code is not None:
            self.status, self.attrs["State"]["ExitCode"] = "exited", script.exit_code
            return
        self.status = "running"
        if script.run_triton is not None:
            self.server = _run_command(self.request, script.run_triton, script.workdir)

    def reload(self) -> None:
        self.engine.calls.append(("reload", {}))
        process = self.server._process if self.server is not None else None
        if process is not None and process.poll() is not None and self.status == "running":
            # Docker reports a signal's death as 128 + the signal, as a shell does.
            code = process.returncode
            self.status, self.attrs["State"]["ExitCode"] = (
                "exited",
                code if code >= 0 else 128 - code,
            )

    def logs(self, **kwargs: Any) -> bytes:
        self.engine.calls.append(("logs", kwargs))
        if self.server is not None:
            return self.server.log_path.read_bytes()
        return self.engine.script.log

    def stop(self, **kwargs: Any) -> None:
        self.engine.calls.append(("stop", kwargs))
        if self.engine.script.stop_error is not None:
            raise self.engine.script.stop_error
        if self.server is not None:
            self.server.stop()
        self.status = "exited"

    def remove(self, **kwargs: Any) -> None:
        self.engine.calls.append(("remove", kwargs))
        self.status = "removed"


@dataclass
class _Images:
    engine: StandInDockerClient

    def get(self, name: str) -> object:
        self.engine.calls.append(("images.get", {"name": name}))
        if name not in self.engine.script.images:
            raise ImageNotFound(f"No such image: {name}", explanation=f"No such image: {name}")
        return object()

    def build(self, **kwargs: Any) -> tuple[Any, list[dict[str, str]]]:
        self.engine.calls.append(("images.build", kwargs))
        if self.engine.script.build_error is not None:
            raise self.engine.script.build_error
        image = type("Image", (), {"id": "sha256:0123abcd", "tags": [kwargs["tag"]]})()
        return image, [{"stream": "Successfully built 0123abcd\n"}]


@dataclass
class _Containers:
    engine: StandInDockerClient

    def create(self, **kwargs: Any) -> StandInContainer:
        self.engine.calls.append(("containers.create", kwargs))
        if self.engine.script.create_error is not None:
            raise self.engine.script.create_error
        container = StandInContainer(self.engine, kwargs)
        self.engine.containers_made.append(container)
        return container


@dataclass
class _Api:
    base_url: str = "unix:///stand-in/docker.sock"


@dataclass
class StandInDockerClient:
    """Records every call (name, keyword arguments) in ``calls``, in order."""

    script: Script = field(default_factory=Script)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    containers_made: list[StandInContainer] = field(default_factory=list)
    api: _Api = field(default_factory=_Api)

    def __post_init__(self) -> None:
        self.images = _Images(self)
        self.containers = _Containers(self)

    def call_names(self) -> list[str]:
        return [name for name, _ in self.calls if name not in ("reload", "logs")]


def _run_command(
    request: dict[str, Any], install: TritonInstall, workdir: Path | None
) -> TritonServer:
    """Run the container's tritonserver arguments on this machine's Triton.

    The container's view is mapped to this machine's, and nothing else changes: the
    mount target in ``--model-repository`` becomes the mount's source, and each
    container port becomes the host port it is published on.
    """
    assert request["entrypoint"] == ["tritonserver"]
    (mount,) = request["mounts"]
    host_ports = {
        kind: request["ports"][f"{port}/tcp"][1] for kind, port in PRODUCTION_PORTS.items()
    }
    container_flags = {f"--{kind}-port={port}" for kind, port in PRODUCTION_PORTS.items()}
    args = request["command"]
    assert args[0] == f"--model-repository={mount['Target']}"
    rest = tuple(a for a in args[1:] if a not in container_flags)
    server = TritonServer(
        ServerOptions(
            Path(mount["Source"]),
            http_port=host_ports["http"],
            grpc_port=host_ports["grpc"],
            metrics_port=host_ports["metrics"],
            model_control_mode="none",
            strict_model_config=False,  # production's args carry the flag
            stop_timeout_s=31.0,  # so the local default exit timeout equals production's 30
            workdir=workdir,
            extra_args=rest,
        ),
        install,
    )
    return server.start()
