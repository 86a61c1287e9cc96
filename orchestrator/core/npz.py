"""The one reader of ``.npz`` / ``.npy`` data the orchestrator did not write (golden files).

A 1 KB archive can declare an array of billions of elements in its ``.npy`` header, and
numpy allocates what the header declares before it reads a byte of data. So every array
header is read and checked here **before** numpy sees the archive:

* the archive holds at most ``MAX_MEMBERS`` members, each an ``.npy`` array;
* each header is at most ``MAX_NPY_HEADER`` bytes, a literal dict with ``descr``,
  ``fortran_order`` and ``shape`` (read with ``ast.literal_eval``, never pickle);
* the dtype is one Triton has a datatype for (bools, ints, floats) or fixed-width bytes;
* the data the header declares is exactly the bytes the member holds, and all arrays
  together hold at most ``untrusted.GOLDEN_MAX_BYTES`` bytes and
  ``untrusted.GOLDEN_MAX_ELEMENTS`` elements.

The limits are the startup probe's (``serving/golden_probe/npz.py``, which runs in the pods
without this package and keeps its own stdlib twin of this rule; a test holds the two
equal and makes them agree on every header), so ``validate`` and ``publish`` refuse what
the probe would refuse. ``publish``, ``validate``, ``smoke``, ``swap``, ``infer`` and
``bench`` read golden data only through ``load``.
"""

from __future__ import annotations

import ast
import io
import math
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from orchestrator.core import untrusted
from orchestrator.errors import ConfigError

__all__ = ["MAX_MEMBERS", "MAX_NPY_HEADER", "ArrayHeader", "check_npz", "load", "read_header"]

MAX_MEMBERS = 256
MAX_NPY_HEADER = 4096
_DESCR = re.compile(r"([<>|=])([biufS])(\d{1,4})")
_SIZES = {"b": (1,), "u": (1, 2, 4, 8), "i": (1, 2, 4, 8), "f": (2, 4, 8)}


@dataclass(frozen=True)
class ArrayHeader:
    """What one ``.npy`` header declares, and where its data starts."""

    descr: str
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int

    @property
    def count(self) -> int:
        """The number of elements the header declares."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """The data bytes the header declares."""
        return self.count * int(self.descr[2:])


def read_header(name: str, head: bytes) -> ArrayHeader:
    """Parse the ``.npy`` header at the start of ``head`` (``MAX_NPY_HEADER`` + 12 bytes).

    Raises:
        ConfigError: bad magic or version, a header over the limit or not a literal dict,
            a shape that is not a tuple of sizes, or a dtype golden data cannot hold.

    Example:
        >>> buffer = io.BytesIO(); np.save(buffer, np.zeros((2, 3), np.float32))
        >>> read_header("x.npy", buffer.getvalue()).shape
        (2, 3)
    """
    if len(head) < 12 or not head.startswith(b"\x93NUMPY"):
        raise ConfigError(f"{name} is not a .npy array (bad magic).")
    major = head[6]
    if major not in (1, 2, 3):
        raise ConfigError(f"{name} has .npy format version {major}; expected 1, 2 or 3.")
    start = 10 if major == 1 else 12  # version 1 has a 2-byte header length, later ones 4
    (length,) = struct.unpack("<H" if major == 1 else "<I", head[8:start])
    if length > MAX_NPY_HEADER or start + length > len(head):
        raise ConfigError(
            f"{name} has a {length}-byte .npy header (limit {MAX_NPY_HEADER}, and it must "
            "fit the file)."
        )
    try:
        text = head[start : start + length].decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise ConfigError(f"{name} has an unreadable .npy header: {exc}.") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ConfigError(f"{name}: the .npy header is not {{descr, fortran_order, shape}}.")
    shape, descr, fortran = header["shape"], header["descr"], header["fortran_order"]
    if (
        not isinstance(shape, tuple)
        or len(shape) > 32
        or not all(type(d) is int and 0 <= d < 2**48 for d in shape)
        or math.prod(d for d in shape if d) >= 2**48  # numpy refuses an overflowing size
    ):
        raise ConfigError(f"{name}: .npy shape {str(shape)[:80]} is not a tuple of sizes.")
    if not isinstance(fortran, bool):
        raise ConfigError(f"{name}: .npy fortran_order is {str(fortran)[:40]}, not a bool.")
    match = _DESCR.fullmatch(descr) if isinstance(descr, str) else None
    kind = match.group(2) if match else ""
    size = int(match.group(3)) if match else 0
    if match is None or (kind != "S" and size not in _SIZES[kind]) or (kind == "S" and size < 1):
        raise ConfigError(
            f"{name} has dtype {str(descr)[:40]!r}; golden data must be bools, ints, floats "
            "or fixed-width bytes (object arrays would need pickle, which is refused)."
        )
    normal = f"{'<' if match.group(1) in '<=' else match.group(1)}{kind}{size}"
    if size == 1 or kind == "S":
        normal = f"|{kind}{size}"
    return ArrayHeader(normal, fortran, shape, start + length)


def check_npz(archive: zipfile.ZipFile, source: Path | str) -> list[ArrayHeader]:
    """Every member's header, checked against the limits before any array is allocated.

    Raises:
        ConfigError: as ``read_header``; too many members, a member that is not an
            ``.npy``, data that is not what its header declares, or over the limits.
    """
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ConfigError(f"{source} has {len(members)} members (limit {MAX_MEMBERS}).")
    headers = []
    total_bytes = total_count = 0
    for member in members:
        name = f"{source}:{member.filename}"
        if not member.filename.endswith(".npy"):
            raise ConfigError(f"{source} holds {member.filename[:80]!r}, not an .npy array.")
        with archive.open(member) as handle:
            header = read_header(name, _read_head(handle))
        total_bytes += header.nbytes
        total_count += header.count
        if member.file_size - header.data_offset != header.nbytes:
            raise ConfigError(
                f"{name} declares shape {list(header.shape)} of {header.descr} "
                f"({header.nbytes} bytes) but holds {member.file_size - header.data_offset}."
            )
        if total_bytes > untrusted.GOLDEN_MAX_BYTES or total_count > untrusted.GOLDEN_MAX_ELEMENTS:
            raise ConfigError(
                f"Golden data {source} holds over {untrusted.GOLDEN_MAX_BYTES} bytes or "
                f"{untrusted.GOLDEN_MAX_ELEMENTS} elements (the startup probe's limits); it "
                "was not loaded. A golden file holds a few samples: export fewer."
            )
        headers.append(header)
    return headers


def load(raw: bytes, source: Path | str, what: str = "golden data") -> dict[str, NDArray[Any]]:
    """The arrays of ``.npz`` bytes (or one ``.npy``, keyed ``""``), headers checked first.

    Raises:
        ConfigError: not an ``.npz`` / ``.npy``, or as ``check_npz``.

    Example:
        >>> buffer = io.BytesIO(); np.savez(buffer, x=np.ones(2))
        >>> load(buffer.getvalue(), "x.npz")["x"].tolist()
        [1.0, 1.0]
    """
    try:
        if raw.startswith(b"\x93NUMPY"):
            header = read_header(str(source), raw[: MAX_NPY_HEADER + 12])
            if len(raw) - header.data_offset != header.nbytes or header.count > (
                untrusted.GOLDEN_MAX_ELEMENTS
            ):
                raise ConfigError(
                    f"{source} declares {header.count} elements ({header.nbytes} bytes) but "
                    f"holds {len(raw) - header.data_offset} bytes, or is over the "
                    f"{untrusted.GOLDEN_MAX_ELEMENTS} element limit."
                )
            return {"": np.load(io.BytesIO(raw), allow_pickle=False)}
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            check_npz(archive, source)
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise ConfigError(
            f"Cannot read {what} {source}: {exc}. Expected an .npz file of plain arrays "
            "(inputs/<tensor> and outputs/<tensor> for golden data)."
        ) from exc


def read(path: Path, what: str = "golden data") -> dict[str, NDArray[Any]]:
    """``load`` of a file read under the untrusted rule (a regular file, size-capped).

    Raises:
        ConfigError: as ``load``; UnsafeFileError: as ``untrusted.read_bytes``.
    """
    raw = untrusted.read_bytes(path.parent, path.name, max_bytes=untrusted.GOLDEN_MAX_BYTES)
    return load(raw, path, what)


def _read_head(handle: IO[bytes]) -> bytes:
    head = b""
    while len(head) < MAX_NPY_HEADER + 12:
        chunk = handle.read(MAX_NPY_HEADER + 12 - len(head))
        if not chunk:
            break
        head += chunk
    return head
