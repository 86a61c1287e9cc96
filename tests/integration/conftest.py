"""A real Triton server for the whole test session (explicit model control)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.errors import ServerError
from orchestrator.serving.triton import ServerOptions, TritonServer, find_tritonserver


def _must_have_triton() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("ORCHESTRATOR_REQUIRE_TRITON"))


@pytest.fixture(scope="session")
def triton_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The (initially empty) repository the session's server serves."""
    return tmp_path_factory.mktemp("session-repository")


@pytest.fixture(scope="session")
def triton_server(
    triton_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonServer]:
    """A real tritonserver; tests add models to ``triton_repo`` and load them."""
    try:
        find_tritonserver()
    except ServerError as exc:
        if _must_have_triton():
            pytest.fail(f"tritonserver is required here (CI): {exc}")
        pytest.skip(f"no tritonserver on this machine: {exc}")
    server = TritonServer(
        ServerOptions(triton_repo, workdir=tmp_path_factory.mktemp("triton-work"))
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.is_running
