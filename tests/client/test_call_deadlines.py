"""Every HTTP exchange with Triton ends at its deadline, however slowly the server sends.

A real loopback server trickles its answer (headers, or a body that never completes):
socket timeouts never fire on it, so a per-read timeout would wait for ever. The
clients behind smoke, status, infer and the gate's metrics scrape each end within their
timeout plus a little, with a ServerError that names the server. Over gRPC, every call
carries gRPC's own per-call deadline (tritonclient's ``client_timeout``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from orchestrator.client import connection, control
from orchestrator.client.infer import InferSession
from orchestrator.client.metrics import scrape_metrics
from orchestrator.errors import ServerError
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(
    params=[(HEAD, 0.2), (HEAD + b"[" * 100000, 0.01), (b"HTTP/1.1 200 OK\r\n", 0.3)],
    ids=["trickled-headers", "trickled-body", "headers-never-end"],
)
def trickling(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from trickle(*request.param)


def test_readiness_answers_at_its_deadline(trickling: str) -> None:
    started = time.monotonic()
    ready = connection.is_server_ready(trickling, timeout_s=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 3
    # Whole headers before the deadline are "ready" (tritonclient reads no body for a
    # 200); headers still trickling at the deadline are "not ready".
    assert ready is (elapsed < 1.5)


def test_a_call_in_http_client_ends_at_its_deadline(trickling: str) -> None:
    started = time.monotonic()
    with (
        pytest.raises(ServerError, match="within 1.5 s|Cannot reach"),
        connection.http_client(trickling, timeout_s=1.5) as client,
    ):
        client.get_model_repository_index()
    assert time.monotonic() - started < 3


def test_an_inference_ends_at_its_deadline(trickling: str) -> None:
    session = InferSession(trickling, "m", {"x": np.zeros((1, 4), np.float32)}, timeout_s=1.5)
    started = time.monotonic()
    try:
        with pytest.raises(ServerError, match="Inference on model 'm'"):
            session.infer()
    finally:
        session.close()
    assert time.monotonic() - started < 3


def test_the_metrics_scrape_ends_at_its_deadline(trickling: str) -> None:
    started = time.monotonic()
    with pytest.raises(ServerError, match="metrics"):
        scrape_metrics(trickling, timeout_s=1.5)
    assert time.monotonic() - started < 3


# gRPC: a server that accepts the connection and never completes HTTP/2's handshake
# (nothing, or half a SETTINGS frame, trickled) held every call for gRPC's own 20 s connect
# timeout, and the control calls (metadata, config, statistics) had no deadline at all.
@pytest.fixture(
    params=[b"", b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"], ids=["silent", "half-settings"]
)
def stalled_grpc(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from trickle(request.param, 0.5)


@pytest.mark.parametrize(
    "call",
    [
        lambda url: control.model_metadata(url, "m", protocol="grpc", timeout_s=1.5),
        lambda url: control.model_config(url, "m", protocol="grpc", timeout_s=1.5),
        lambda url: control.inference_statistics(url, "m", protocol="grpc", timeout_s=1.5),
    ],
    ids=["metadata", "config", "statistics"],
)
def test_a_grpc_control_call_ends_at_its_deadline(
    stalled_grpc: str, call: Callable[[str], object]
) -> None:
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"\(gRPC\) did not answer within 1.5 s"):
        call(stalled_grpc)
    assert time.monotonic() - started < 3


def test_a_grpc_inference_and_liveness_end_at_their_deadline(stalled_grpc: str) -> None:
    session = InferSession(
        stalled_grpc, "m", {"x": np.zeros((1, 4), np.float32)}, protocol="grpc", timeout_s=1.5
    )
    started = time.monotonic()
    try:
        with pytest.raises(ServerError, match="Inference on model 'm'"):
            session.infer()
    finally:
        session.close()
    assert connection.is_server_live(stalled_grpc, 1.5, protocol="grpc") is False
    assert time.monotonic() - started < 5


def test_a_grpc_call_that_names_its_own_timeout_keeps_it(stalled_grpc: str) -> None:
    started = time.monotonic()
    with (
        pytest.raises(ServerError, match="gRPC"),
        connection.grpc_client(stalled_grpc, timeout_s=30) as grpc,
    ):
        grpc.is_server_ready(client_timeout=1.0)
    assert time.monotonic() - started < 2.5
