"""Model control: the repository index, load and unload, metadata, config, statistics.

Loading and unloading through the API needs a server started with
``--model-control-mode=explicit``; any other server refuses, and that refusal leaves
this module as ``ModelControlDisabledError`` (recognised here, where tritonclient's
errors are met, so that callers decide by type).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tritonclient.utils import InferenceServerException

from orchestrator.client.connection import (
    CONNECTION_ERRORS,
    DeadlineHttpClient,
    Transport,
    error_message,
    grpc_client,
    http_client,
    quiet_interrupts,
    triton_reason,
)
from orchestrator.errors import ModelControlDisabledError, ServerError

__all__ = [
    "ModelState",
    "inference_statistics",
    "load_model",
    "model_config",
    "model_metadata",
    "repository_index",
    "unload_model",
]

logger = logging.getLogger(__name__)

# What Triton answers a load or unload when the server polls its repository or loads
# it once at start ("none"); it has no error code of its own (HTTP 400, like any bad
# request), so its text is the only sign, read once here.
_CONTROL_DISABLED = "explicit model load / unload is not allowed"

_LOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ModelState:
    """One row of Triton's repository index."""

    name: str
    version: str
    state: str
    reason: str


def repository_index(url: str, *, timeout_s: float = 60.0) -> list[ModelState]:
    """Every model (and version) in the server's repository, loaded or not, within ``timeout_s``.

    Example:
        >>> [(m.name, m.state) for m in repository_index("127.0.0.1:8000")]  # doctest: +SKIP
        [('digits_cnn', 'READY')]
    """
    with http_client(url, timeout_s) as client:
        rows = client.get_model_repository_index()
    return [
        ModelState(
            name=str(row.get("name", "")),
            version=str(row.get("version", "")),
            state=str(row.get("state", "UNAVAILABLE" if "reason" in row else "")),
            reason=triton_reason(str(row.get("reason", ""))),
        )
        for row in rows
    ]


def load_model(
    url: str, name: str, config_json: str | None = None, *, timeout_s: float = _LOAD_TIMEOUT_S
) -> None:
    """Load (or reload) ``name``, optionally with a config override in Triton's JSON form.

    Args:
        url: the server's HTTP ``host:port``.
        name: the model.
        config_json: a config override (Triton's JSON form), or None for the file's.
        timeout_s: how long to wait for Triton's answer; the load goes on in the server
            after a timeout (its repository index then says LOADING).

    Raises:
        ModelControlDisabledError: the server is not in explicit model control mode.
        ServerError: Triton refused the load (the message carries Triton's reason), or
            did not answer within ``timeout_s``.

    Example:
        >>> load_model("127.0.0.1:8000", "digits_cnn")  # doctest: +SKIP
    """
    quiet_interrupts()
    client = DeadlineHttpClient(url, timeout_s=timeout_s, connection_timeout_s=min(timeout_s, 60.0))
    try:
        client.load_model(name, config=config_json)
    except InferenceServerException as exc:
        raise _refusal(f"Triton at {url} could not load model {name!r}", exc) from exc
    except TimeoutError as exc:
        raise ServerError(
            f"Triton at {url} was still loading model {name!r} after {timeout_s:.0f} s. Its "
            "log says what it waits for; give it longer with --ready-timeout-s"
        ) from exc
    except CONNECTION_ERRORS as exc:
        raise ServerError(
            f"Cannot reach Triton at {url} to load model {name!r}: {exc}. Check that the "
            "server is running and that the URL is HOST:PORT of its HTTP endpoint."
        ) from exc
    finally:
        client.close()
    logger.info("Loaded model %s on %s", name, url)


def unload_model(url: str, name: str) -> None:
    """Unload ``name`` (all its versions).

    Raises:
        ModelControlDisabledError: the server is not in explicit model control mode.
        ServerError: Triton refused the unload or cannot be reached.

    Example:
        >>> unload_model("127.0.0.1:8000", "digits_cnn")  # doctest: +SKIP
    """
    with http_client(url) as client:
        try:
            client.unload_model(name)
        except InferenceServerException as exc:
            raise _refusal(f"Triton at {url} could not unload model {name!r}", exc) from exc
    logger.info("Unloaded model %s on %s", name, url)


def _refusal(what: str, exc: InferenceServerException) -> ServerError:
    reason = triton_reason(error_message(exc))
    kind = ModelControlDisabledError if _CONTROL_DISABLED in reason else ServerError
    return kind(f"{what}: {reason}")


def model_metadata(
    url: str, name: str, version: str = "", *, protocol: Transport = "http", timeout_s: float = 60.0
) -> dict[str, Any]:
    """The model's metadata (inputs and outputs with datatypes and shapes), within ``timeout_s``.

    Both protocols answer the same JSON shape: ``{"name", "versions", "platform",
    "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}`` (shapes as ints).

    Example:
        >>> model_metadata("127.0.0.1:8001", "m", protocol="grpc")["inputs"]  # doctest: +SKIP
        [{'name': 'x', 'datatype': 'FP32', 'shape': [-1, 4]}]
    """
    if protocol == "http":
        with http_client(url, timeout_s) as client:
            return dict(client.get_model_metadata(name, model_version=version))
    with grpc_client(url, timeout_s) as grpc:
        body = dict(grpc.get_model_metadata(name, model_version=version, as_json=True))
    # gRPC's JSON form spells int64 shapes as strings.
    for key in ("inputs", "outputs"):
        for tensor in body.get(key, []):
            tensor["shape"] = [int(d) for d in tensor.get("shape", [])]
    return body


def model_config(
    url: str, name: str, version: str = "", *, protocol: Transport = "http", timeout_s: float = 60.0
) -> dict[str, Any]:
    """The config Triton serves ``name`` with (after overrides and auto-completion), as JSON.

    The call ends within ``timeout_s`` over either protocol.

    Example:
        >>> model_config("127.0.0.1:8000", "digits_cnn")["max_batch_size"]  # doctest: +SKIP
        64
    """
    if protocol == "grpc":
        with grpc_client(url, timeout_s) as grpc:
            answer = grpc.get_model_config(name, model_version=version, as_json=True)
            return dict(answer.get("config", {}))
    with http_client(url, timeout_s) as client:
        return dict(client.get_model_config(name, model_version=version))


def inference_statistics(
    url: str,
    name: str = "",
    version: str = "",
    *,
    protocol: Transport = "http",
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Triton's inference statistics for ``name`` (all models when empty), within ``timeout_s``.

    Counts are ints over HTTP and strings over gRPC (protobuf's JSON for 64-bit ints).

    Example:
        >>> inference_statistics("127.0.0.1:8000", "m")["model_stats"][0]["name"]  # doctest: +SKIP
        'm'
    """
    if protocol == "grpc":
        with grpc_client(url, timeout_s) as grpc:
            return dict(
                grpc.get_inference_statistics(model_name=name, model_version=version, as_json=True)
            )
    with http_client(url, timeout_s) as client:
        return dict(client.get_inference_statistics(model_name=name, model_version=version))
