"""Client: the only importer of ``tritonclient``; every failure leaves it as a ``ServerError``.

- ``connection``: opens clients and translates tritonclient's errors (readiness and
  liveness too).
- ``endpoints``: parses ``HOST:PORT`` URLs (standard library only; a bad URL is a
  ``ConfigError``).
- ``control``: loads, unloads and reads the repository index, metadata, config and
  statistics.
- ``infer``: sends inference requests.
- ``metrics``: reads the per-model counters of Triton's Prometheus endpoint (the only
  ``prometheus_client`` user).

The package re-exports their public API, so ``from orchestrator import client;
client.infer(...)`` reads as one module; the submodules import each other directly,
never through this file.

May import: ``errors``.
"""

from orchestrator.client.connection import is_server_live, is_server_ready
from orchestrator.client.control import (
    ModelState,
    inference_statistics,
    load_model,
    model_config,
    model_metadata,
    repository_index,
    unload_model,
)
from orchestrator.client.endpoints import Endpoints, Transport, parse_host_port
from orchestrator.client.infer import (
    AsyncGrpcInferencer,
    HttpInferRequest,
    InferSession,
    decode_http_response,
    encode_http_request,
    infer,
)
from orchestrator.client.metrics import ModelCounters, scrape_metrics

__all__ = [
    "AsyncGrpcInferencer",
    "Endpoints",
    "HttpInferRequest",
    "InferSession",
    "ModelCounters",
    "ModelState",
    "Transport",
    "decode_http_response",
    "encode_http_request",
    "infer",
    "inference_statistics",
    "is_server_live",
    "is_server_ready",
    "load_model",
    "model_config",
    "model_metadata",
    "parse_host_port",
    "repository_index",
    "scrape_metrics",
    "unload_model",
]
