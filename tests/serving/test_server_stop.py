"""Stopping never hangs, even when an interrupted poll() left Popen's lock held."""

from __future__ import annotations

import signal
import subprocess
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
