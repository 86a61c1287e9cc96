"""Triton's metrics endpoint: counters per model version, failures summed by reason.

The page is served by a real HTTP server on loopback (the standard library's), with text
in the shape Triton 2.51 writes; the real Triton's page is read in
tests/integration/test_gate.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.client.metrics import ModelCounters, scrape_metrics
from orchestrator.errors import ServerError
from orchestrator.serving.triton import free_port

PAGE = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="alpha",version="1"} 12
nv_inference_request_success{model="alpha",version="2"} 3
# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="alpha",reason="BACKEND",version="1"} 2
nv_inference_request_failure{model="alpha",reason="REJECTED",version="1"} 1
nv_inference_request_failure{model="alpha",reason="CANCELED",version="1"} 5
nv_inference_request_failure{model="alpha",reason="OTHER",version="2"} 0
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="alpha",version="1"} 600
nv_inference_queue_duration_us{model="alpha",version="2"} 30
# TYPE nv_inference_exec_count counter
nv_inference_exec_count{model="alpha",version="1"} 4
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-1"} 0.5
# TYPE nv_inference_pending_request_count gauge
nv_inference_pending_request_count{model="alpha",version="1"} 7
"""


@pytest.fixture
def page_server() -> Iterator[tuple[str, dict[str, object]]]:
    """An HTTP server answering GET /metrics with ``state["body"]`` and ``state["status"]``."""
    state: dict[str, object] = {"body": PAGE, "status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = str(state["body"]).encode()
            self.send_response(int(str(state["status"])) if self.path == "/metrics" else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_counters_are_read_per_model_version_with_failures_summed_over_reasons(
    page_server: tuple[str, dict[str, object]],
) -> None:
    url, _ = page_server

    counters = scrape_metrics(url)

    assert counters == {
        # CANCELED (a client that gave up) is kept apart from the model's failures.
        ("alpha", "1"): ModelCounters(
            success=12, failure=3, canceled=5, queue_duration_us=600, exec_count=4
        ),
        ("alpha", "2"): ModelCounters(success=3, failure=0, queue_duration_us=30),
    }
    run = counters[("alpha", "1")].minus(ModelCounters(success=2, queue_duration_us=100))
    assert (run.success, run.failure, run.queue_us_per_request) == (10.0, 3.0, 50.0)
    assert ModelCounters().queue_us_per_request is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("<html>not metrics</html>", 200, "is not Prometheus exposition text"),
        ("nope", 503, "/metrics answered HTTP 503"),
    ],
    ids=["not-exposition-text", "http-error"],
)
def test_a_page_that_is_not_triton_metrics_is_a_server_error(
    page_server: tuple[str, dict[str, object]], body: str, status: int, message: str
) -> None:
    url, state = page_server
    state.update(body=body, status=status)

    with pytest.raises(ServerError) as caught:
        scrape_metrics(url)

    assert message in str(caught.value)
    assert url in str(caught.value)


def test_an_endpoint_that_does_not_answer_is_a_server_error() -> None:
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(ServerError) as caught:
        scrape_metrics(url, timeout_s=2)

    assert str(caught.value).startswith(f"Could not read Triton's metrics at http://{url}/metrics")
