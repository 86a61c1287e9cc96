"""No traffic before golden answers: check every served version against its golden.npz.

This file runs in two places, so it uses the standard library only:

- inside the production image (``Dockerfile.triton`` copies it to
  ``/opt/triton-orchestrator/golden_probe.py``), as the pod's exec **startup probe**:
  ``python3 golden_probe.py --url 127.0.0.1:8000 --timeout-s 8``. The orchestrator
  package is not installed there, and numpy may not be either;
- in ``orchestrator deploy``, as the post-rollout smoke test through the Service, with the
  release's files fetched into a temporary folder (``probe(url, folder, timeout_s=...)``).

It waits for ``/v2/health/ready``, asks Triton which model versions it serves
(``POST /v2/repository/index``), and for each one reads ``<repo>/<model>/<version>/
golden.npz`` (a zip of ``.npy`` files, parsed here without pickle), sends the inputs
over HTTP (KServe v2 with Triton's binary tensor extension, so floats travel exactly),
and compares the answers with the stored outputs by ``orchestrator.core.golden``'s rule:
``|served - expected| <= atol + rtol * |expected|``, NaN equal to NaN, other types
exactly. A model's own ``smoke_rtol`` / ``smoke_atol`` config parameters come from
Triton's ``GET /v2/models/<m>/config`` JSON.

Inside the pod, the files are under ``MODEL_REPOSITORY`` when that is a local folder (a
release baked into the image), else in the copies Triton made of the object-store
release: Triton 24.10 copies each model on its own into a ``folderXXXXXX`` directory
(``mkdtemp``) under ``TRITON_AWS_MOUNT_DIRECTORY`` (or the GCS or Azure variable); see
``find_model_dirs``.

Everything read here (golden files, Triton's answers) is untrusted and size-capped.
"""

from __future__ import annotations

import argparse
import array
import ast
import errno
import http.client
import itertools
import json
import logging
import math
import os
import re
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import quote

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "ProbeReport",
    "Tensor",
    "find_model_dirs",
    "main",
    "probe",
    "read_npz",
]

logger = logging.getLogger(__name__)

# orchestrator.core.golden.DEFAULT_TOLERANCE (a test keeps the two equal).
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
MOUNT_VARIABLES = (
    "TRITON_AWS_MOUNT_DIRECTORY",
    "TRITON_GCS_MOUNT_DIRECTORY",
    "TRITON_AZURE_MOUNT_DIRECTORY",
)
# The golden data limits of orchestrator.core.untrusted / core.npz (a test keeps them equal):
MAX_GOLDEN_BYTES = 64 * 1024 * 1024  # golden.npz on disk, and all its arrays together
MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
MAX_ELEMENTS = 4_000_000  # all arrays of one golden.npz together
MAX_RTOL = 1.0  # orchestrator.core.golden.MAX_RTOL / MAX_ATOL
MAX_ATOL = 1e6
_CHUNK = 1 << 20
MAX_TIMEOUT_S = 3600.0
PROGRESS_FILE = "triton-orchestrator/golden-probe-passed.json"  # under /tmp, an emptyDir
_DESCR = re.compile(r"([<>|=])([biufS])(\d{1,4})")
_UNSIGNED: dict[int, Any] = {1: "B", 2: "H", 4: "I", 8: "Q"}
MAX_RESPONSE_BYTES = 128 * 1024 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_VERSION = re.compile(r"[0-9]{1,18}")

# numpy dtype kind+size -> (Triton datatype, struct code); BYTES is handled apart.
_DTYPES = {
    ("b", 1): ("BOOL", "?"),
    ("u", 1): ("UINT8", "B"),
    ("u", 2): ("UINT16", "H"),
    ("u", 4): ("UINT32", "I"),
    ("u", 8): ("UINT64", "Q"),
    ("i", 1): ("INT8", "b"),
    ("i", 2): ("INT16", "h"),
    ("i", 4): ("INT32", "i"),
    ("i", 8): ("INT64", "q"),
    ("f", 2): ("FP16", "e"),
    ("f", 4): ("FP32", "f"),
    ("f", 8): ("FP64", "d"),
}
_CODES = {triton: code for triton, code in _DTYPES.values()}


class _ProbeError(Exception):
    """A golden check cannot run or failed; the message is the one-line reason.

    Private on purpose: this file must run without the orchestrator package, so it
    cannot raise from orchestrator/errors.py; nothing outside it ever sees this class.
    """


@dataclass(frozen=True)
class Tensor:
    """A flat row-major tensor: Triton datatype, shape and values (bytes for BYTES)."""

    datatype: str
    shape: tuple[int, ...]
    values: Sequence[Any]

    @property
    def is_float(self) -> bool:
        """Whether the comparison uses the float tolerance rule."""
        return self.datatype in ("FP16", "FP32", "FP64")


@dataclass(frozen=True)
class ProbeReport:
    """What the probe checked ("model/version") and why it failed (one line each)."""

    ok: bool
    checked: tuple[str, ...]
    failures: tuple[str, ...]


# -- golden.npz without numpy or pickle ---------------------------------------------------
# The same rule as orchestrator.core.npz (a test keeps the two in agreement): headers are
# read and checked against the limits before any data is read, numbers are kept as their
# little-endian bytes (never one Python object per element), and the file is opened
# without following links or blocking on a FIFO.
class _Numbers(Sequence[Any]):
    """A flat run of little-endian numbers read on demand: no Python object per element."""

    def __init__(self, raw: bytes, code: str) -> None:
        self.raw, self.code = raw, code
        self._size = struct.calcsize(code)

    def __len__(self) -> int:
        return len(self.raw) // self._size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return struct.unpack_from(f"<{self.code}", self.raw, index * self._size)[0]

    def __iter__(self) -> Iterator[Any]:
        return (value for (value,) in struct.iter_unpack(f"<{self.code}", self.raw))

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __hash__(self) -> int:
        return hash((self.raw, self.code))


def _npy_header(name: str, head: bytes) -> tuple[str, bool, tuple[int, ...], int]:
    """(descr, fortran_order, shape, data offset) of a checked ``.npy`` header."""
    if len(head) < 12 or not head.startswith(b"\x93NUMPY"):
        raise _ProbeError(f"{name} is not a .npy array (bad magic)")
    major = head[6]
    if major not in (1, 2, 3):
        raise _ProbeError(f"{name} has .npy format version {major}; expected 1, 2 or 3")
    start = 10 if major == 1 else 12  # version 1 has a 2-byte header length, later ones 4
    (length,) = struct.unpack("<H" if major == 1 else "<I", head[8:start])
    if length > MAX_NPY_HEADER or start + length > len(head):
        raise _ProbeError(f"{name} has a {length}-byte .npy header (limit {MAX_NPY_HEADER})")
    try:
        text = head[start : start + length].decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise _ProbeError(f"{name} has an unreadable .npy header: {exc}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _ProbeError(f"{name}: the .npy header is not {{descr, fortran_order, shape}}")
    shape, descr, fortran = header["shape"], header["descr"], header["fortran_order"]
    if (
        not isinstance(shape, tuple)
        or len(shape) > 32
        or not all(type(d) is int and 0 <= d < 2**48 for d in shape)
        or math.prod(d for d in shape if d) >= 2**48  # numpy refuses an overflowing size
    ):
        raise _ProbeError(f"{name}: .npy shape {str(shape)[:80]} is not a tuple of sizes")
    if not isinstance(fortran, bool):
        raise _ProbeError(f"{name}: .npy fortran_order is {str(fortran)[:40]}, not a bool")
    match = _DESCR.fullmatch(descr) if isinstance(descr, str) else None
    kind = match.group(2) if match else ""
    size = int(match.group(3)) if match else 0
    if match is None or (kind != "S" and (kind, size) not in _DTYPES) or (kind == "S" and size < 1):
        raise _ProbeError(
            f"{name} has dtype {str(descr)[:40]!r}; golden data must be bools, ints, floats "
            "or fixed-width bytes (object arrays would need pickle, which is refused)"
        )
    return descr, fortran, shape, start + length


def _parse_npy(name: str, data: bytes, deadline: float = math.inf) -> Tensor:
    descr, fortran, shape, start = _npy_header(name, data[: MAX_NPY_HEADER + 12])
    kind, size = descr[1], int(descr[2:])
    count = math.prod(shape)
    body = data[start:]
    if len(body) != count * size:
        raise _ProbeError(
            f"{name} holds {len(body)} data bytes; its header declares {count * size}"
        )
    if fortran and len(shape) > 1:
        body = _fortran_to_c(body, shape, size, deadline)
    if kind == "S":
        values = tuple(body[i * size : (i + 1) * size].rstrip(b"\0") for i in range(count))
        return Tensor("BYTES", shape, values)
    datatype, code = _DTYPES[(kind, size)]
    if descr[0] == ">" and size > 1:
        swapped = array.array(_UNSIGNED[size], body)
        swapped.byteswap()
        body = swapped.tobytes()
    return Tensor(datatype, shape, _Numbers(bytes(body), code))


def _fortran_to_c(body: bytes, shape: tuple[int, ...], size: int, deadline: float) -> bytes:
    """Reorder column-major data to row-major by strided copies of whole runs.

    One copy per run along the longer of the first and last axes (the first is
    contiguous in the input, the last in the output): no Python object per element.
    """
    count = math.prod(shape)
    if count == 0:
        return body
    source = memoryview(body).cast(_UNSIGNED[size]) if size in _UNSIGNED else None
    if source is None:  # fixed-width bytes of another size: one slice per element
        source_items = [body[i * size : (i + 1) * size] for i in range(count)]
        f_strides = [math.prod(shape[:k]) for k in range(len(shape))]
        out = []
        for number, index in enumerate(itertools.product(*(range(d) for d in shape))):
            if number % 65536 == 0 and time.monotonic() > deadline:
                raise _ProbeError("ran out of time while reordering a Fortran-order array")
            out.append(source_items[sum(i * s for i, s in zip(index, f_strides, strict=True))])
        return b"".join(out)
    target = bytearray(count * size)
    out_view = memoryview(target).cast(_UNSIGNED[size])
    f_strides = [math.prod(shape[:k]) for k in range(len(shape))]
    c_strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    axis = 0 if shape[0] >= shape[-1] else len(shape) - 1
    others = [k for k in range(len(shape)) if k != axis]
    extent = shape[axis]
    for number, index in enumerate(itertools.product(*(range(shape[k]) for k in others))):
        if number % 4096 == 0 and time.monotonic() > deadline:
            raise _ProbeError("ran out of time while reordering a Fortran-order array")
        f_at = sum(i * f_strides[k] for i, k in zip(index, others, strict=True))
        c_at = sum(i * c_strides[k] for i, k in zip(index, others, strict=True))
        fs, cs = f_strides[axis], c_strides[axis]
        out_view[c_at : c_at + cs * (extent - 1) + 1 : cs] = source[
            f_at : f_at + fs * (extent - 1) + 1 : fs
        ]
    return bytes(target)


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading: a regular file, never a link, a FIFO or a device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _ProbeError(
                f"{path} is a symbolic link; golden data is read from files"
            ) from None
        raise _ProbeError(f"no golden data at {path} ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise _ProbeError(f"{path} is not a regular file (a FIFO, socket or device?)")
    if info.st_size > MAX_GOLDEN_BYTES:
        os.close(fd)
        raise _ProbeError(f"{path} is {info.st_size} bytes (limit {MAX_GOLDEN_BYTES})")
    return os.fdopen(fd, "rb")


def read_npz(path: Path, *, deadline: float = math.inf) -> dict[str, Tensor]:
    """Read an ``.npz`` archive of plain arrays, refusing pickles and oversized data.

    Every header is checked against the limits (bytes, elements) before the data of any
    array is read; data is read in chunks, and ``deadline`` (``time.monotonic``) is
    checked between chunks and arrays.

    Raises:
        _ProbeError: the file is missing, not a regular file, too large, not a zip of
            ``.npy`` arrays, holds a dtype that would need pickle, or time ran out.

    Example:
        >>> arrays = read_npz(Path("model_repository/cancer_mlp/1/golden.npz"))  # doctest: +SKIP
        >>> arrays["inputs/features"].shape  # doctest: +SKIP
        (16, 30)
    """
    arrays: dict[str, Tensor] = {}
    try:
        with _open_regular(path) as handle, zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise _ProbeError(f"{path} has {len(members)} members (limit {MAX_MEMBERS})")
            total_bytes = total_count = 0
            for member in members:  # every header first, before any data is read
                if not member.filename.endswith(".npy"):
                    raise _ProbeError(f"{path} holds {member.filename[:80]!r}, not an .npy array")
                name = f"{path}:{member.filename}"
                with archive.open(member) as stream:
                    head = _read_chunked(stream, MAX_NPY_HEADER + 12, deadline, name)
                descr, _, shape, start = _npy_header(name, head)
                declared = math.prod(shape) * int(descr[2:])
                if member.file_size - start != declared:
                    raise _ProbeError(
                        f"{name} declares {declared} data bytes but holds "
                        f"{member.file_size - start}"
                    )
                total_bytes += member.file_size
                total_count += math.prod(shape)
                if total_bytes > MAX_GOLDEN_BYTES:
                    raise _ProbeError(f"{path} unpacks to over {MAX_GOLDEN_BYTES} bytes")
                if total_count > MAX_ELEMENTS:
                    raise _ProbeError(f"{path} holds over {MAX_ELEMENTS} elements")
            for member in members:
                name = f"{path}:{member.filename}"
                with archive.open(member) as stream:
                    data = _read_chunked(stream, member.file_size + 1, deadline, name)
                if len(data) != member.file_size:
                    raise _ProbeError(f"{path}: member {member.filename!r} lies about its size")
                arrays[member.filename[: -len(".npy")]] = _parse_npy(name, data, deadline)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _ProbeError(f"cannot read {path} as .npz: {exc}") from None
    return arrays


def _read_chunked(stream: IO[bytes], limit: int, deadline: float, name: str) -> bytes:
    chunks, left = [], limit
    while left > 0:
        if time.monotonic() > deadline:
            raise _ProbeError(f"ran out of time reading {name}")
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- Triton over HTTP ---------------------------------------------------------------------
class _Http:
    def __init__(self, url: str, deadline: float) -> None:
        address = url.removeprefix("http://").rstrip("/")
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise _ProbeError(f"--url {url!r} is not HOST:PORT (e.g. 127.0.0.1:8000)")
        self.host, self.port, self.deadline = host, int(port), deadline

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _ProbeError(f"ran out of time before {method} {path}")
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
                    raise _ProbeError(f"ran out of time reading the answer to {method} {path}")
            if size > MAX_RESPONSE_BYTES:
                raise _ProbeError(f"{method} {path} answered over {MAX_RESPONSE_BYTES} bytes")
            if response.length:  # a Content-Length the body fell short of
                raise http.client.IncompleteRead(b"".join(chunks), response.length)
            return response.status, dict(response.getheaders()), b"".join(chunks)
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= self.deadline:
                raise _ProbeError(
                    f"{method} http://{self.host}:{self.port}{path}: no complete answer "
                    "before the deadline"
                ) from None
            raise _ProbeError(f"{method} http://{self.host}:{self.port}{path}: {exc}") from None
        finally:
            watchdog.cancel()
            if response is not None:
                response.close()  # read1 leaves the socket open at the end of the body
            connection.close()

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else b""
        status, _, data = self.request(method, path, body)
        if status != 200:
            raise _ProbeError(f"{method} {path} answered {status}: {_snippet(data)}")
        if len(data) > MAX_JSON_BYTES:
            raise _ProbeError(f"{method} {path} answered {len(data)} bytes of JSON")
        try:
            return json.loads(data)
        except ValueError:
            raise _ProbeError(f"{method} {path} answered non-JSON: {_snippet(data)}") from None

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
            except _ProbeError as exc:
                last = str(exc)
            if time.monotonic() + 0.5 >= self.deadline:
                what = f"models {', '.join(models)}" if models else "/v2/health/ready"
                raise _ProbeError(f"Triton was not ready ({what}): {last}")
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


def _served_versions(http: _Http) -> list[tuple[str, str]]:
    index = http.json("POST", "/v2/repository/index", {"ready": True})
    if not isinstance(index, list):
        raise _ProbeError(f"the repository index is not a list: {str(index)[:200]}")
    served = []
    for entry in index:
        if not isinstance(entry, dict) or entry.get("state") != "READY":
            continue
        name, version = str(entry.get("name", "")), str(entry.get("version", ""))
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
            raise _ProbeError(f"Triton reports an unexpected model {name!r} version {version!r}")
        served.append((name, version))
    return sorted(set(served))


def _tolerance(config: Any) -> tuple[float, float]:
    values = {"smoke_rtol": DEFAULT_RTOL, "smoke_atol": DEFAULT_ATOL}
    parameters = config.get("parameters") if isinstance(config, dict) else None
    for key in values:
        entry = parameters.get(key) if isinstance(parameters, dict) else None
        if entry is None:
            continue
        text = entry.get("string_value") if isinstance(entry, dict) else None
        try:
            value = float(str(text)[:64])
        except ValueError:
            raise _ProbeError(f"parameter {key} is {text!r}; expected a number") from None
        most = MAX_RTOL if key == "smoke_rtol" else MAX_ATOL
        if not math.isfinite(value) or not 0 <= value <= most:
            raise _ProbeError(f"parameter {key} is {text!r}; expected a number from 0 to {most:g}")
        values[key] = value
    return values["smoke_rtol"], values["smoke_atol"]


def _pack(tensor: Tensor, datatype: str) -> bytes:
    if datatype == "BYTES":
        if tensor.datatype != "BYTES":
            raise _ProbeError(f"golden holds {tensor.datatype}, the model takes BYTES")
        return b"".join(struct.pack("<I", len(v)) + v for v in tensor.values)
    if datatype not in _CODES or tensor.datatype == "BYTES":
        raise _ProbeError(f"cannot send golden {tensor.datatype} data as {datatype}")
    code = _CODES[datatype]
    values = tensor.values
    if isinstance(values, _Numbers) and values.code == code:
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
        raise _ProbeError(f"golden values do not fit {datatype}: {exc}") from None
    return b"".join(packed)


def _unpack(name: str, datatype: str, shape: tuple[int, ...], raw: bytes) -> Tensor:
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise _ProbeError(f"output {name!r} has {count} elements (limit {MAX_ELEMENTS})")
    if datatype == "BYTES":
        values, offset = [], 0
        for _ in range(count):
            if offset + 4 > len(raw):
                raise _ProbeError(f"output {name!r}: truncated BYTES data")
            (length,) = struct.unpack_from("<I", raw, offset)
            values.append(raw[offset + 4 : offset + 4 + length])
            offset += 4 + length
        return Tensor(datatype, shape, tuple(values))
    if datatype not in _CODES:
        raise _ProbeError(f"output {name!r} has datatype {datatype!r}, which is not supported")
    code = _CODES[datatype]
    if len(raw) != count * struct.calcsize(code):
        raise _ProbeError(f"output {name!r}: {len(raw)} bytes for shape {list(shape)}")
    return Tensor(datatype, shape, _Numbers(bytes(raw), code))


def _infer(
    http: _Http, model: str, version: str, inputs: Mapping[str, Tensor]
) -> dict[str, Tensor]:
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
            raise _ProbeError(
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
        raise _ProbeError(f"inference answered {status}: {_snippet(data)}")
    return _outputs(data, headers)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _ProbeError(f"{what} is not a JSON object: {str(value)[:200]}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _ProbeError(f"{what} is not a JSON list: {str(value)[:200]}")
    return value


def _size(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**40:
        raise _ProbeError(f"{what} is {value!r}; expected a size")
    return value


def _outputs(data: bytes, headers: Mapping[str, str]) -> dict[str, Tensor]:
    """Parse an answer: a JSON header, then binary tensors (or JSON ``data``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    length_text = lowered.get("inference-header-content-length", str(len(data)))
    if not length_text.isdigit() or int(length_text) > len(data):
        raise _ProbeError(f"Inference-Header-Content-Length is {length_text!r}")
    json_length = int(length_text)
    try:
        answer = _dict(json.loads(data[:json_length]), "the inference answer")
    except ValueError:
        raise _ProbeError(f"inference answered non-JSON: {_snippet(data)}") from None
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
            raise _ProbeError(f"output {name!r} data does not fit shape {list(shape)}")
        values = [v.encode() if isinstance(v, str) else v for v in flat]
        outputs[name] = Tensor(datatype, shape, tuple(values))
    return outputs


# -- the comparison (orchestrator.core.golden's rule) -------------------------------------
def _compare(
    name: str, got: Tensor, want: Tensor, rtol: float, atol: float, deadline: float = math.inf
) -> str | None:
    if got.shape != want.shape:
        return f"output {name!r} has shape {list(got.shape)}, golden has {list(want.shape)}"
    if len(got.values) != len(want.values):
        return f"output {name!r} has {len(got.values)} values for shape {list(got.shape)}"
    if (got.datatype == "BYTES") != (want.datatype == "BYTES"):
        return f"output {name!r} is {got.datatype}, golden is {want.datatype}"
    if got.is_float or want.is_float:
        worst: tuple[float, int, float] | None = None  # (excess, index, error)
        for index, (a, b) in enumerate(zip(got.values, want.values, strict=True)):
            if index % 65536 == 0 and time.monotonic() > deadline:
                raise _ProbeError(f"ran out of time comparing output {name!r}")
            a, b = float(a), float(b)
            if math.isnan(a) and math.isnan(b):
                continue
            error = abs(a - b)
            error = math.inf if math.isnan(error) else error
            allowed = atol + rtol * abs(0.0 if math.isnan(b) else b)
            if error > allowed and (worst is None or error - allowed > worst[0]):
                worst = (error - allowed, index, error)
        if worst is None:
            return None
        _, index, error = worst
        return (
            f"output {name!r}[{index}] is {got.values[index]!r}, expected "
            f"{want.values[index]!r} (abs error {error:.3g}, rtol {rtol:g}, atol {atol:g})"
        )
    for index, (a, b) in enumerate(zip(got.values, want.values, strict=True)):
        if a != b:
            return f"output {name!r}[{index}] is {a!r}, expected {b!r} (exact match)"
    return None


def _check_version(http: _Http, version_dir: Path, model: str, version: str) -> list[str]:
    arrays = read_npz(version_dir / "golden.npz", deadline=http.deadline)
    inputs = {k.removeprefix("inputs/"): v for k, v in arrays.items() if k.startswith("inputs/")}
    expected = {
        k.removeprefix("outputs/"): v for k, v in arrays.items() if k.startswith("outputs/")
    }
    if not inputs or not expected:
        raise _ProbeError(f"golden.npz has keys {sorted(arrays)}; needs inputs/ and outputs/")
    rtol, atol = _tolerance(http.json("GET", f"/v2/models/{quote(model)}/config"))
    served = _infer(http, model, version, inputs)
    problems = []
    for name, want in expected.items():
        if name not in served:
            problems.append(f"output {name!r} is missing from the answer (got {sorted(served)})")
            continue
        problem = _compare(name, served[name], want, rtol, atol, http.deadline)
        if problem:
            problems.append(problem)
    return problems


def probe(url: str, repository: Path, *, timeout_s: float) -> ProbeReport:
    """Check the served versions of ``repository``'s models against their golden data.

    This is the post-rollout smoke: ``repository`` holds a release's files
    (``<model>/<version>/golden.npz``). Every model in it must be served, and every
    version Triton serves of those models must answer its golden inputs. Models Triton
    serves that the release does not hold are not checked (a shared server); in a pod,
    the startup probe (``main`` without ``--repository``) checks every served model.

    Args:
        url: Triton's HTTP ``host:port``.
        repository: the release's files.
        timeout_s: the whole budget, including the wait until the models are ready.

    Returns:
        A report; ``ok`` only when at least one version was checked and none failed.

    Example:
        >>> probe("127.0.0.1:8000", Path("/tmp/release"), timeout_s=30).ok  # doctest: +SKIP
        True
    """
    wanted = _release_models(repository)
    if isinstance(wanted, str):
        return ProbeReport(False, (), (wanted,))
    return _probe(url, lambda model: repository / model, timeout_s, wanted)


def _release_models(repository: Path) -> set[str] | str:
    """The model folders of a release's files, or why there are none."""
    try:
        wanted = {p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except OSError as exc:
        return f"cannot read {repository}: {exc.strerror}"
    return wanted or f"{repository} holds no model folder"


def _probe(
    url: str,
    model_dir: Callable[[str], Path],
    timeout_s: float,
    wanted: set[str] | None,
    resume: _Resume | None = None,
) -> ProbeReport:
    http = _Http(url, time.monotonic() + timeout_s)
    checked: list[str] = []
    failures: list[str] = []
    try:
        http.wait_ready(sorted(wanted) if wanted is not None else None)
        served = _served_versions(http)
    except _ProbeError as exc:
        return ProbeReport(False, (), (str(exc),))
    if wanted is not None:
        missing = sorted(wanted - {model for model, _ in served})
        failures += [
            f"{model}: in the release but not served by Triton at {url}" for model in missing
        ]
        served = [(model, version) for model, version in served if model in wanted]
    if not served and not failures:
        failures.append(f"Triton at {url} serves no model version")
    left: list[str] = []
    for model, version in served:
        label = f"{model}/{version}"
        try:
            version_dir = model_dir(model) / version
        except _ProbeError as exc:
            failures.append(f"{label}: {exc}")
            continue
        key = resume.key(label, version_dir) if resume else None
        if resume is not None and key in resume.passed:
            checked.append(label)  # passed in an earlier run of this container's probe
            continue
        if checked and time.monotonic() >= http.deadline:
            left.append(label)  # the next run resumes here
            continue
        checked.append(label)
        try:
            problems = _check_version(http, version_dir, model, version)
        except _ProbeError as exc:
            problems = [str(exc)]
        if not problems and resume is not None and key is not None:
            resume.add(key)
        failures.extend(f"{label}: {p}" for p in problems)
    if left:
        failures.append(
            f"{len(left)} version(s) not checked yet ({', '.join(left[:5])}"
            f"{', ...' if len(left) > 5 else ''}): this run's {timeout_s:g} s are spent"
            + ("; the next run resumes with them" if resume else "")
        )
    logger.info("Golden probe of %s: %d checked, %d failed", url, len(checked), len(failures))
    return ProbeReport(not failures, tuple(checked), tuple(failures))


class _Resume:
    """The versions that passed in earlier runs of the startup probe in this container.

    Kept in a small JSON file under ``/tmp`` (an emptyDir in the pod), so each run of
    the probe checks the versions not passed yet and a release of many models passes
    over several runs, each within its own budget. A version is keyed by its golden
    file's identity (device, inode, size, modification time): a restarted container
    with new copies of the files checks everything again.
    """

    MAX_BYTES = 4 << 20

    def __init__(self, path: Path) -> None:
        self.path = path
        self.passed: set[str] = set()
        try:
            with _open_regular(path) as handle:
                body = json.loads(handle.read(self.MAX_BYTES))
            if isinstance(body, list):
                self.passed = {str(item) for item in body}
        except (_ProbeError, ValueError, RecursionError, OSError):
            self.passed = set()  # none yet, or unreadable: check everything

    def key(self, label: str, version_dir: Path) -> str | None:
        try:
            info = (version_dir / "golden.npz").lstat()
        except OSError:
            return None
        return f"{label}:{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"

    def add(self, key: str) -> None:
        self.passed.add(key)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(sorted(self.passed)))
            os.replace(temporary, self.path)
        except OSError as exc:  # a read-only /tmp: every run checks every version
            logger.warning("cannot record progress in %s: %s", self.path, exc.strerror)


def find_model_dirs(environ: Mapping[str, str]) -> Callable[[str], Path]:
    """Where each served model's files are inside the pod (see the module docstring).

    With a local ``MODEL_REPOSITORY`` that is ``<repository>/<model>``. Serving from
    object storage, Triton copies each model on its own into a ``folderXXXXXX`` under
    the mount directory, so a copy is named by its config.pbtxt's ``name`` line (only
    that line is read); the newest copy of a model wins, since an emptyDir outlives a
    crashed container.

    Example:
        >>> find_model_dirs({"MODEL_REPOSITORY": "/models"})("alpha")
        PosixPath('/models/alpha')
    """
    configured = environ.get("MODEL_REPOSITORY", "")
    if configured and "://" not in configured:
        return lambda model: Path(configured) / model

    def locate(model: str) -> Path:
        # Read when asked, after Triton is ready: its copies appear while it loads.
        found = _copies(environ)
        if model not in found:
            where = " / ".join(f"${v}" for v in MOUNT_VARIABLES)
            raise _ProbeError(
                f"no copy of model {model!r} under {where} (MODEL_REPOSITORY is "
                f"{configured!r}; copies found: {sorted(found) or 'none'}); pass --repository"
            )
        return found[model]

    return locate


def _copies(environ: Mapping[str, str]) -> dict[str, Path]:
    copies: list[Path] = []
    for variable in MOUNT_VARIABLES:
        mount = environ.get(variable)
        if mount and Path(mount).is_dir():
            copies.extend(p for p in Path(mount).glob("folder*") if p.is_dir())
    dated = []
    for copy in copies:
        try:
            dated.append((copy.stat().st_mtime, copy))
        except OSError:  # a copy removed by an exiting Triton meanwhile
            continue
    found: dict[str, Path] = {}
    for _, copy in sorted(dated):
        name = _config_name(copy / "config.pbtxt")
        if name is not None:
            found[name] = copy
    return found


def _config_name(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_JSON_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r'^name\s*:\s*"([A-Za-z0-9_.-]{1,200})"', text, re.MULTILINE)
    return match.group(1) if match else None


def main(argv: list[str] | None = None) -> int:
    """Command line: exit 0 when every served version answers its golden data, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="127.0.0.1:8000", help="Triton's HTTP host:port")
    parser.add_argument("--repository", type=Path, help="the release's files (found if omitted)")
    parser.add_argument("--timeout-s", type=float, default=20.0, help="this run's budget")
    parser.add_argument(
        "--progress-file",
        type=Path,
        default=Path(tempfile.gettempdir()) / PROGRESS_FILE,
        help="where versions that passed are recorded, so the next run resumes after them "
        "(default: under $TMPDIR or /tmp, the pod's emptyDir)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.timeout_s <= MAX_TIMEOUT_S:
        parser.error(f"--timeout-s must be from 0 to {MAX_TIMEOUT_S}, got {args.timeout_s}")
    resume = _Resume(args.progress_file)
    if args.repository is not None:
        wanted = _release_models(args.repository)
        if isinstance(wanted, str):
            report = ProbeReport(False, (), (wanted,))
        else:
            model_dir: Callable[[str], Path] = lambda model: args.repository / model  # noqa: E731
            report = _probe(args.url, model_dir, args.timeout_s, wanted, resume)
    else:
        report = _probe(args.url, find_model_dirs(os.environ), args.timeout_s, None, resume)
    for failure in report.failures:
        print(f"golden probe: FAILED {failure}", file=sys.stderr)  # noqa: T201 - a command line
    if report.ok:
        print(f"golden probe: ok {' '.join(report.checked)}")  # noqa: T201
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
