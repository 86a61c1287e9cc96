"""Production's image in Docker: the request sent to the engine, every failure path, cleanup.

No Docker engine runs here: the docker client object is the recording stand-in of
``rehearsal.docker_stand_in`` (the one fake of Docker), or the real SDK pointed at a socket
where no engine listens.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

import docker
import pytest
from docker.errors import APIError, BuildError
from docker.types import DeviceRequest, Mount, Ulimit

from orchestrator.errors import ServerError
from orchestrator.serving.container import (
    ContainerOptions,
    TritonContainer,
    build_image,
    connect,
    release_build_args,
)
from orchestrator.serving.triton.flags import production_args
from rehearsal.docker_stand_in import Script, StandInDockerClient


@pytest.fixture(autouse=True)
def _logs_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The container's log is saved to the temporary directory on purpose (the messages
    # point at it); in tests that is tmp_path, never the machine's /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


IMAGE = "triton-orchestrator/triton:24.10"


def _options(repo: Path, tmp_path: Path, **kwargs) -> ContainerOptions:
    return ContainerOptions(repo, log_path=tmp_path / "container.log", **kwargs)


def _start(options: ContainerOptions, engine: StandInDockerClient) -> TritonContainer:
    return TritonContainer(options, engine).start()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repository"
    folder.mkdir()
    return folder


def test_the_request_is_production_args_with_the_repository_mounted_read_only(
    repo: Path, tmp_path: Path
) -> None:
    engine = StandInDockerClient(Script(exit_code=1, log=b"E model failed\n"))
    options = _options(repo, tmp_path, http_port=None, name="triton-under-test")
    with pytest.raises(ServerError):
        _start(options, engine)
    (request,) = [kwargs for name, kwargs in engine.calls if name == "containers.create"]
    ports = request.pop("ports")
    assert request == {
        "image": IMAGE,
        "entrypoint": ["tritonserver"],
        "command": production_args("/models"),
        "name": "triton-under-test",
        "user": "1000:1000",
        "environment": {"MODEL_REPOSITORY": "/models"},
        "mounts": [Mount(target="/models", source=str(repo), type="bind", read_only=True)],
        "device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])],
        "shm_size": "1g",
        "read_only": True,
        "tmpfs": {"/tmp": "rw,size=1g"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ulimits": [
            Ulimit(name="memlock", soft=-1, hard=-1),
            Ulimit(name="stack", soft=67108864, hard=67108864),
        ],
        "labels": {"triton-orchestrator/repository": str(repo)},
        "auto_remove": False,
        "detach": True,
    }
    assert sorted(ports) == ["8000/tcp", "8001/tcp", "8002/tcp"]
    assert {address for address, _ in ports.values()} == {"127.0.0.1"}
    assert len({port for _, port in ports.values()}) == 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_requested_host_ports_are_published(repo: Path, tmp_path: Path) -> None:
    http, grpc, metrics = (_free_port() for _ in range(3))
    engine = StandInDockerClient(Script(exit_code=1))
    options = _options(
        repo, tmp_path, http_port=http, grpc_port=grpc, metrics_port=metrics, address="0.0.0.0"
    )
    with pytest.raises(ServerError):
        _start(options, engine)
    (request,) = [kwargs for name, kwargs in engine.calls if name == "containers.create"]
    assert request["ports"] == {
        "8000/tcp": ("0.0.0.0", http),
        "8001/tcp": ("0.0.0.0", grpc),
        "8002/tcp": ("0.0.0.0", metrics),
    }


@pytest.mark.parametrize(
    ("gpus", "expected"),
    [
        (-1, [DeviceRequest(count=-1, capabilities=[["gpu"]])]),
        (2, [DeviceRequest(count=2, capabilities=[["gpu"]])]),
        (0, []),
    ],
    ids=["all", "two", "none"],
)
def test_gpus_become_the_device_request(
    repo: Path, tmp_path: Path, gpus: int, expected: list[DeviceRequest]
) -> None:
    engine = StandInDockerClient(Script(exit_code=1))
    with pytest.raises(ServerError):
        _start(_options(repo, tmp_path, gpus=gpus), engine)
    (request,) = [kwargs for name, kwargs in engine.calls if name == "containers.create"]
    assert request["device_requests"] == expected


def test_a_container_that_exits_before_ready_is_removed_and_its_log_tail_reported(
    repo: Path, tmp_path: Path
) -> None:
    log = b"".join(f"I line {n}\n".encode() for n in range(50)) + b"E0101 model 'm' failed\n"
    engine = StandInDockerClient(Script(exit_code=1, log=log))
    options = _options(repo, tmp_path, name="early-exit")
    with pytest.raises(ServerError) as caught:
        _start(options, engine)
    message = str(caught.value)
    assert "Container early-exit (triton-orchestrator/triton:24.10) exited with status 1" in message
    assert message.endswith("I line 49\nE0101 model 'm' failed")
    assert "I line 20\n" not in message  # only the tail
    assert engine.call_names() == [
        "images.get",
        "containers.create",
        "start",
        "stop",
        "remove",
    ]
    assert ("remove", {"force": True}) in engine.calls
    assert ("stop", {"timeout": 40}) in engine.calls
    assert (tmp_path / "container.log").read_bytes() == log


def test_a_container_not_ready_in_time_is_removed(repo: Path, tmp_path: Path) -> None:
    engine = StandInDockerClient(Script(log=b"I loading\n"))  # runs, but nothing answers
    options = _options(repo, tmp_path, name="slow", ready_timeout_s=0.5)
    with pytest.raises(ServerError) as caught:
        _start(options, engine)
    assert "Triton in container slow was not ready on 127.0.0.1:" in str(caught.value)
    assert "within 0.5 s (waiting for /v2/health/ready). Try a longer --ready-timeout-s." in str(
        caught.value
    )
    assert str(caught.value).endswith("I loading")
    assert engine.call_names()[-2:] == ["stop", "remove"]


def test_a_missing_image_says_to_build_it_and_creates_nothing(repo: Path, tmp_path: Path) -> None:
    engine = StandInDockerClient(Script(images=()))
    with pytest.raises(ServerError) as caught:
        _start(_options(repo, tmp_path, image="mine:1"), engine)
    assert str(caught.value) == (
        "Image 'mine:1' is not in the Docker engine (No such image: mine:1). Build it with "
        "`orchestrator image build --tag mine:1`, or pass the image you built with --image."
    )
    assert engine.call_names() == ["images.get"]


def test_a_refused_gpu_request_names_the_toolkit_and_gpus_0_and_removes_the_container(
    repo: Path, tmp_path: Path
) -> None:
    refusal = APIError(
        "500 Server Error",
        explanation='could not select device driver "" with capabilities: [[gpu]]',
    )
    engine = StandInDockerClient(Script(start_error=refusal))
    with pytest.raises(ServerError) as caught:
        _start(_options(repo, tmp_path, name="gpu"), engine)
    assert str(caught.value) == (
        'Docker refused to start container gpu: could not select device driver "" with '
        "capabilities: [[gpu]]. If that is about the GPU request: install the NVIDIA "
        "Container Toolkit and restart Docker, or pass --gpus 0 (KIND_GPU models then fail "
        "to load)."
    )
    assert engine.call_names()[-2:] == ["stop", "remove"]


def test_a_refused_create_leaves_nothing_to_remove(repo: Path, tmp_path: Path) -> None:
    conflict = APIError("409 Client Error", explanation='Conflict. The name "/x" is already in use')
    engine = StandInDockerClient(Script(create_error=conflict))
    with pytest.raises(ServerError) as caught:
        _start(_options(repo, tmp_path, name="x"), engine)
    assert str(caught.value) == (
        f'Docker refused to create container x from {IMAGE}: Conflict. The name "/x" is '
        "already in use."
    )
    assert engine.call_names() == ["images.get", "containers.create"]


def test_an_engine_lost_while_stopping_still_removes_and_reports_the_first_error(
    repo: Path, tmp_path: Path
) -> None:
    lost = ConnectionError("engine went away")
    engine = StandInDockerClient(Script(exit_code=3, log=b"E bad\n", stop_error=lost))
    with pytest.raises(ServerError, match="exited with status 3 before Triton was ready"):
        _start(_options(repo, tmp_path), engine)
    assert engine.call_names()[-2:] == ["stop", "remove"]


def test_a_port_in_use_is_refused_before_anything_is_created(repo: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = StandInDockerClient()
        with pytest.raises(ServerError, match=f"Port {port} on 127.0.0.1 is already in use"):
            _start(_options(repo, tmp_path, grpc_port=port), engine)
    assert engine.calls == []


def test_the_real_sdk_with_no_engine_gives_the_clear_error(
    repo: Path, tmp_path: Path, no_docker_engine: str
) -> None:
    client = docker.DockerClient(base_url=no_docker_engine, version="1.45")
    with pytest.raises(ServerError) as caught:
        _start(_options(repo, tmp_path), client)
    assert str(caught.value).startswith(
        f"No Docker engine answers at {no_docker_engine} (while trying to find image "
        "'triton-orchestrator/triton:24.10': "
    )
    assert str(caught.value).endswith("Start Docker, or use --runtime local.")


def test_connect_with_docker_host_at_a_closed_socket_names_it(no_docker_engine: str) -> None:
    with pytest.raises(ServerError) as caught:
        connect()
    assert str(caught.value).startswith(f"No Docker engine answers at {no_docker_engine} (")
    assert str(caught.value).endswith("or use --runtime local.")


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(ServerError, match=r"pip install 'triton-orchestrator\[docker\]'"):
        connect()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("http_port", 0, "http-port 0 is not a TCP port"),
        ("gpus", -2, "gpus -2 is not a GPU count"),
        ("ready_timeout_s", 0.0, "must be positive"),
        ("repository", "s3://bucket/release", "mounts a local folder, not s3://bucket/release"),
    ],
)
def test_options_refuse_bad_values(repo: Path, field: str, value: object, message: str) -> None:
    with pytest.raises(ServerError, match=message):
        ContainerOptions(**{"repository": repo, field: value})  # type: ignore[arg-type]


# --- image build --------------------------------------------------------------------------


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile.triton").write_text("FROM nvcr.io/nvidia/tritonserver:24.10-py3\n")
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    return tmp_path


def test_build_sends_the_dockerfile_tag_and_release_argument(context: Path) -> None:
    engine = StandInDockerClient()
    args = release_build_args(context, context / "releases" / "r1")
    built = build_image(context, tag="t:1", build_args=args, client=engine)
    assert engine.calls == [
        (
            "images.build",
            {
                "path": str(context),
                "dockerfile": "Dockerfile.triton",
                "tag": "t:1",
                "buildargs": {"RELEASE": "releases/r1"},
                "rm": True,
            },
        )
    ]
    assert built.as_dict() == {
        "id": "sha256:0123abcd",
        "tags": ["t:1"],
        "dockerfile": "Dockerfile.triton",
        "build_args": {"RELEASE": "releases/r1"},
    }


def test_a_failed_build_reports_the_last_lines_of_its_output(context: Path) -> None:
    log = [{"stream": "Step 1/9 : FROM x\n"}, {"error": "COPY failed: no such file\n"}]
    engine = StandInDockerClient(Script(build_error=BuildError("COPY failed", log)))
    with pytest.raises(ServerError) as caught:
        build_image(context, tag="t:1", client=engine)
    assert str(caught.value) == (
        "Building t:1 from Dockerfile.triton failed: COPY failed. Last lines of the build:\n"
        "Step 1/9 : FROM x\nCOPY failed: no such file"
    )


def test_build_without_a_dockerfile_calls_no_engine(tmp_path: Path) -> None:
    engine = StandInDockerClient()
    with pytest.raises(ServerError, match="No Dockerfile at .*Dockerfile.triton"):
        build_image(tmp_path, client=engine)
    assert engine.calls == []


def test_a_release_outside_the_context_is_refused(context: Path, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    with pytest.raises(ServerError, match="is outside the build context"):
        release_build_args(context, outside)
    with pytest.raises(ServerError, match="does not exist"):
        release_build_args(context, context / "releases" / "missing")
