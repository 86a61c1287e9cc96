"""``orchestrator serve`` end to end, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orchestrator import client
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration


def _serve(repo: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "serve",
            "--repo",
            str(repo),
            "--format",
            "json",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.usefixtures("tritonserver")
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_loads_production_config_answers_and_stops_cleanly(
    tmp_path: Path, write_model, stop_signal: signal.Signals
) -> None:
    config = AFFINE_CONFIG.format(name="affine", max_batch_size=8, delay_us=500)
    write_model(tmp_path, "affine", config, make_affine_onnx)
    with _serve(tmp_path) as process:
        assert process.stdout is not None and process.stderr is not None
        report = json.loads(process.stdout.readline())
        assert [(m["name"], m["version"], m["state"]) for m in report["models"]] == [
            ("affine", "1", "READY")
        ]
        x = np.ones((2, 4), dtype=np.float32)
        np.testing.assert_array_equal(client.infer(report["http"], "affine", {"x": x})["y"], x * 3)
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Triton stopped." in stderr
    assert "Traceback" not in stderr
    assert not client.is_server_ready(report["http"])


@pytest.mark.usefixtures("tritonserver")
def test_serve_exits_1_with_the_reason_when_a_model_fails_to_load(
    tmp_path: Path, write_model
) -> None:
    config = AFFINE_CONFIG.format(name="broken", max_batch_size=8, delay_us=500)
    write_model(tmp_path, "broken", config.replace('name: "x"', 'name: "pixels"'), make_affine_onnx)
    with _serve(tmp_path) as process:
        stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert json.loads(stdout)["models"][0]["state"] == "UNAVAILABLE"
    assert "Error: 1 model(s) failed to load: broken:" in stderr
    assert "unexpected inference input 'pixels', allowed inputs are: x" in stderr
    assert "Traceback" not in stderr


def test_serve_of_a_missing_repository_exits_1_without_traceback(tmp_path: Path) -> None:
    with _serve(tmp_path / "missing") as process:
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.startswith(f"Error: Model repository {tmp_path / 'missing'} does not exist")


@pytest.mark.usefixtures("tritonserver")
def test_serve_started_in_the_background_by_a_shell_stops_on_sigint(
    tmp_path: Path, write_model
) -> None:
    config = AFFINE_CONFIG.format(name="affine", max_batch_size=8, delay_us=500)
    write_model(tmp_path, "affine", config, make_affine_onnx)
    # Non-interactive shells start `cmd &` with SIGINT ignored; serve must still stop on it.
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "serve",
            "--repo",
            str(tmp_path),
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ) as process:
        assert process.stdout is not None
        report = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.terminate()  # SIGTERM stops it and its Triton cleanly
            process.communicate(timeout=60)
            pytest.fail("serve ignored SIGINT")
    assert process.returncode == 0, stderr
    assert "Triton stopped." in stderr
    assert not client.is_server_ready(report["http"])
