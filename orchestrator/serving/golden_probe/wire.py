"""Triton over HTTP with the standard library: KServe v2 and binary tensors, under a deadline.

- ``TritonHttp``: one exchange at a time, each bounded by the run's deadline (a watchdog
  shuts the socket of a server that trickles), answers capped in size.
- ``served_versions``: the model versions Triton reports READY.
- ``infer``: golden inputs sent with Triton's binary tensor extension, so floats travel
  exactly; the answer's JSON header and binary outputs parsed and checked.

Everything Triton answers is untrusted: JSON shapes are checked, sizes capped.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from .errors import ProbeError
from .npz import MAX_ELEMENTS
from .tensor import CODES, Numbers, Tensor

__all__ = ["MAX_JSON_BYTES", "MAX_RESPONSE_BYTES", "TritonHttp", "infer", "served_versions"]

MAX_RESPONSE_BYTES = 128 * 1024 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
_CHUNK = 1 << 20
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_VERSION = re.compile(r"[0-9]{1,18}")


class TritonHttp:
    """Triton's HTTP endpoint at ``host:port``, every exchange ending by ``deadline``."""

    def __init__(self, url: str, deadline: float) -> None:
        address = url.removeprefix("http://").rstrip("/")
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ProbeError(f"--url {url!r} is not HOST:PORT (e.g. 127.0.0.1:8000)")
        self.host, self.port, self.deadline = host, int(port), deadline

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One exchange: (status, headers, body), the body capped in size."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeError(f"ran out of time before {method} {path}")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=remaining)
        # The socket timeout bounds each read, not the exchange: a server that trickles a
        # byte a second would hold it for ever. At the deadline the socket is shut down,
        # which ends any read in progress.
        watchdog = threading.Timer(remaining, _shut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        response: http.client.HTTPResponse | None = None
        try:
            connection.request(method, path, body=body or None, headers=dict(headers or {}))
            response = connection.getresponse()
            chunks, size = [], 0
            while size <= MAX_RESPONSE_BYTES:
                chunk = response.read1(_CHUNK) if hasattr(response, "read1") else b""
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > self.deadline:
                    raise ProbeError(f"ran out of time reading the answer to {method} {path}")
            if size > MAX_RESPONSE_BYTES:
                raise ProbeError(f"{method} {path} answered over {MAX_RESPONSE_BYTES} bytes")
            if response.length:  # a Content-Length the body fell short of
                raise http.client.IncompleteRead(b"".join(chunks), response.length)
            return response.status, dict(response.getheaders()), b"".join(chunks)
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= self.deadline:
                raise ProbeError(
                    f"{method} http://{self.host}:{self.port}{path}: no complete answer "
                    "before the deadline"
                ) from None
            raise ProbeError(f"{method} http://{self.host}:{self.port}{path}: {exc}") from None
        finally:
            watchdog.cancel()
            if response is not None:
                response.close()  # read1 leaves the socket open at the end of the body
            connection.close()

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        """One exchange that must answer 200 with JSON (capped in size), parsed."""
        body = json.dumps(payload).encode() if payload is not None else b""
        status, _, data = self.request(method, path, body)
        if status != 200:
            raise ProbeError(f"{method} {path} answered {status}: {_snippet(data)}")
        if len(data) > MAX_JSON_BYTES:
            raise ProbeError(f"{method} {path} answered {len(data)} bytes of JSON")
        try:
            return json.loads(data)
        except ValueError:
            raise ProbeError(f"{method} {path} answered non-JSON: {_snippet(data)}") from None

    def wait_ready(self, models: Sequence[str] | None = None) -> None:
        """Until ``/v2/health/ready``; given ``models``, until none of them is loading.

        With strict readiness one model that failed to load keeps a shared server
        not-ready; for a release's smoke what matters is that its own models are done
        loading (a model that is not served is then reported by name).
        """
        last = "no answer yet"
        while True:
            try:
                status, _, _ = self.request("GET", "/v2/health/ready")
                if status == 200:
                    return
                last = f"HTTP {status}"
                if models and self._live_and_settled(models):
                    return
            except ProbeError as exc:
                last = str(exc)
            if time.monotonic() + 0.5 >= self.deadline:
                what = f"models {', '.join(models)}" if models else "/v2/health/ready"
                raise ProbeError(f"Triton was not ready ({what}): {last}")
            time.sleep(0.5)

    def _live_and_settled(self, models: Sequence[str]) -> bool:
        if self.request("GET", "/v2/health/live")[0] != 200:
            return False
        index = self.json("POST", "/v2/repository/index", {})
        return not any(
            isinstance(entry, dict)
            and entry.get("name") in models
            and entry.get("state") == "LOADING"
            for entry in (index if isinstance(index, list) else [])
        )


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _snippet(data: bytes) -> str:
    return data[:200].decode("utf-8", "replace").replace("\n", " ")


def served_versions(http: TritonHttp) -> list[tuple[str, str]]:
    """The (model, version) pairs Triton reports READY, their names checked."""
    index = http.json("POST", "/v2/repository/index", {"ready": True})
    if not isinstance(index, list):
        raise ProbeError(f"the repository index is not a list: {str(index)[:200]}")
    served = []
    for entry in index:
        if not isinstance(entry, dict) or entry.get("state") != "READY":
            continue
        name, version = str(entry.get("name", "")), str(entry.get("version", ""))
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
            raise ProbeError(f"Triton reports an unexpected model {name!r} version {version!r}")
        served.append((name, version))
    return sorted(set(served))


def _pack(tensor: Tensor, datatype: str) -> bytes:
    if datatype == "BYTES":
        if tensor.datatype != "BYTES":
            raise ProbeError(f"golden holds {tensor.datatype}, the model takes BYTES")
        return b"".join(struct.pack("<I", len(v)) + v for v in tensor.values)
    if datatype not in CODES or tensor.datatype == "BYTES":
        raise ProbeError(f"cannot send golden {tensor.datatype} data as {datatype}")
    code = CODES[datatype]
    values = tensor.values
    if isinstance(values, Numbers) and values.code == code:
        return values.raw  # the golden bytes as they are: no conversion
    convert: Callable[[Any], Any] = (
        float if datatype in ("FP16", "FP32", "FP64") else bool if datatype == "BOOL" else int
    )
    packed, step = [], 65536  # in chunks: never one Python object per element at once
    try:
        for begin in range(0, len(values), step):
            chunk = [convert(v) for v in values[begin : begin + step]]
            packed.append(struct.pack(f"<{len(chunk)}{code}", *chunk))
    except (struct.error, OverflowError, ValueError) as exc:
        raise ProbeError(f"golden values do not fit {datatype}: {exc}") from None
    return b"".join(packed)


def _unpack(name: str, datatype: str, shape: tuple[int, ...], raw: bytes) -> Tensor:
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise ProbeError(f"output {name!r} has {count} elements (limit {MAX_ELEMENTS})")
    if datatype == "BYTES":
        values, offset = [], 0
        for _ in range(count):
            if offset + 4 > len(raw):
                raise ProbeError(f"output {name!r}: truncated BYTES data")
            (length,) = struct.unpack_from("<I", raw, offset)
            values.append(raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        return Tensor(datatype, shape, tuple(values))
    if datatype not in CODES:
        raise ProbeError(f"output {name!r} has datatype {datatype!r}, which is not supported")
    code = CODES[datatype]
    if len(raw) != count * struct.calcsize(code):
        raise ProbeError(f"output {name!r}: {len(raw)} bytes for shape {list(shape)}")
    return Tensor(datatype, shape, Numbers(bytes(raw), code))


def infer(
    http: TritonHttp, model: str, version: str, inputs: Mapping[str, Tensor]
) -> dict[str, Tensor]:
    """Send ``inputs`` to ``model`` ``version`` as binary tensors; the outputs it answers."""
    metadata = _dict(
        http.json("GET", f"/v2/models/{quote(model)}/versions/{version}"), "model metadata"
    )
    declared = {
        str(i.get("name")): str(i.get("datatype"))
        for i in _list(metadata.get("inputs", []), "metadata inputs")
        if isinstance(i, dict)
    }
    header: dict[str, Any] = {"inputs": [], "outputs": []}
    blobs = []
    for name, tensor in inputs.items():
        if name not in declared:
            raise ProbeError(
                f"golden input {name!r} is not an input of the model {sorted(declared)}"
            )
        blob = _pack(tensor, declared[name])
        blobs.append(blob)
        header["inputs"].append(
            {
                "name": name,
                "shape": list(tensor.shape),
                "datatype": declared[name],
                "parameters": {"binary_data_size": len(blob)},
            }
        )
    for output in _list(metadata.get("outputs", []), "metadata outputs"):
        if isinstance(output, dict):
            header["outputs"].append(
                {"name": str(output.get("name")), "parameters": {"binary_data": True}}
            )
    head = json.dumps(header).encode()
    status, headers, data = http.request(
        "POST",
        f"/v2/models/{quote(model)}/versions/{version}/infer",
        head + b"".join(blobs),
        {
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(head)),
        },
    )
    if status != 200:
        raise ProbeError(f"inference answered {status}: {_snippet(data)}")
    return _outputs(data, headers)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProbeError(f"{what} is not a JSON object: {str(value)[:200]}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProbeError(f"{what} is not a JSON list: {str(value)[:200]}")
    return value


def _size(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**40:
        raise ProbeError(f"{what} is {value!r}; expected a size")
    return value


def _outputs(data: bytes, headers: Mapping[str, str]) -> dict[str, Tensor]:
    """Parse an answer: a JSON header, then binary tensors (or JSON ``data``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    length_text = lowered.get("inference-header-content-length", str(len(data)))
    if not length_text.isdigit() or int(length_text) > len(data):
        raise ProbeError(f"Inference-Header-Content-Length is {length_text!r}")
    json_length = int(length_text)
    try:
        answer = _dict(json.loads(data[:json_length]), "the inference answer")
    except ValueError:
        raise ProbeError(f"inference answered non-JSON: {_snippet(data)}") from None
    outputs: dict[str, Tensor] = {}
    offset = json_length
    for item in _list(answer.get("outputs", []), "the answer's outputs"):
        output = _dict(item, "an answer output")
        name, datatype = str(output.get("name")), str(output.get("datatype"))
        shape_list = _list(output.get("shape", []), f"output {name!r} shape")
        shape = tuple(_size(d, f"output {name!r} shape") for d in shape_list)
        parameters = _dict(output.get("parameters") or {}, f"output {name!r} parameters")
        if "binary_data_size" in parameters:
            size = _size(parameters["binary_data_size"], f"output {name!r} binary_data_size")
            outputs[name] = _unpack(name, datatype, shape, data[offset : offset + size])
            offset += size
            continue
        # A JSON answer after all: numbers, bools or strings, one per element.
        flat = _list(output.get("data", []), f"output {name!r} data")
        if len(flat) != math.prod(shape) or not all(isinstance(v, int | float | str) for v in flat):
            raise ProbeError(f"output {name!r} data does not fit shape {list(shape)}")
        values = [v.encode() if isinstance(v, str) else v for v in flat]
        outputs[name] = Tensor(datatype, shape, tuple(values))
    return outputs
