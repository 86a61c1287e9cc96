"""The real kubectl runner's edges: finding the binary, timeouts, a port-forward that dies."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

from orchestrator.deploy import kubectl
from orchestrator.deploy.kubectl import (
    Completed,
    SubprocessKubectl,
    check,
    forward_ports,
    port_forward,
)
from orchestrator.errors import DeployError
from rehearsal.recording import RecordingRunner


def test_a_missing_kubectl_says_where_it_looked_and_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DeployError, match=rf"neither in {tmp_path / 'bin'} nor on PATH"):
        kubectl.find_kubectl()


def test_the_virtual_environments_kubectl_comes_before_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_kubectl = tmp_path / "bin" / "kubectl"
    venv_kubectl.parent.mkdir()
    venv_kubectl.write_text("#!/bin/sh\n")
    venv_kubectl.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    assert kubectl.find_kubectl() == venv_kubectl


def test_a_command_past_its_timeout_is_a_deploy_error(tmp_path: Path) -> None:
    # A stand-in binary that never answers, as a kubectl facing a dead API server.
    slow = tmp_path / "kubectl"
    slow.write_text("#!/bin/sh\nsleep 30\n")
    slow.chmod(0o755)
    with pytest.raises(DeployError, match=r"kubectl get pods did not finish within 0.5 s"):
        SubprocessKubectl(slow).run(["get", "pods"], input_text=None, timeout_s=0.5)


def test_check_names_the_step_the_command_and_kubectls_words() -> None:
    failed = Completed(("apply", "-f", "-"), 1, "", "error: forbidden\n")
    with pytest.raises(DeployError) as caught:
        check(failed, "apply", "Check your permissions.")
    assert str(caught.value) == (
        "Step 'apply' failed: kubectl apply -f - exited 1: error: forbidden. "
        "Check your permissions."
    )


def test_a_port_forward_that_exits_is_reported_with_its_output() -> None:
    runner = RecordingRunner(forward_error='error: services "triton" not found')
    with (
        pytest.raises(
            DeployError,
            match=r'exited 1 before the port opened: error: services "triton" not found',
        ),
        port_forward(runner, "triton-staging", "svc/triton", 8000, timeout_s=5),
    ):
        pass
    assert runner.lines == ["kubectl port-forward --namespace triton-staging svc/triton PORT:8000"]


def test_forward_ports_forwards_several_ports_of_one_target_in_one_command() -> None:
    # Two real servers stand in for one pod's HTTP and metrics ports.
    servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    answers = [b"http", b"metrics"]

    def answer(server: socket.socket, text: bytes) -> None:
        # Every connection (forward_ports' own readiness probes too) gets the text.
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                try:
                    connection.sendall(text)
                except OSError:
                    pass

    threads = [
        threading.Thread(target=answer, args=pair) for pair in zip(servers, answers, strict=True)
    ]
    for thread in threads:
        thread.start()
    targets = [f"127.0.0.1:{server.getsockname()[1]}" for server in servers]
    runner = RecordingRunner(forward_to={8000: targets[0], 8002: targets[1]})
    got = []
    try:
        with forward_ports(
            runner, "triton-staging", "svc/triton", (8000, 8002), timeout_s=5
        ) as urls:
            for url in urls:
                host, port = url.rsplit(":", 1)
                with socket.create_connection((host, int(port))) as connection:
                    got.append(connection.recv(16))
    finally:
        for server in servers:
            server.shutdown(socket.SHUT_RDWR)
            server.close()
        for thread in threads:
            thread.join(5)

    assert got == answers
    assert runner.lines == [
        "kubectl port-forward --namespace triton-staging svc/triton PORT:8000 PORT:8002"
    ]
