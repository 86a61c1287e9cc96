"""``serve --runtime docker`` and ``image build`` as a user runs them, with no Docker engine.

The engine is either absent (DOCKER_HOST at a socket nobody listens on: the real SDK's
error path) or the recording stand-in of ``rehearsal.docker_stand_in``, put where the CLI
gets its client (``docker.from_env``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import docker
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from rehearsal.docker_stand_in import Script, StandInDockerClient


@pytest.fixture(autouse=True)
def _logs_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The container's log is saved to the temporary directory on purpose (the messages
    # point at it); in tests that is tmp_path, never the machine's /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile.triton").write_text("FROM nvcr.io/nvidia/tritonserver:24.10-py3\n")
    (tmp_path / "releases" / "r1").mkdir(parents=True)
    return tmp_path


def _no_traceback(result) -> None:
    assert isinstance(result.exception, SystemExit), result.exception


def test_serve_in_docker_with_no_engine_is_one_clear_error(
    tmp_path: Path, no_docker_engine: str
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--repo", str(tmp_path), "--runtime", "docker"])
    assert result.exit_code == 1
    _no_traceback(result)
    assert result.stderr.startswith(f"Error: No Docker engine answers at {no_docker_engine} (")
    assert result.stderr.endswith(
        "Start Docker (or set DOCKER_HOST to where it listens), or use --runtime local.\n"
    )


def test_image_build_with_no_engine_is_one_clear_error(
    context: Path, no_docker_engine: str
) -> None:
    result = CliRunner().invoke(cli, ["image", "build", "--context", str(context)])
    assert result.exit_code == 1
    _no_traceback(result)
    assert f"Error: No Docker engine answers at {no_docker_engine} (" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "affine"],
            "Error: --model does not apply to --runtime docker: the image runs production's "
            "tritonserver, which loads every model of the repository.\n",
        ),
        (
            ["--tritonserver", "/bin/true"],
            "Error: --tritonserver does not apply to --runtime docker",
        ),
        (
            ["--gpus", "many"],
            "Error: Invalid value for '--gpus': 'many' is not 'all' or a GPU count (0 for none).",
        ),
    ],
    ids=["model", "tritonserver", "gpus"],
)
def test_serve_in_docker_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--repo", str(tmp_path), "--runtime", "docker", *args]
    )
    assert result.exit_code == 2
    assert message in result.stderr


def test_serve_in_docker_reports_the_log_tail_when_triton_exits_and_removes_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = StandInDockerClient(Script(exit_code=1, log=b"E1202 failed to load 'affine'\n"))
    monkeypatch.setattr(docker, "from_env", lambda: engine)
    result = CliRunner().invoke(
        cli, ["serve", "--repo", str(tmp_path), "--runtime", "docker", "--gpus", "0"]
    )
    assert result.exit_code == 1
    _no_traceback(result)
    assert "exited with status 1 before Triton was ready" in result.stderr
    assert result.stderr.endswith("E1202 failed to load 'affine'\n")
    (request,) = [kwargs for name, kwargs in engine.calls if name == "containers.create"]
    assert request["device_requests"] == []
    assert engine.call_names()[-2:] == ["stop", "remove"]


def test_image_build_prints_json_and_passes_the_release_as_the_build_argument(
    context: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = StandInDockerClient()
    monkeypatch.setattr(docker, "from_env", lambda: engine)
    result = CliRunner().invoke(
        cli,
        [
            "image",
            "build",
            "--context",
            str(context),
            "--release-dir",
            str(context / "releases" / "r1"),
            "--tag",
            "t:baked",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "id": "sha256:0123abcd",
        "tags": ["t:baked"],
        "dockerfile": "Dockerfile.triton",
        "build_args": {"RELEASE": "releases/r1"},
    }
    assert engine.calls[0][1]["buildargs"] == {"RELEASE": "releases/r1"}


def test_image_build_refuses_a_release_outside_the_context(
    context: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    result = CliRunner().invoke(
        cli, ["image", "build", "--context", str(context), "--release-dir", str(outside)]
    )
    assert result.exit_code == 1
    _no_traceback(result)
    assert result.stderr == (
        f"Error: Release folder {outside} is outside the build context {context.resolve()}: "
        "Docker copies only from the context. Put the release under releases/ there (the "
        "folder .dockerignore lets in).\n"
    )
