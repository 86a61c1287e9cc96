"""serve on any path, within its deadline, and without leftovers, against the real Triton."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from orchestrator import client
from orchestrator.errors import ServerError
from orchestrator.serving.serve import serve
from orchestrator.serving.triton import (
    ServerOptions,
    TritonInstall,
    TritonServer,
    free_port,
    load_models,
)
from orchestrator.serving.triton.paths import SCRATCH_PREFIX
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration

CONFIG = AFFINE_CONFIG.format(name="affine", max_batch_size=8, delay_us=100)
STUCK_CONFIG = """name: "stuck"
backend: "python"
max_batch_size: 0
input [{ name: "x", data_type: TYPE_FP32, dims: [1] }]
output [{ name: "y", data_type: TYPE_FP32, dims: [1] }]
instance_group [{ kind: KIND_CPU }]
"""
STUCK_MODEL = """import time

class TritonPythonModel:
    def initialize(self, args):
        time.sleep(600)
"""


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(SCRATCH_PREFIX))


def _wait_for_sigterm(tmp: Path, serve: subprocess.Popen[str], timeout_s: float = 30) -> None:
    """Until the Triton that ``serve`` started under ``tmp`` logs that SIGTERM reached it
    (or serve has already ended)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and serve.poll() is None:
        for log in tmp.glob(f"{SCRATCH_PREFIX}*/tritonserver.log"):
            with contextlib.suppress(OSError):  # removed as serve finishes
                if "Signal (15) received" in log.read_text(errors="replace"):
                    return
        time.sleep(0.01)
    if serve.poll() is None:
        pytest.fail(f"Triton never logged SIGTERM within {timeout_s} s of the first Ctrl-C")


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("repo_name", "tmp_name"),
    [("my models", "tmp"), ("repo", "my tmp"), ("mod\u00e8les", "tmp"), ("repo", "t\u00ebmp")],
    ids=["space-in-repository", "space-in-tmpdir", "non-ascii-repository", "non-ascii-tmpdir"],
)
def test_serve_loads_and_answers_whatever_the_paths_hold(
    tmp_path: Path,
    write_model,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    repo_name: str,
    tmp_name: str,
) -> None:
    tmp = tmp_path / tmp_name
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    repo = tmp_path / repo_name
    write_model(repo, "affine", CONFIG, make_affine_onnx)
    caplog.set_level(logging.INFO, logger="orchestrator.serving.triton.paths")
    with TritonServer(ServerOptions(repo, ready_timeout_s=60)) as server:
        states = load_models(server.http_url, repo, ["affine"], cpu_override=True)
        assert [(s.name, s.state) for s in states] == [("affine", "READY")], states
        x = np.ones((2, 4), dtype=np.float32)
        np.testing.assert_array_equal(client.infer(server.http_url, "affine", {"x": x})["y"], x * 3)
    assert _leftovers(tmp) == []
    for record in caplog.records:  # a scratch folder outside TMPDIR is gone too
        link = Path(str(record.args[1]))  # type: ignore[index]
        assert not link.parent.exists()


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.timeout(120)
def test_a_model_stuck_loading_does_not_hold_serve_past_the_ready_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    repo = tmp_path / "repo"
    (repo / "stuck" / "1").mkdir(parents=True)
    (repo / "stuck" / "config.pbtxt").write_text(STUCK_CONFIG)
    (repo / "stuck" / "1" / "model.py").write_text(STUCK_MODEL)
    seen: list[str] = []
    started = time.monotonic()
    options = ServerOptions(repo, ready_timeout_s=6, stop_timeout_s=5)
    with pytest.raises(ServerError, match="stuck: Triton at .* was still loading model 'stuck'"):
        serve(options, on_ready=lambda report: seen.extend(m.state for m in report.models))
    elapsed = time.monotonic() - started
    assert seen == ["LOADING"]
    assert elapsed < 6 + 5 + 10, elapsed  # the deadline, the stop, and slack for 2 cores
    assert _leftovers(tmp_path) == []


def _fake_install(tmp_path: Path, real: TritonInstall, script: str, backends: bool) -> Path:
    binary = tmp_path / "fake" / "bin" / "tritonserver"
    binary.parent.mkdir(parents=True)
    binary.write_text(script)
    binary.chmod(0o755)
    if backends:
        (tmp_path / "fake" / "backends").symlink_to(real.backends_dir)
        (tmp_path / "fake" / "python_backend_stubs").symlink_to(real.root / "python_backend_stubs")
    return binary


@pytest.mark.parametrize(
    ("script", "backends", "expected"),
    [
        ("#!/bin/sh\necho 'cannot open libfoo.so'\nexit 3\n", True, "exited with status 3"),
        ("#!/bin/sh\necho 'loading forever'\nexec sleep 300\n", True, "not ready within 2 s"),
        ("#!/bin/sh\nexit 0\n", False, "has no python backend"),
    ],
    ids=["exits-at-once", "never-ready", "no-python-backend"],
)
def test_a_failed_start_leaves_no_temporary_folder(
    tmp_path: Path,
    tritonserver: TritonInstall,
    monkeypatch: pytest.MonkeyPatch,
    script: str,
    backends: bool,
    expected: str,
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    binary = _fake_install(tmp_path, tritonserver, script, backends)
    options = ServerOptions(tmp_path, tritonserver=binary, ready_timeout_s=2, stop_timeout_s=2)
    with pytest.raises(ServerError, match=expected) as info:
        TritonServer(options).start()
    assert _leftovers(tmp) == []
    assert str(tmp) not in str(info.value)  # it names no log file that is gone


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.timeout(120)
def test_an_impatient_ctrl_c_stops_at_once_and_leaves_no_temporary_folder(
    tmp_path: Path, write_model
) -> None:
    repo = tmp_path / "repo"
    write_model(repo, "affine", CONFIG, make_affine_onnx)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    command = [sys.executable, "-m", "orchestrator", "serve", "--repo", str(repo)]
    with subprocess.Popen(
        [*command, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    ) as process:
        assert process.stdout is not None
        report = json.loads(process.stdout.readline())
        assert _leftovers(tmp) != []  # the server's folder is there while it serves
        # Ctrl-C, then Ctrl-C again every quarter second until it has stopped.
        presses = 0
        while process.poll() is None and presses < 40:
            process.send_signal(signal.SIGINT)
            presses += 1
            time.sleep(0.25)
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    # A press that lands after "Aborted!" ends the interpreter by SIGINT, as Python does.
    assert process.returncode in (0, 1, -signal.SIGINT), stderr
    assert presses <= 2 + 20, presses  # stopped within 5 s of the second press
    assert _leftovers(tmp) == []
    assert not client.is_server_ready(report["http"])


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.timeout(120)
def test_ctrl_c_while_a_model_loads_prints_no_traceback(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "stuck" / "1").mkdir(parents=True)
    (repo / "stuck" / "config.pbtxt").write_text(STUCK_CONFIG)
    (repo / "stuck" / "1" / "model.py").write_text(STUCK_MODEL)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    command = [sys.executable, "-m", "orchestrator", "serve", "--repo", str(repo)]
    with subprocess.Popen(
        [*command, "--http-port", str(port), "--ready-timeout-s", "90"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    ) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until Triton says the model is loading
            try:
                states = client.repository_index(f"127.0.0.1:{port}")
            except ServerError:
                states = []
            if [(s.name, s.state) for s in states] == [("stuck", "LOADING")]:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the model never started loading")
        process.send_signal(signal.SIGINT)  # serve is waiting in tritonclient's load call
        _wait_for_sigterm(tmp, process)  # serve is stopping Triton, gracefully
        process.send_signal(signal.SIGINT)  # and then impatient
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert "KeyboardInterrupt" not in stderr, stderr
    assert process.returncode in (0, 1, -signal.SIGINT), stderr
    assert _leftovers(tmp) == []
