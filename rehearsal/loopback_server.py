"""What the loopback servers (moto_server, fake-gcs-server) share: wait until up, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request


def wait_until_answers(
    process: subprocess.Popen[bytes], url: str, name: str, timeout_s: float
) -> None:
    """Return once ``url`` answers; stop the server and raise if it exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    stop_process_group(process)
    raise RuntimeError(f"{name} did not answer on {url} within {timeout_s} s")


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM the server's process group (started with a new session), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)
