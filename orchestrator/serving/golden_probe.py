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
import ast
import http.client
import json
import logging
import math
import os
import re
import struct
import sys
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
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
MAX_GOLDEN_BYTES = 64 * 1024 * 1024  # golden.npz on disk, and all its arrays together
MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
MAX_ELEMENTS = 4_000_000
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
    values: tuple[Any, ...]

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
def _npy_header(name: str, data: bytes) -> tuple[dict[str, Any], int]:
    if not data.startswith(b"\x93NUMPY") or len(data) < 12:
        raise _ProbeError(f"{name} is not a .npy array (bad magic)")
    major = data[6]
    if major not in (1, 2, 3):
        raise _ProbeError(f"{name} has .npy format version {major}; expected 1, 2 or 3")
    start = 10 if major == 1 else 12  # version 1 has a 2-byte header length, later ones 4
    (length,) = struct.unpack("<H" if major == 1 else "<I", data[8:start])
    if length > MAX_NPY_HEADER:
        raise _ProbeError(f"{name} has a {length}-byte .npy header (limit {MAX_NPY_HEADER})")
    try:
        header = ast.literal_eval(data[start : start + length].decode("latin-1"))
    except (ValueError, SyntaxError) as exc:
        raise _ProbeError(f"{name} has an unreadable .npy header: {exc}") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise _ProbeError(f"{name}: .npy header lacks descr/fortran_order/shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _ProbeError(f"{name}: .npy shape {shape!r} is not a tuple of sizes")
    return header, start + length


def _parse_npy(name: str, data: bytes) -> Tensor:
    header, start = _npy_header(name, data)
    descr, shape = header["descr"], header["shape"]
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise _ProbeError(f"{name} has {count} elements (limit {MAX_ELEMENTS})")
    body = data[start:]
    match = re.fullmatch(r"([<>|=])([biufS])(\d+)", str(descr))
    if match is None:
        raise _ProbeError(
            f"{name} has dtype {descr!r}; golden data must be numbers, bools or bytes "
            "(object arrays would need pickle, which is refused)"
        )
    order, kind, size = match.group(1), match.group(2), int(match.group(3))
    if len(body) < count * size:
        raise _ProbeError(f"{name} holds {len(body)} data bytes; its header needs {count * size}")
    if kind == "S":
        values: list[Any] = [body[i * size : (i + 1) * size].rstrip(b"\0") for i in range(count)]
        datatype = "BYTES"
    else:
        if (kind, size) not in _DTYPES:
            raise _ProbeError(f"{name} has dtype {descr!r}, which Triton has no datatype for")
        datatype, code = _DTYPES[(kind, size)]
        endian = ">" if order == ">" else "<"
        values = list(struct.unpack(f"{endian}{count}{code}", body[: count * size]))
    if header["fortran_order"] is True and len(shape) > 1:
        values = _fortran_to_c(values, shape)
    return Tensor(datatype, tuple(shape), tuple(values))


def _fortran_to_c(values: list[Any], shape: tuple[int, ...]) -> list[Any]:
    strides, step = [], 1
    for dim in shape:  # column-major strides
        strides.append(step)
        step *= dim
    out = []
    for flat in range(len(values)):
        offset, rest = 0, flat
        for axis in range(len(shape) - 1, -1, -1):
            rest, index = divmod(rest, shape[axis])
            offset += index * strides[axis]
        out.append(values[offset])
    return out


def read_npz(path: Path) -> dict[str, Tensor]:
    """Read an ``.npz`` archive of plain arrays, refusing pickles and oversized data.

    Raises:
        _ProbeError: the file is missing, too large, not a zip of ``.npy`` arrays, or
            holds a dtype that would need pickle.

    Example:
        >>> arrays = read_npz(Path("model_repository/cancer_mlp/1/golden.npz"))  # doctest: +SKIP
        >>> arrays["inputs/features"].shape  # doctest: +SKIP
        (16, 30)
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _ProbeError(f"no golden data at {path} ({exc.strerror})") from None
    if size > MAX_GOLDEN_BYTES:
        raise _ProbeError(f"{path} is {size} bytes (limit {MAX_GOLDEN_BYTES})")
    arrays: dict[str, Tensor] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise _ProbeError(f"{path} has {len(members)} members (limit {MAX_MEMBERS})")
            for member in members:
                if not member.filename.endswith(".npy"):
                    raise _ProbeError(f"{path} holds {member.filename!r}, not an .npy array")
                total += member.file_size
                if total > MAX_GOLDEN_BYTES:
                    raise _ProbeError(f"{path} unpacks to over {MAX_GOLDEN_BYTES} bytes")
                with archive.open(member) as handle:
                    data = handle.read(member.file_size + 1)
                if len(data) != member.file_size:
                    raise _ProbeError(f"{path}: member {member.filename!r} lies about its size")
                key = member.filename[: -len(".npy")]
                arrays[key] = _parse_npy(f"{path}:{member.filename}", data)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _ProbeError(f"cannot read {path} as .npz: {exc}") from None
    return arrays


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
        try:
            connection.request(method, path, body=body or None, headers=dict(headers or {}))
            response = connection.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
            if len(data) > MAX_RESPONSE_BYTES:
                raise _ProbeError(f"{method} {path} answered over {MAX_RESPONSE_BYTES} bytes")
            return response.status, dict(response.getheaders()), data
        except (OSError, http.client.HTTPException) as exc:
            raise _ProbeError(f"{method} http://{self.host}:{self.port}{path}: {exc}") from None
        finally:
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
            value = float(str(text))
        except ValueError:
            raise _ProbeError(f"parameter {key} is {text!r}; expected a number") from None
        if not math.isfinite(value) or value < 0:
            raise _ProbeError(f"parameter {key} is {text!r}; expected a number >= 0")
        values[key] = value
    return values["smoke_rtol"], values["smoke_atol"]


def _pack(tensor: Tensor, datatype: str) -> bytes:
    if datatype == "BYTES":
        if tensor.datatype != "BYTES":
            raise _ProbeError(f"golden holds {tensor.datatype}, the model takes BYTES")
        return b"".join(struct.pack("<I", len(v)) + v for v in tensor.values)
    if datatype not in _CODES or tensor.datatype == "BYTES":
        raise _ProbeError(f"cannot send golden {tensor.datatype} data as {datatype}")
    values: Sequence[Any] = tensor.values
    if datatype in ("FP16", "FP32", "FP64"):
        values = [float(v) for v in values]
    elif datatype == "BOOL":
        values = [bool(v) for v in values]
    else:
        values = [int(v) for v in values]
    try:
        return struct.pack(f"<{len(values)}{_CODES[datatype]}", *values)
    except (struct.error, OverflowError) as exc:
        raise _ProbeError(f"golden values do not fit {datatype}: {exc}") from None


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
    return Tensor(datatype, shape, struct.unpack(f"<{count}{code}", raw))


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
def _compare(name: str, got: Tensor, want: Tensor, rtol: float, atol: float) -> str | None:
    if got.shape != want.shape:
        return f"output {name!r} has shape {list(got.shape)}, golden has {list(want.shape)}"
    if (got.datatype == "BYTES") != (want.datatype == "BYTES"):
        return f"output {name!r} is {got.datatype}, golden is {want.datatype}"
    if got.is_float or want.is_float:
        worst: tuple[float, int, float] | None = None  # (excess, index, error)
        for index, (a, b) in enumerate(zip(got.values, want.values, strict=True)):
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
    arrays = read_npz(version_dir / "golden.npz")
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
        problem = _compare(name, served[name], want, rtol, atol)
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
    try:
        wanted = {p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except OSError as exc:
        return ProbeReport(False, (), (f"cannot read {repository}: {exc.strerror}",))
    if not wanted:
        return ProbeReport(False, (), (f"{repository} holds no model folder",))
    return _probe(url, lambda model: repository / model, timeout_s, wanted)


def _probe(
    url: str, model_dir: Callable[[str], Path], timeout_s: float, wanted: set[str] | None
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
    for model, version in served:
        label = f"{model}/{version}"
        checked.append(label)
        try:
            problems = _check_version(http, model_dir(model) / version, model, version)
        except _ProbeError as exc:
            problems = [str(exc)]
        failures.extend(f"{label}: {p}" for p in problems)
    logger.info("Golden probe of %s: %d checked, %d failed", url, len(checked), len(failures))
    return ProbeReport(not failures, tuple(checked), tuple(failures))


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
    parser.add_argument("--timeout-s", type=float, default=20.0, help="the whole budget")
    args = parser.parse_args(argv)
    if not args.timeout_s > 0:
        parser.error(f"--timeout-s must be positive, got {args.timeout_s}")
    if args.repository is not None:
        report = probe(args.url, args.repository, timeout_s=args.timeout_s)
    else:
        report = _probe(args.url, find_model_dirs(os.environ), args.timeout_s, None)
    for failure in report.failures:
        print(f"golden probe: FAILED {failure}", file=sys.stderr)  # noqa: T201 - a command line
    if report.ok:
        print(f"golden probe: ok {' '.join(report.checked)}")  # noqa: T201
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
