"""A real S3 API server (moto_server) on loopback: the rehearsal's store, and the tests'."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from orchestrator.serving.triton import free_port
from rehearsal.loopback_server import wait_until_answers

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running moto_server: its endpoint and the process to stop."""

    endpoint_url: str
    port: int
    process: subprocess.Popen[bytes]

    def credentials_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }


def moto_server_binary() -> Path:
    return Path(sys.executable).parent / "moto_server"


def start_s3_server(
    *, timeout_s: float = 30.0, env: dict[str, str] | None = None, log: Path | None = None
) -> S3Server:
    """Start moto_server on a free loopback port and wait until it answers."""
    binary = moto_server_binary()
    if not binary.exists():
        raise RuntimeError(
            f"moto_server not found at {binary}: install the dev extra (moto[server])."
        )
    port = free_port()
    with open(log or os.devnull, "wb") as output:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_answers(process, endpoint + "/moto-api/", "moto_server", timeout_s)
    return S3Server(endpoint, port, process)
