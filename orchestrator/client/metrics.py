"""Triton's own per-model counters, read from its Prometheus metrics endpoint.

Triton exports, per model and version (checked on the local Triton 2.51 with the
Python-based stand-in backend, and the same in the 24.10 image):

- ``nv_inference_request_success``;
- ``nv_inference_request_failure``, one series per failure ``reason``: REJECTED, BACKEND
  and OTHER are summed in ``failure``; CANCELED, a client that gave up, is kept apart in
  ``canceled``;
- ``nv_inference_count`` and ``nv_inference_exec_count``;
- the cumulative durations ``nv_inference_queue_duration_us`` and
  ``nv_inference_compute_{input,infer,output}_duration_us``.

``scrape_metrics`` reads ``http://HOST:PORT/metrics`` once (size-capped: the answer is
untrusted) and parses the exposition text with ``prometheus_client``'s parser, this
project's only importer of that library; ``ModelCounters.minus`` gives what a run added.
A request that fails or text that does not parse is a ``ServerError``.
"""

from __future__ import annotations

import http.client
import logging
import math
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from orchestrator.client.endpoints import parse_host_port
from orchestrator.errors import ServerError

__all__ = ["COUNTERS", "ModelCounters", "scrape_metrics"]

logger = logging.getLogger(__name__)

# Triton's metric name -> our field name.
COUNTERS: Mapping[str, str] = {
    "nv_inference_request_success": "success",
    "nv_inference_request_failure": "failure",
    "nv_inference_count": "count",
    "nv_inference_exec_count": "exec_count",
    "nv_inference_request_duration_us": "request_duration_us",
    "nv_inference_queue_duration_us": "queue_duration_us",
    "nv_inference_compute_input_duration_us": "compute_input_duration_us",
    "nv_inference_compute_infer_duration_us": "compute_infer_duration_us",
    "nv_inference_compute_output_duration_us": "compute_output_duration_us",
}
# A metrics page of a server with hundreds of models is a few MiB at most.
MAX_METRICS_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ModelCounters:
    """One model version's counters (totals since the server started, or a difference)."""

    success: float = 0.0
    failure: float = 0.0
    canceled: float = 0.0
    count: float = 0.0
    exec_count: float = 0.0
    request_duration_us: float = 0.0
    queue_duration_us: float = 0.0
    compute_input_duration_us: float = 0.0
    compute_infer_duration_us: float = 0.0
    compute_output_duration_us: float = 0.0

    def minus(self, earlier: ModelCounters) -> ModelCounters:
        """What was added since ``earlier`` (counters only grow while a server runs).

        Example:
            >>> ModelCounters(success=5).minus(ModelCounters(success=2)).success
            3.0
        """
        return ModelCounters(
            **{
                f.name: float(getattr(self, f.name) - getattr(earlier, f.name))
                for f in fields(self)
            }
        )

    @property
    def queue_us_per_request(self) -> float | None:
        """Average queue time of a successful request, or None when none succeeded."""
        return self.queue_duration_us / self.success if self.success > 0 else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, with the average queue time per request."""
        body: dict[str, Any] = asdict(self)
        average = self.queue_us_per_request
        body["queue_us_per_request"] = None if average is None else round(average, 3)
        return body


def scrape_metrics(url: str, *, timeout_s: float = 10.0) -> dict[tuple[str, str], ModelCounters]:
    """Read every model version's counters from Triton's metrics endpoint ``url`` (HOST:PORT).

    Returns:
        ``(model, version)`` -> its counters; a version Triton exports nothing for is absent.

    Raises:
        ServerError: the endpoint cannot be reached, answers other than 200, answers too
            much, or answers text that is not Prometheus exposition text.

    Example:
        >>> scrape_metrics("127.0.0.1:8002")[("digits_cnn", "1")].success  # doctest: +SKIP
        42.0
    """
    address = parse_host_port(url, option="--metrics-url")
    text = _get(address, timeout_s)
    totals: dict[tuple[str, str], dict[str, float]] = {}
    try:
        for family in text_string_to_metric_families(text):
            field = COUNTERS.get(family.name)
            if field is None:
                continue
            # The parser names a counter's samples NAME_total (and may add NAME_created).
            values = (family.name, family.name + "_total")
            for sample in family.samples:
                model, version = sample.labels.get("model"), sample.labels.get("version")
                if sample.name not in values or model is None or version is None:
                    continue
                if not math.isfinite(sample.value):
                    raise ServerError(
                        f"Triton's metrics at {address} report {sample.name} = {sample.value} "
                        f"for {model}/{version}; a counter must be a finite number."
                    )
                entry = totals.setdefault((model, version), {})
                key = field
                if field == "failure" and sample.labels.get("reason") == "CANCELED":
                    key = "canceled"  # the client gave up: not the model's failure
                entry[key] = entry.get(key, 0.0) + float(sample.value)
    except (ValueError, IndexError, TypeError) as exc:
        # prometheus_client raises these for text that is not exposition format.
        raise ServerError(
            f"http://{address}/metrics is not Prometheus exposition text ({exc}). Check that "
            "--metrics-url is Triton's metrics port (8002 by default), not its HTTP port."
        ) from exc
    logger.info("Read the counters of %d model version(s) from %s", len(totals), address)
    return {key: ModelCounters(**values) for key, values in totals.items()}


def _shut(connection: http.client.HTTPConnection) -> None:
    if connection.sock is not None:
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _get(address: str, timeout_s: float) -> str:
    host, _, port = address.rpartition(":")
    connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    # The socket timeout bounds each read, not the exchange: at the deadline the socket
    # is shut down, which ends a read in progress (a server trickling a byte a second).
    watchdog = threading.Timer(timeout_s, _shut, (connection,))
    watchdog.daemon = True
    watchdog.start()
    response: http.client.HTTPResponse | None = None
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        chunks, size = [], 0
        while size <= MAX_METRICS_BYTES and (chunk := response.read1(1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
        if response.length and size <= MAX_METRICS_BYTES:  # cut short of Content-Length
            raise http.client.IncompleteRead(b"".join(chunks), response.length)
        data = b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise ServerError(
                f"Triton's metrics at http://{address}/metrics gave no complete answer within "
                f"{timeout_s:g} s. Check that --metrics-url is its metrics port."
            ) from exc
        raise ServerError(
            f"Could not read Triton's metrics at http://{address}/metrics: {exc}. Check that "
            "the server runs and that its metrics port is reachable (--metrics-url)."
        ) from exc
    finally:
        watchdog.cancel()
        if response is not None:
            response.close()  # read1 leaves the socket open at the end of the body
        connection.close()
    if response.status != 200:
        raise ServerError(
            f"http://{address}/metrics answered HTTP {response.status}. Check that Triton "
            "runs with --allow-metrics=true and that --metrics-url is its metrics port."
        )
    if len(data) > MAX_METRICS_BYTES:
        raise ServerError(
            f"http://{address}/metrics answered more than {MAX_METRICS_BYTES} bytes; "
            "refusing to parse it."
        )
    return data.decode("utf-8", errors="replace")
