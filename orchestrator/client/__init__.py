"""The only module that imports ``tritonclient``: readiness, model control, inference.

Every ``tritonclient`` failure leaves this module as a ``ServerError`` that names the
server and the model. URLs are ``host:port`` as tritonclient takes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as grpcclient_aio
import tritonclient.http as httpclient
from numpy.typing import NDArray
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from orchestrator.errors import ServerError

__all__ = [
    "AsyncGrpcInferencer",
    "HttpInferRequest",
    "InferSession",
    "ModelState",
    "Protocol",
    "decode_http_response",
    "encode_http_request",
    "infer",
    "inference_statistics",
    "is_server_live",
    "is_server_ready",
    "load_model",
    "model_config",
    "model_metadata",
    "repository_index",
    "unload_model",
]

logger = logging.getLogger(__name__)

Protocol = Literal["http", "grpc"]


@dataclass(frozen=True)
class ModelState:
    """One row of Triton's repository index."""

    name: str
    version: str
    state: str
    reason: str


@contextmanager
def _http(url: str, timeout_s: float = 60.0) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(
        url, connection_timeout=timeout_s, network_timeout=timeout_s
    )
    try:
        yield client
    except InferenceServerException as exc:
        raise ServerError(f"Triton at {url} refused the request: {_message(exc)}") from exc
    except OSError as exc:
        raise ServerError(
            f"Cannot reach Triton at {url}: {exc}. Check that the server is running and that "
            "the URL is HOST:PORT of its HTTP endpoint."
        ) from exc
    finally:
        client.close()


@contextmanager
def _grpc(url: str) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(url)
    try:
        yield client
    except InferenceServerException as exc:
        raise ServerError(f"Triton at {url} (gRPC) refused the request: {_message(exc)}") from exc
    finally:
        client.close()


def _message(exc: InferenceServerException) -> str:
    return str(exc.message() or exc)


def _reason(text: str) -> str:
    # Python-based backends append the Python stack ("\n\nAt:\n  file(line): fn") to
    # their load errors; the message before it is what a user needs.
    return text.split("\n\nAt:\n", 1)[0].strip()


def is_server_ready(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the server at ``url`` answers ``/v2/health/ready`` with 200."""
    try:
        with _http(url, timeout_s) as client:
            return bool(client.is_server_ready())
    except ServerError:
        return False


def is_server_live(url: str, timeout_s: float = 2.0, *, protocol: Protocol = "http") -> bool:
    """Whether a Triton answers at ``url`` over ``protocol`` and says it is live.

    Unlike readiness, liveness stays true when some model failed to load (Triton's
    default strict readiness turns the whole server not-ready then).
    """
    try:
        if protocol == "http":
            with _http(url, timeout_s) as client:
                return bool(client.is_server_live())
        with _grpc(url) as grpc_client:
            return bool(grpc_client.is_server_live(client_timeout=timeout_s))
    except ServerError:
        return False


def repository_index(url: str) -> list[ModelState]:
    """Every model (and version) in the server's repository, loaded or not."""
    with _http(url) as client:
        rows = client.get_model_repository_index()
    return [
        ModelState(
            name=str(row.get("name", "")),
            version=str(row.get("version", "")),
            state=str(row.get("state", "UNAVAILABLE" if "reason" in row else "")),
            reason=_reason(str(row.get("reason", ""))),
        )
        for row in rows
    ]


def load_model(url: str, name: str, config_json: str | None = None) -> None:
    """Load (or reload) ``name``, optionally with a config override in Triton's JSON form.

    Raises:
        ServerError: Triton refused the load; the message carries Triton's reason.
    """
    client = httpclient.InferenceServerClient(url, connection_timeout=300.0, network_timeout=300.0)
    try:
        client.load_model(name, config=config_json)
    except InferenceServerException as exc:
        raise ServerError(
            f"Triton at {url} could not load model {name!r}: {_reason(_message(exc))}"
        ) from exc
    except OSError as exc:
        raise ServerError(
            f"Cannot reach Triton at {url} to load model {name!r}: {exc}. Check that the "
            "server is running and that the URL is HOST:PORT of its HTTP endpoint."
        ) from exc
    finally:
        client.close()
    logger.info("Loaded model %s on %s", name, url)


def unload_model(url: str, name: str) -> None:
    """Unload ``name`` (all its versions)."""
    with _http(url) as client:
        client.unload_model(name)
    logger.info("Unloaded model %s on %s", name, url)


def model_metadata(
    url: str, name: str, version: str = "", *, protocol: Protocol = "http"
) -> dict[str, Any]:
    """The model's metadata (inputs and outputs with datatypes and shapes).

    Both protocols answer the same JSON shape: ``{"name", "versions", "platform",
    "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}`` (shapes as ints).
    """
    if protocol == "http":
        with _http(url) as client:
            return dict(client.get_model_metadata(name, model_version=version))
    with _grpc(url) as grpc_client:
        body = dict(grpc_client.get_model_metadata(name, model_version=version, as_json=True))
    # gRPC's JSON form spells int64 shapes as strings.
    for key in ("inputs", "outputs"):
        for tensor in body.get(key, []):
            tensor["shape"] = [int(d) for d in tensor.get("shape", [])]
    return body


def model_config(
    url: str, name: str, version: str = "", *, protocol: Protocol = "http"
) -> dict[str, Any]:
    """The config Triton serves ``name`` with (after overrides and auto-completion), as JSON."""
    if protocol == "grpc":
        with _grpc(url) as grpc:
            answer = grpc.get_model_config(name, model_version=version, as_json=True)
            return dict(answer.get("config", {}))
    with _http(url) as client:
        return dict(client.get_model_config(name, model_version=version))


def inference_statistics(
    url: str, name: str = "", version: str = "", *, protocol: Protocol = "http"
) -> dict[str, Any]:
    """Triton's inference statistics for ``name`` (all models when empty), in JSON form.

    Counts are ints over HTTP and strings over gRPC (protobuf's JSON for 64-bit ints).
    """
    if protocol == "grpc":
        with _grpc(url) as grpc:
            return dict(
                grpc.get_inference_statistics(model_name=name, model_version=version, as_json=True)
            )
    with _http(url) as client:
        return dict(client.get_inference_statistics(model_name=name, model_version=version))


def infer(
    url: str,
    model: str,
    inputs: Mapping[str, NDArray[Any]],
    *,
    protocol: Protocol = "http",
    version: str = "",
    outputs: list[str] | None = None,
) -> dict[str, NDArray[Any]]:
    """Send one inference request and return the outputs by name.

    Example:
        >>> infer("127.0.0.1:8000", "digits_cnn", {"input": batch})  # doctest: +SKIP
        {'probabilities': array(...)}
    """
    module: Any = httpclient if protocol == "http" else grpcclient
    request_inputs = []
    for name, array in inputs.items():
        array = np.ascontiguousarray(array)
        tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        request_inputs.append(tensor)
    requested = [module.InferRequestedOutput(name) for name in outputs] if outputs else None
    context = _http(url) if protocol == "http" else _grpc(url)
    try:
        with context as client:
            result = client.infer(model, request_inputs, model_version=version, outputs=requested)
            response = result.get_response()
            names = [
                o["name"] if isinstance(o, dict) else o.name for o in _response_outputs(response)
            ]
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
        protocol: Protocol = "http",
        version: str = "",
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.model = model
        self.version = version
        self.protocol = protocol
        self._timeout_s = timeout_s
        module: Any = httpclient if protocol == "http" else grpcclient
        self._client: Any = (
            httpclient.InferenceServerClient(
                url, connection_timeout=timeout_s, network_timeout=timeout_s
            )
            if protocol == "http"
            else grpcclient.InferenceServerClient(url)
        )
        self._inputs = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            self._inputs.append(tensor)

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
            names = [
                o["name"] if isinstance(o, dict) else o.name
                for o in _response_outputs(result.get_response())
            ]
            return {name: result.as_numpy(name) for name in names}
        except InferenceServerException as exc:
            raise ServerError(
                f"Inference on model {self.model!r} at {self.url} failed: {_message(exc)}"
            ) from exc
        except OSError as exc:
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


def _response_outputs(response: Any) -> list[Any]:
    if isinstance(response, dict):
        return list(response.get("outputs", []))
    return list(response.outputs)


# -- load generation: requests encoded once, sent many times ------------------------------


@dataclass(frozen=True)
class HttpInferRequest:
    """One HTTP/1.1 inference request, encoded once by tritonclient and sent many times."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _infer_inputs(module: Any, inputs: Mapping[str, NDArray[Any]]) -> list[Any]:
    tensors = []
    for name, array in inputs.items():
        array = np.ascontiguousarray(array)
        tensor = module.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        if module is httpclient:
            tensor.set_data_from_numpy(array, binary_data=True)
        else:
            tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def encode_http_request(
    model: str, inputs: Mapping[str, NDArray[Any]], version: str = ""
) -> HttpInferRequest:
    """Encode an inference request (binary tensor extension) exactly as tritonclient sends it.

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
        raise ServerError(f"Cannot encode a request for model {model!r}: {_message(exc)}") from exc
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    headers: list[tuple[str, str]] = [("Content-Type", "application/octet-stream")]
    if json_size is not None:
        headers.append(("Inference-Header-Content-Length", str(json_size)))
    return HttpInferRequest(path=path, headers=tuple(headers), body=bytes(body))


def decode_http_response(body: bytes, header_length: int | None) -> dict[str, NDArray[Any]]:
    """Decode an HTTP inference response body into its outputs by name.

    Raises:
        ServerError: the body is not an inference response (or it carries an error).
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
                f"{_message(exc)}"
            ) from exc
        return {o.name: result.as_numpy(o.name) for o in result.get_response().outputs}
