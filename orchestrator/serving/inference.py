"""One inference request from a file, checked against the served model before it is sent."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import Transport
from orchestrator.core.tensors import ServingSignature, load_tensor_file, signature_from_metadata
from orchestrator.errors import ConfigError, ServerError

__all__ = ["DEFAULT_INFER_TIMEOUT_S", "MAX_INFER_TIMEOUT_S", "InferResult", "infer_file"]

logger = logging.getLogger(__name__)

# Each call's deadline (the metadata, then the request). The default is the 60 s every
# call had before it could be chosen: a large model's first request on a GPU can take tens
# of seconds, and a wait at the terminal ends with Ctrl-C. Past the maximum, a deadline is
# a typo (or 1e300, which gevent's timer cannot hold).
DEFAULT_INFER_TIMEOUT_S = 60.0
MAX_INFER_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class InferResult:
    """The outputs of one request, with the signature they were checked against."""

    model: str
    version: str
    signature: ServingSignature
    outputs: dict[str, NDArray[Any]]
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every output's datatype, shape and values (flattened, row-major).

        BYTES values become text (undecodable bytes replaced); an output the signature
        does not name carries numpy's dtype name.
        """
        datatypes = {spec.name: spec.datatype for spec in self.signature.outputs}
        return {
            "model": self.model,
            "version": self.version,
            "latency_ms": round(self.latency_ms, 3),
            "outputs": {
                name: {
                    "datatype": datatypes.get(name, str(array.dtype)),
                    "shape": list(array.shape),
                    "data": _values(array),
                }
                for name, array in self.outputs.items()
            },
        }


def _values(array: NDArray[Any]) -> list[Any]:
    if array.dtype.kind in ("O", "S"):
        return [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in array.ravel()
        ]
    values: list[Any] = array.ravel().tolist()
    return values


def infer_file(
    url: str,
    model: str,
    path: Path,
    *,
    version: str = "",
    protocol: Transport = "http",
    timeout_s: float = DEFAULT_INFER_TIMEOUT_S,
) -> InferResult:
    """Send the tensors in ``path`` (.npy, .npz or .json) to ``model`` and return the outputs.

    The inputs are checked against the served model's metadata first, so a wrong name,
    dtype or shape is one clear message instead of a server error. Each of the two calls
    (the metadata, then the request) ends within ``timeout_s``, however slowly the server
    answers.

    Raises:
        ConfigError: the file cannot be read or does not fit the model's inputs, or
            ``timeout_s`` is not a number of seconds up to ``MAX_INFER_TIMEOUT_S``.
        ServerError: the server is unreachable, does not serve that model or version, or
            does not answer a call within ``timeout_s``.

    Example:
        >>> result = infer_file("127.0.0.1:8000", "cancer_mlp", Path("x.json"))  # doctest: +SKIP
        >>> result.outputs  # doctest: +SKIP
        {'probabilities': array([[0.03, 0.97]], dtype=float32)}
    """
    if not 0 < timeout_s <= MAX_INFER_TIMEOUT_S:  # also refuses nan
        raise ConfigError(
            f"The infer deadline {timeout_s!r} s is not between 0 and {MAX_INFER_TIMEOUT_S:g} s. "
            "Pass --timeout-s with a number of seconds such as 30."
        )
    try:
        metadata = client.model_metadata(
            url, model, version, protocol=protocol, timeout_s=timeout_s
        )
    except ServerError as exc:
        which = f"model {model!r}" + (f" version {version}" if version else "")
        raise ServerError(
            f"Cannot read the metadata of {which}: {exc}. Check the name and version with "
            "`orchestrator smoke` or the server's repository index."
        ) from exc
    signature = signature_from_metadata(metadata)
    inputs = load_tensor_file(path, signature.inputs)
    started = time.perf_counter()
    outputs = client.infer(
        url, model, inputs, protocol=protocol, version=version, timeout_s=timeout_s
    )
    latency_ms = (time.perf_counter() - started) * 1000
    served_version = version or _latest(metadata)
    return InferResult(model, served_version, signature, outputs, latency_ms)


def _latest(metadata: dict[str, Any]) -> str:
    versions = [str(v) for v in metadata.get("versions", []) if str(v).isdigit()]
    return max(versions, key=int) if versions else ""
