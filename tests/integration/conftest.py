"""A real Triton server for the whole test session (explicit model control).

``tritonserver`` is the one place that decides what a missing Triton means: a skip on a
laptop without it, a failure where ``ORCHESTRATOR_REQUIRE_TRITON=1`` or ``CI`` is set
(``make test`` and CI set them), so a server that vanished from CI can never pass as a
skipped test. Every test that starts a server asks for it, directly or through
``triton_server``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.errors import ServerError
from orchestrator.releases.manifest import release_prefix
from orchestrator.releases.stores import Store
from orchestrator.serving.triton import (
    ServerOptions,
    TritonInstall,
    TritonServer,
    find_tritonserver,
    load_models,
)

REQUIRE_VARIABLES = ("ORCHESTRATOR_REQUIRE_TRITON", "CI")


def _must_have_triton() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in REQUIRE_VARIABLES
    )


@pytest.fixture(scope="session")
def tritonserver() -> TritonInstall:
    """The tritonserver install; skips without one unless a variable says it must be here."""
    try:
        return find_tritonserver()
    except ServerError as exc:
        if _must_have_triton():
            required = " or ".join(REQUIRE_VARIABLES)
            pytest.fail(f"tritonserver is required here ({required} is set): {exc}")
        pytest.skip(f"no tritonserver on this machine: {exc}")


@pytest.fixture(scope="session")
def triton_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The (initially empty) repository the session's server serves."""
    return tmp_path_factory.mktemp("session-repository")


@pytest.fixture(scope="session")
def triton_server(
    tritonserver: TritonInstall, triton_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonServer]:
    """A real tritonserver; tests add models to ``triton_repo`` and load them."""
    server = TritonServer(
        ServerOptions(triton_repo, workdir=tmp_path_factory.mktemp("triton-work"))
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.is_running


@pytest.fixture
def serve_stored_release(
    tritonserver: TritonInstall, tmp_path: Path
) -> Iterator[Callable[[Store, str, str], TritonServer]]:
    """``serve(store, release_id, model)``: a Triton of its own serving only that release,
    straight from its folder in the file:// ``store``, ``model`` loaded; stopped after the test.
    """
    started = itertools.count()
    with contextlib.ExitStack() as servers:

        def serve(store: Store, release_id: str, model: str) -> TritonServer:
            folder = Path(store.url.removeprefix("file://")) / release_prefix(release_id)
            workdir = tmp_path / f"triton-{next(started)}"
            server = servers.enter_context(TritonServer(ServerOptions(folder, workdir=workdir)))
            states = load_models(server.http_url, folder, [model], cpu_override=True)
            assert {s.state for s in states} == {"READY"}, states
            return server

        yield serve
