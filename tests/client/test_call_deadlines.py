"""Every HTTP exchange with Triton ends at its deadline, however slowly the server sends.

A real loopback server trickles its answer (headers, or a body that never completes):
socket timeouts never fire on it, so a per-read timeout would wait for ever. The
clients behind smoke, status, infer and the gate's metrics scrape each end within their
timeout plus a little, with a ServerError that names the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from orchestrator.client import connection
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
