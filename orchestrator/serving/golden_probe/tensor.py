"""Tensors as the probe holds them: flat row-major values without numpy.

- ``Tensor``: a Triton datatype, a shape and the values (bytes for BYTES).
- ``Numbers``: a run of little-endian numbers read on demand, never one Python object
  per element.
- ``DTYPES`` / ``CODES``: numpy dtype kind and size -> Triton datatype and struct code.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CODES", "DTYPES", "UNSIGNED", "Numbers", "Tensor"]

UNSIGNED: dict[int, Any] = {1: "B", 2: "H", 4: "I", 8: "Q"}  # size -> struct code

# numpy dtype kind+size -> (Triton datatype, struct code); BYTES is handled apart.
DTYPES = {
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
CODES = {triton: code for triton, code in DTYPES.values()}


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


class Numbers(Sequence[Any]):
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
