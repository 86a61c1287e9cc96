"""Stopping never hangs, even when an interrupted poll() left Popen's lock held."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.serving.triton import ServerOptions, TritonServer


@pytest.mark.timeout(60)
def test_stop_reaps_the_server_when_popens_lock_is_stuck(tmp_path: Path) -> None:
    server = TritonServer(ServerOptions(tmp_path, stop_timeout_s=1))
    process = subprocess.Popen(["sleep", "600"], start_new_session=True)
    server._process = process  # noqa: SLF001 - stands for a started tritonserver
    # What a Ctrl-C landing inside Popen.poll() between acquire and `try` leaves behind
    # (a CPython detail: the lock's name is private). Popen.wait() would block forever.
    assert process._waitpid_lock.acquire(False)  # type: ignore[attr-defined]  # noqa: SLF001

    server.stop()

    assert process.returncode in (-signal.SIGTERM, -signal.SIGKILL)  # reaped: no zombie
    assert server.pid is None


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # killed, waiting for init to reap it


@pytest.mark.timeout(60)
def test_the_server_is_not_reaped_before_its_process_group_is_killed(tmp_path: Path) -> None:
    # A reaped pid goes back to the kernel and may be handed to an unrelated process
    # (pid_max is often 32768); killpg on it would then kill that process's group.
    server = TritonServer(ServerOptions(tmp_path, stop_timeout_s=1))
    # A server that exits by itself, leaving a child (as a backend stub) in its group.
    process = subprocess.Popen(
        ["sh", "-c", "sleep 600 & echo $!"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None
    stub = int(process.stdout.readline())
    process.stdout.close()
    server._process = process  # noqa: SLF001 - stands for a started tritonserver
    deadline = time.monotonic() + 30
    while server.is_running:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # Exited, not reaped: the pid, the group's id, is still held.
    assert process.returncode is None
    assert os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    assert not _gone(stub)

    server.stop()

    assert process.returncode == 0  # reaped now
    deadline = time.monotonic() + 10
    while not _gone(stub):  # the group was killed, the stub with it
        assert time.monotonic() < deadline
        time.sleep(0.05)
