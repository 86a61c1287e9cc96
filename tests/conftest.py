"""Shared fixtures: small real ONNX graphs and repositories built from them."""

from __future__ import annotations

import gc
import signal
import socket
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from orchestrator.releases.stores import Store, open_store
from rehearsal.gcs_server import GcsServer, start_gcs_server
from rehearsal.loopback_server import stop_process_group
from rehearsal.s3_server import S3Server, start_s3_server
from tests.support.onnx_models import make_affine_onnx
from tests.support.release_repos import make_repository
from tests.support.unit_loop import skip_in_unit_loop

Server = TypeVar("Server", S3Server, GcsServer)


@pytest.fixture(autouse=True)
def ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in every test, as in a Python started from a terminal.

    A suite started in the background by a non-interactive shell (``make test &``, nohup)
    inherits SIGINT ignored: "When job control is not in effect, asynchronous commands
    ignore SIGINT and SIGQUIT" (the Bash manual, "Signals"), and Python then installs no
    handler of its own (the signal module's docs). The tests that press Ctrl-C on a verb
    need the usual one, however the suite was started.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if previous is not None:  # None: set outside Python, nothing to put back
        signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def user_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh ``XDG_CACHE_HOME`` per test: the digest cache of release and sync never
    touches the user's own, and no test sees another's (subprocesses inherit it)."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


@pytest.fixture
def affine_onnx(tmp_path: Path) -> Path:
    return make_affine_onnx(tmp_path / "affine.onnx")


@pytest.fixture
def write_model() -> Callable[..., Path]:
    """Write ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/1/model.onnx``."""

    def write(repo: Path, name: str, config: str, build: Callable[[Path], Path]) -> Path:
        model_dir = repo / name
        build(model_dir / "1" / "model.onnx")
        (model_dir / "config.pbtxt").write_text(config)
        return model_dir

    return write


# --- object storage: a real S3 API server (moto_server) and file:// stores ---------------


@dataclass(frozen=True)
class Dest:
    """A DEST URL for sync, with what it takes to open it."""

    url: str
    endpoint_url: str | None

    def open(self) -> Store:
        return open_store(self.url, endpoint_url=self.endpoint_url)


def _for_the_session(
    server: Server, env: dict[str, str], *, unset: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Yield a started ``server`` with ``env`` set (and ``unset`` removed) in this
    process's environment; its process group is stopped afterwards."""
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            for name in unset:
                patch.delenv(name, raising=False)
            yield server
    finally:
        stop_process_group(server.process)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto_server on a free loopback port, with its credentials in the environment."""
    skip_in_unit_loop("S3 server (moto_server)")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    server = start_s3_server(log=log)
    yield from _for_the_session(
        server, server.credentials_env(), unset=("AWS_PROFILE", "AWS_ENDPOINT_URL")
    )


@pytest.fixture
def s3_client(s3_server: S3Server) -> Any:
    """A plain boto3 client for arranging test state behind the store's back."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_server.endpoint_url)


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    """fake-gcs-server on a free loopback port, STORAGE_EMULATOR_HOST pointing at it."""
    skip_in_unit_loop("GCS server (fake-gcs-server)")
    log = tmp_path_factory.mktemp("fake-gcs") / "fake-gcs-server.log"
    server = start_gcs_server(log=log)
    yield from _for_the_session(server, server.client_env())


@pytest.fixture
def gcs_bucket(gcs_server: GcsServer) -> str:
    """A new, empty bucket in the GCS server."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    gcs_server.create_bucket(name)
    return name


def make_dest(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    """An empty DEST of ``kind``: file (a local folder), s3 (moto) or gs (fake-gcs-server)."""
    if kind == "file":
        return Dest((tmp_path / "dest").as_uri(), None)
    if kind == "gs":
        return Dest(f"gs://{request.getfixturevalue('gcs_bucket')}/models/prod", None)
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return Dest(f"s3://{bucket}/models/prod", server.endpoint_url)


@pytest.fixture(params=["file", "s3", "gs"])
def dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    """An empty DEST: a local folder, a prefix in a new moto bucket, or in a new GCS one."""
    return make_dest(request.param, request, tmp_path)


@pytest.fixture(scope="session")
def affine_onnx_cached(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_affine_onnx(tmp_path_factory.mktemp("onnx") / "affine.onnx")


@pytest.fixture
def release_repo(tmp_path: Path, affine_onnx_cached: Path) -> Path:
    """Two valid models: ``alpha`` (versions 1, 2; serves 2) and ``beta`` (version 1)."""
    return make_repository(
        tmp_path / "repo", {"alpha": [1, 2], "beta": [1]}, onnx_cache=affine_onnx_cached
    )


# --- Docker: no engine runs here ---------------------------------------------------------


@pytest.fixture
def no_docker_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """DOCKER_HOST at a unix socket that is bound but never listens: no engine answers.

    docker 7.2 leaves its socket open when connecting fails (``UnixHTTPConnection.connect``
    assigns it only after ``connect`` succeeds); that socket is collected here, after the
    test, where its ResourceWarning is expected, instead of failing whichever test the
    garbage collector happens to run in.
    """
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(path))
        address = f"unix://{path}"
        monkeypatch.setenv("DOCKER_HOST", address)
        monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
        yield address
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
