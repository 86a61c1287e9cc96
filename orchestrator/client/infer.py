"""Inference: one request, the same request again and again, requests encoded once.

- ``infer``: sends one request.
- ``InferSession`` and ``AsyncGrpcInferencer``: send the same prepared request again
  and again.
- ``encode_http_request`` and ``decode_http_response``: serve a raw-socket load generator.

Every failure leaves this module as a ``ServerError`` that names the server and the model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcclient_aio
import tritonclient.http as httpclient
from numpy.typing import NDArray
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from orchestrator.client.connection import (
    CONNECTION_ERRORS,
    DeadlineGrpcClient,
    DeadlineHttpClient,
    Transport,
    error_message,
    grpc_client,
    http_client,
    quiet_interrupts,
)
from orchestrator.errors import ServerError

__all__ = [
    "AsyncGrpcInferencer",
    "HttpInferRequest",
    "InferSession",
    "decode_http_response",
    "encode_http_request",
    "infer",
]

logger = logging.getLogger(__name__)


def _infer_inputs(module: Any, inputs: Mapping[str, NDArray[Any]]) -> list[Any]:
    # HTTP tensors go in the binary extension (tritonclient's default), not in the JSON.
    tensors = []
    for name, array in inputs.items():
        array = np.ascontiguousarray(array)
        tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def _output_names(response: Any) -> list[str]:
    # HTTP answers a dict, gRPC a protobuf message.
    if isinstance(response, dict):
        return [str(output["name"]) for output in response.get("outputs", [])]
    return [str(output.name) for output in response.outputs]


def infer(
    url: str,
    model: str,
    inputs: Mapping[str, NDArray[Any]],
    *,
    protocol: Transport = "http",
    version: str = "",
    outputs: list[str] | None = None,
    timeout_s: float = 60.0,
) -> dict[str, NDArray[Any]]:
    """Send one inference request and return the outputs by name, within ``timeout_s``.

    ``timeout_s`` bounds the whole call (connection, request and answer), over either
    protocol (``DeadlineHttpClient``, ``DeadlineGrpcClient``).

    Raises:
        ServerError: the request failed or did not complete within ``timeout_s``; the
            message names the model and the reason.

    Example:
        >>> infer("127.0.0.1:8000", "digits_cnn", {"input": batch})  # doctest: +SKIP
        {'probabilities': array(...)}
    """
    module: Any = httpclient if protocol == "http" else grpcclient
    request_inputs = _infer_inputs(module, inputs)
    requested = [module.InferRequestedOutput(name) for name in outputs] if outputs else None
    context = http_client(url, timeout_s) if protocol == "http" else grpc_client(url, timeout_s)
    try:
        with context as client:
            result = client.infer(model, request_inputs, model_version=version, outputs=requested)
            names = _output_names(result.get_response())
            return {name: result.as_numpy(name) for name in names}
    except ServerError as exc:
        raise ServerError(f"Inference on model {model!r} failed: {exc}") from exc


class InferSession:
    """One persistent connection that sends the same request again and again.

    Load generators and warm-ups use it: the inputs are serialized once, the connection
    is kept open, and each ``infer()`` is one round trip. Not thread-safe: one per thread.

    Example:
        >>> with InferSession("127.0.0.1:8001", "m", {"x": x}, protocol="grpc") as session:
        ...     outputs = session.infer()  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        model: str,
        inputs: Mapping[str, NDArray[Any]],
        *,
        protocol: Transport = "http",
        version: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.model = model
        self.version = version
        self.protocol = protocol
        self._timeout_s = timeout_s
        quiet_interrupts()
        self._client: Any = (
            DeadlineHttpClient(url, timeout_s=timeout_s)
            if protocol == "http"
            else DeadlineGrpcClient(url, timeout_s=timeout_s)
        )
        self._inputs = _infer_inputs(httpclient if protocol == "http" else grpcclient, inputs)

    def infer(self) -> dict[str, NDArray[Any]]:
        """Send the request once and return the outputs by name.

        Raises:
            ServerError: the request failed (refused, timed out, connection lost).
        """
        try:
            if self.protocol == "http":
                result = self._client.infer(self.model, self._inputs, model_version=self.version)
            else:
                result = self._client.infer(
                    self.model,
                    self._inputs,
                    model_version=self.version,
                    client_timeout=self._timeout_s,
                )
            names = _output_names(result.get_response())
            return {name: result.as_numpy(name) for name in names}
        except InferenceServerException as exc:
            raise ServerError(
                f"Inference on model {self.model!r} at {self.url} failed: {error_message(exc)}"
            ) from exc
        except CONNECTION_ERRORS as exc:
            raise ServerError(
                f"Inference on model {self.model!r} at {self.url} failed: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __enter__(self) -> InferSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- load generation: requests encoded once, sent many times ------------------------------


@dataclass(frozen=True)
class HttpInferRequest:
    """One HTTP/1.1 inference request, encoded once by tritonclient and sent many times."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def encode_http_request(
    model: str, inputs: Mapping[str, NDArray[Any]], version: str = ""
) -> HttpInferRequest:
    """Encode an inference request (binary tensor extension) exactly as tritonclient sends it.

    Raises:
        ServerError: tritonclient cannot encode the inputs.

    Example:
        >>> request = encode_http_request("m", {"x": np.ones((1, 4), np.float32)})
        >>> request.path
        '/v2/models/m/infer'
    """
    try:
        body, json_size = httpclient.InferenceServerClient.generate_request_body(
            _infer_inputs(httpclient, inputs)
        )
    except InferenceServerException as exc:
        raise ServerError(
            f"Cannot encode a request for model {model!r}: {error_message(exc)}"
        ) from exc
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    headers: list[tuple[str, str]] = [("Content-Type", "application/octet-stream")]
    if json_size is not None:
        headers.append(("Inference-Header-Content-Length", str(json_size)))
    return HttpInferRequest(path=path, headers=tuple(headers), body=bytes(body))


def decode_http_response(body: bytes, header_length: int | None) -> dict[str, NDArray[Any]]:
    """Decode an HTTP inference response body into its outputs by name.

    Raises:
        ServerError: the body is not an inference response (or it carries an error).

    Example:
        >>> decode_http_response(body, header_length)["y"]  # doctest: +SKIP
        array([[3., 3., 3., 3.]], dtype=float32)
    """
    try:
        result = httpclient.InferenceServerClient.parse_response_body(
            body, header_length=header_length
        )
        response = result.get_response()
        if "error" in response:
            raise ServerError(f"Triton answered with an error: {response['error']}")
        return {o["name"]: result.as_numpy(o["name"]) for o in response.get("outputs", [])}
    except (InferenceServerException, ValueError, KeyError) as exc:
        raise ServerError(f"Cannot decode Triton's inference response: {exc}") from exc


class AsyncGrpcInferencer:
    """Send the same prepared inference request again and again over one gRPC channel.

    Example:
        >>> async with AsyncGrpcInferencer(url, "m", {"x": batch}) as inferencer:  # doctest: +SKIP
        ...     outputs = await inferencer.infer()
    """

    def __init__(
        self, url: str, model: str, inputs: Mapping[str, NDArray[Any]], version: str = ""
    ) -> None:
        self.url = url
        self.model = model
        self.version = version
        self._inputs = _infer_inputs(grpcclient_aio, inputs)
        self._client: Any = None

    async def __aenter__(self) -> AsyncGrpcInferencer:
        self._client = grpcclient_aio.InferenceServerClient(self.url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def infer(self, timeout_s: float = 60.0) -> dict[str, NDArray[Any]]:
        """Send the request once; the outputs by name.

        Raises:
            ServerError: Triton refused the request, could not be reached, or timed out.
        """
        try:
            result = await self._client.infer(
                self.model,
                self._inputs,
                model_version=self.version,
                client_timeout=timeout_s,
            )
        except InferenceServerException as exc:
            raise ServerError(
                f"Triton at {self.url} (gRPC) refused an inference on model {self.model!r}: "
                f"{error_message(exc)}"
            ) from exc
        return {o.name: result.as_numpy(o.name) for o in result.get_response().outputs}
