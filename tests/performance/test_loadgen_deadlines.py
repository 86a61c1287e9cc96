"""The load generator holds no request past its deadline, however slowly a server answers.

A real loopback server trickles its answer (tests/support/trickle_server.py): every read gets a
byte in time, so only a per-request deadline ends a request. A level's run ends within
its controller's time plus one request deadline (plus a little), over HTTP and gRPC, and
the requests it cut are counted as failed with the reason; the one-shot request that
checks an encoded request ends at its deadline with a ServerError.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest

from orchestrator import client
from orchestrator.errors import ServerError
from orchestrator.performance.http_wire import http_request_once
from orchestrator.performance.loadgen import LoadGenerator
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(60)

INPUTS = {"x": np.zeros((1, 4), np.float32)}


@pytest.fixture(
    params=[(HEAD, 0.2), (b"HTTP/1.1 200 OK\r\n", 0.3), (b"", 0.5)],
    ids=["trickled-body", "headers-never-end", "silent"],
)
def trickling(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from trickle(*request.param)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_a_level_ends_within_its_time_plus_one_request_deadline(
    trickling: str, protocol: str
) -> None:
    generator = LoadGenerator(
        trickling,
        "m",
        INPUTS,
        protocol="http" if protocol == "http" else "grpc",
        request_timeout_s=1.0,
    )

    async def controller(_: LoadGenerator) -> None:
        await asyncio.sleep(1.5)

    started = time.monotonic()
    asyncio.run(generator.run(2, controller))
    elapsed = time.monotonic() - started
    # Before: the drain waited the deadline plus 5 s after the controller, whatever the
    # requests' own deadlines (8.5 s here).
    assert elapsed < 1.5 + 1.0 + 1.5, elapsed
    samples = generator.take_samples()
    assert samples.count >= 2 and samples.succeeded == 0
    assert "within 1 s" in generator.first_error or "Deadline" in generator.first_error


def test_the_one_shot_request_ends_at_its_deadline_with_a_server_error(trickling: str) -> None:
    request = client.encode_http_request("m", INPUTS)
    started = time.monotonic()
    with pytest.raises(ServerError, match="no complete answer to /v2/models/m/infer within 1 s"):
        asyncio.run(http_request_once(trickling, request, timeout_s=1.0))
    assert time.monotonic() - started < 2
