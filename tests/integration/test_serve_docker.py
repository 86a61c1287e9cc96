"""``serve_in_container`` against a real Triton: the stand-in engine runs the container's
own tritonserver arguments on the local Triton (see ``rehearsal.docker_stand_in``)."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

from orchestrator.errors import ServerError
from orchestrator.serving.container import ContainerOptions
from orchestrator.serving.serve import ServeReport, serve_in_container
from rehearsal.docker_stand_in import Script, StandInDockerClient
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx


@pytest.fixture(autouse=True)
def _logs_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The container's log is saved to the temporary directory on purpose (the messages
    # point at it); in tests that is tmp_path, never the machine's /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


pytestmark = pytest.mark.integration


def _options(repo: Path, tmp_path: Path, name: str) -> ContainerOptions:
    return ContainerOptions(repo, log_path=tmp_path / "container.log", name=name)


@pytest.fixture
def cpu_repo(tmp_path: Path, write_model) -> Path:
    folder = tmp_path / "cpu-repository"
    # The local Triton has no GPU: the production image would run KIND_GPU here.
    config = AFFINE_CONFIG.format(name="affine", max_batch_size=8, delay_us=500)
    write_model(folder, "affine", config.replace("KIND_GPU", "KIND_CPU"), make_affine_onnx)
    return folder


def _interrupt_by(how: str):
    def on_ready(report: ServeReport) -> None:
        if how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        raise KeyboardInterrupt

    return on_ready


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_serve_in_container_reports_ready_models_and_removes_the_container_on_interrupt(
    tritonserver, cpu_repo: Path, tmp_path: Path, how: str
) -> None:
    engine = StandInDockerClient(Script(run_triton=tritonserver, workdir=tmp_path / "work"))
    reports: list[ServeReport] = []

    def on_ready(report: ServeReport) -> None:
        reports.append(report)
        _interrupt_by(how)(report)

    serve_in_container(_options(cpu_repo, tmp_path, "served"), on_ready=on_ready, client=engine)
    (report,) = reports
    assert [(m.name, m.version, m.state) for m in report.models] == [("affine", "1", "READY")]
    (container,) = engine.containers_made
    ports = container.request["ports"]
    assert report.http_url == f"127.0.0.1:{ports['8000/tcp'][1]}"
    assert report.grpc_url == f"127.0.0.1:{ports['8001/tcp'][1]}"
    assert report.metrics_url == f"http://127.0.0.1:{ports['8002/tcp'][1]}/metrics"
    assert report.log_path == tmp_path / "container.log"
    assert engine.call_names() == ["images.get", "containers.create", "start", "stop", "remove"]
    assert container.server is not None and not container.server.is_running
    assert b"Started HTTPService at" in report.log_path.read_bytes()


def test_serve_in_container_reports_a_triton_that_dies_while_serving(
    tritonserver, cpu_repo: Path, tmp_path: Path
) -> None:
    engine = StandInDockerClient(Script(run_triton=tritonserver, workdir=tmp_path / "work"))

    def crash(report: ServeReport) -> None:
        (container,) = engine.containers_made
        assert container.server is not None and container.server.pid is not None
        os.kill(container.server.pid, signal.SIGKILL)

    with pytest.raises(ServerError) as caught:
        serve_in_container(_options(cpu_repo, tmp_path, "dies"), on_ready=crash, client=engine)
    assert str(caught.value).startswith(
        "Container dies exited with status 137 while serving. Last lines of its log ("
    )
    assert engine.call_names()[-2:] == ["stop", "remove"]
