"""Starting, failing and stopping a real tritonserver; no process is ever left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.errors import ServerError
from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().split(")")[-1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


@pytest.mark.usefixtures("tritonserver")
def test_context_manager_stops_server_and_its_stubs_when_the_body_raises(
    tmp_path: Path, write_model, affine_onnx: Path
) -> None:
    from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

    write_model(
        tmp_path / "repo",
        "m",
        AFFINE_CONFIG.format(name="m", max_batch_size=4, delay_us=100),
        make_affine_onnx,
    )
    server = TritonServer(ServerOptions(tmp_path / "repo"))
    with pytest.raises(RuntimeError, match="boom"), server:
        from orchestrator.serving.triton import load_models

        assert (
            load_models(server.http_url, tmp_path / "repo", cpu_override=True)[0].state == "READY"
        )
        pid = server.pid or -1
        assert pid > 0 and len(_group_members(pid)) >= 2  # server + python stub
        raise RuntimeError("boom")
    assert not _alive(pid)
    assert _group_members(pid) == []


@pytest.mark.usefixtures("tritonserver")
def test_server_dies_with_its_parent_even_when_the_parent_is_killed(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer
        server = TritonServer(ServerOptions(Path({str(tmp_path / "repo")!r}))).start()
        print(server.pid, flush=True)
        sys.stdin.read()
        """
    )
    # A parent killed by SIGKILL cannot remove its temporary folder: keep it in tmp_path.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    ) as parent:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert _wait_gone(server_pid), "tritonserver outlived its killed parent"


@pytest.mark.usefixtures("tritonserver")
def test_taken_port_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(
            ServerError, match=rf"Port {port} on 127.0.0.1 is already in use.*--http-port"
        ):
            TritonServer(ServerOptions(tmp_path, http_port=port)).start()


def test_missing_repository_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="does not exist or is not a directory"):
        TritonServer(ServerOptions(tmp_path / "nope")).start()


def test_missing_binary_is_one_clear_error(tmp_path: Path) -> None:
    options = ServerOptions(tmp_path, tritonserver=tmp_path / "no-such-tritonserver")
    with pytest.raises(ServerError, match="does not exist.*--tritonserver"):
        TritonServer(options).start()


def test_binary_that_exits_shows_the_log_tail(tmp_path: Path, tritonserver: TritonInstall) -> None:
    binary = tmp_path / "bin" / "tritonserver"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\necho 'error: cannot open libfoo.so' >&2\nexit 3\n")
    binary.chmod(0o755)
    pytriton_libs = tmp_path / "backends" / "python"
    pytriton_libs.mkdir(parents=True)
    real = tritonserver
    for item in (real.backends_dir / "python").iterdir():
        if item.is_file():
            (pytriton_libs / item.name).write_bytes(item.read_bytes())
    stubs = real.root / "python_backend_stubs"
    (tmp_path / "python_backend_stubs").symlink_to(stubs)
    options = ServerOptions(tmp_path, tritonserver=binary, ready_timeout_s=10)
    with pytest.raises(ServerError, match=r"exited with status 3(.|\n)*cannot open libfoo.so"):
        TritonServer(options).start()


def test_server_that_never_gets_ready_times_out_and_is_killed(
    tmp_path: Path, tritonserver: TritonInstall
) -> None:
    binary = tmp_path / "bin" / "tritonserver"
    binary.parent.mkdir()
    pid_file = tmp_path / "pid"
    binary.write_text(f"#!/bin/sh\necho $$ > {pid_file}\necho 'loading forever'\nexec sleep 300\n")
    binary.chmod(0o755)
    real = tritonserver
    (tmp_path / "backends").symlink_to(real.backends_dir)
    (tmp_path / "python_backend_stubs").symlink_to(real.root / "python_backend_stubs")
    options = ServerOptions(tmp_path, tritonserver=binary, ready_timeout_s=2, stop_timeout_s=2)
    with pytest.raises(ServerError, match=r"not ready within 2 s(.|\n)*loading forever"):
        TritonServer(options).start()
    assert _wait_gone(int(pid_file.read_text()), timeout_s=5)
