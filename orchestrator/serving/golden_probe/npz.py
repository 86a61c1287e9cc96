"""golden.npz without numpy or pickle, every size capped before the data is read.

The same rule as ``orchestrator.core.npz`` (a test keeps the two in agreement):

- headers are read and checked against the limits before any data is read;
- numbers are kept as their little-endian bytes (never one Python object per element);
- the file is opened without following links or blocking on a FIFO;
- a ``deadline`` (``time.monotonic``) is checked between chunks and arrays.
"""

from __future__ import annotations

import array
import ast
import errno
import itertools
import math
import os
import re
import stat
import struct
import time
import zipfile
from pathlib import Path
from typing import IO, BinaryIO

from .errors import ProbeError
from .tensor import DTYPES, UNSIGNED, Numbers, Tensor

__all__ = [
    "MAX_ELEMENTS",
    "MAX_GOLDEN_BYTES",
    "MAX_MEMBERS",
    "MAX_NPY_HEADER",
    "open_regular",
    "read_chunked",
    "read_npz",
]

# The golden data limits of orchestrator.core.untrusted / core.npz (a test keeps them equal):
MAX_GOLDEN_BYTES = 64 * 1024 * 1024  # golden.npz on disk, and all its arrays together
MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
MAX_ELEMENTS = 4_000_000  # all arrays of one golden.npz together
_CHUNK = 1 << 20
_DESCR = re.compile(r"([<>|=])([biufS])(\d{1,4})")


def _npy_header(name: str, head: bytes) -> tuple[str, bool, tuple[int, ...], int]:
    """(descr, fortran_order, shape, data offset) of a checked ``.npy`` header."""
    if len(head) < 12 or not head.startswith(b"\x93NUMPY"):
        raise ProbeError(f"{name} is not a .npy array (bad magic)")
    major = head[6]
    if major not in (1, 2, 3):
        raise ProbeError(f"{name} has .npy format version {major}; expected 1, 2 or 3")
    start = 10 if major == 1 else 12  # version 1 has a 2-byte header length, later ones 4
    (length,) = struct.unpack("<H" if major == 1 else "<I", head[8:start])
    if length > MAX_NPY_HEADER or start + length > len(head):
        raise ProbeError(f"{name} has a {length}-byte .npy header (limit {MAX_NPY_HEADER})")
    try:
        text = head[start : start + length].decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise ProbeError(f"{name} has an unreadable .npy header: {exc}") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ProbeError(f"{name}: the .npy header is not {{descr, fortran_order, shape}}")
    shape, descr, fortran = header["shape"], header["descr"], header["fortran_order"]
    if (
        not isinstance(shape, tuple)
        or len(shape) > 32
        or not all(type(d) is int and 0 <= d < 2**48 for d in shape)
        or math.prod(d for d in shape if d) >= 2**48  # numpy refuses an overflowing size
    ):
        raise ProbeError(f"{name}: .npy shape {str(shape)[:80]} is not a tuple of sizes")
    if not isinstance(fortran, bool):
        raise ProbeError(f"{name}: .npy fortran_order is {str(fortran)[:40]}, not a bool")
    match = _DESCR.fullmatch(descr) if isinstance(descr, str) else None
    kind = match.group(2) if match else ""
    size = int(match.group(3)) if match else 0
    if match is None or (kind != "S" and (kind, size) not in DTYPES) or (kind == "S" and size < 1):
        raise ProbeError(
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
        raise ProbeError(f"{name} holds {len(body)} data bytes; its header declares {count * size}")
    if fortran and len(shape) > 1:
        body = _fortran_to_c(body, shape, size, deadline)
    if kind == "S":
        values = tuple(body[i * size : (i + 1) * size].rstrip(b"\0") for i in range(count))
        return Tensor("BYTES", shape, values)
    datatype, code = DTYPES[(kind, size)]
    if descr[0] == ">" and size > 1:
        swapped = array.array(UNSIGNED[size], body)
        swapped.byteswap()
        body = swapped.tobytes()
    return Tensor(datatype, shape, Numbers(bytes(body), code))


def _fortran_to_c(body: bytes, shape: tuple[int, ...], size: int, deadline: float) -> bytes:
    """Reorder column-major data to row-major by strided copies of whole runs.

    One copy per run along the longer of the first and last axes (the first is
    contiguous in the input, the last in the output): no Python object per element.
    """
    count = math.prod(shape)
    if count == 0:
        return body
    source = memoryview(body).cast(UNSIGNED[size]) if size in UNSIGNED else None
    if source is None:  # fixed-width bytes of another size: one slice per element
        source_items = [body[i * size : (i + 1) * size] for i in range(count)]
        f_strides = [math.prod(shape[:k]) for k in range(len(shape))]
        out = []
        for number, index in enumerate(itertools.product(*(range(d) for d in shape))):
            if number % 65536 == 0 and time.monotonic() > deadline:
                raise ProbeError("ran out of time while reordering a Fortran-order array")
            out.append(source_items[sum(i * s for i, s in zip(index, f_strides, strict=True))])
        return b"".join(out)
    target = bytearray(count * size)
    out_view = memoryview(target).cast(UNSIGNED[size])
    f_strides = [math.prod(shape[:k]) for k in range(len(shape))]
    c_strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    axis = 0 if shape[0] >= shape[-1] else len(shape) - 1
    others = [k for k in range(len(shape)) if k != axis]
    extent = shape[axis]
    for number, index in enumerate(itertools.product(*(range(shape[k]) for k in others))):
        if number % 4096 == 0 and time.monotonic() > deadline:
            raise ProbeError("ran out of time while reordering a Fortran-order array")
        f_at = sum(i * f_strides[k] for i, k in zip(index, others, strict=True))
        c_at = sum(i * c_strides[k] for i, k in zip(index, others, strict=True))
        fs, cs = f_strides[axis], c_strides[axis]
        out_view[c_at : c_at + cs * (extent - 1) + 1 : cs] = source[
            f_at : f_at + fs * (extent - 1) + 1 : fs
        ]
    return bytes(target)


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading: a regular file, never a link, a FIFO or a device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ProbeError(f"{path} is a symbolic link; golden data is read from files") from None
        raise ProbeError(f"no golden data at {path} ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ProbeError(f"{path} is not a regular file (a FIFO, socket or device?)")
    if info.st_size > MAX_GOLDEN_BYTES:
        os.close(fd)
        raise ProbeError(f"{path} is {info.st_size} bytes (limit {MAX_GOLDEN_BYTES})")
    return os.fdopen(fd, "rb")


def read_npz(path: Path, *, deadline: float = math.inf) -> dict[str, Tensor]:
    """Read an ``.npz`` archive of plain arrays, refusing pickles and oversized data.

    Every header is checked against the limits (bytes, elements) before the data of any
    array is read; data is read in chunks, and ``deadline`` (``time.monotonic``) is
    checked between chunks and arrays.

    Raises:
        ProbeError: the file is missing, not a regular file, too large, not a zip of
            ``.npy`` arrays, holds a dtype that would need pickle, or time ran out.

    Example:
        >>> arrays = read_npz(Path("model_repository/cancer_mlp/1/golden.npz"))  # doctest: +SKIP
        >>> arrays["inputs/features"].shape  # doctest: +SKIP
        (16, 30)
    """
    arrays: dict[str, Tensor] = {}
    try:
        with open_regular(path) as handle, zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise ProbeError(f"{path} has {len(members)} members (limit {MAX_MEMBERS})")
            total_bytes = total_count = 0
            for member in members:  # every header first, before any data is read
                if not member.filename.endswith(".npy"):
                    raise ProbeError(f"{path} holds {member.filename[:80]!r}, not an .npy array")
                name = f"{path}:{member.filename}"
                with archive.open(member) as stream:
                    head = read_chunked(stream, MAX_NPY_HEADER + 12, deadline, name)
                descr, _, shape, start = _npy_header(name, head)
                declared = math.prod(shape) * int(descr[2:])
                if member.file_size - start != declared:
                    raise ProbeError(
                        f"{name} declares {declared} data bytes but holds "
                        f"{member.file_size - start}"
                    )
                total_bytes += member.file_size
                total_count += math.prod(shape)
                if total_bytes > MAX_GOLDEN_BYTES:
                    raise ProbeError(f"{path} unpacks to over {MAX_GOLDEN_BYTES} bytes")
                if total_count > MAX_ELEMENTS:
                    raise ProbeError(f"{path} holds over {MAX_ELEMENTS} elements")
            for member in members:
                name = f"{path}:{member.filename}"
                with archive.open(member) as stream:
                    data = read_chunked(stream, member.file_size + 1, deadline, name)
                if len(data) != member.file_size:
                    raise ProbeError(f"{path}: member {member.filename!r} lies about its size")
                arrays[member.filename[: -len(".npy")]] = _parse_npy(name, data, deadline)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ProbeError(f"cannot read {path} as .npz: {exc}") from None
    return arrays


def read_chunked(stream: IO[bytes], limit: int, deadline: float, name: str) -> bytes:
    """Up to ``limit`` bytes of ``stream``, read in chunks with ``deadline`` checked between."""
    chunks, left = [], limit
    while left > 0:
        if time.monotonic() > deadline:
            raise ProbeError(f"ran out of time reading {name}")
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
