"""One reason the onnxruntime backend refuses a model, and how its messages print values.

* ``LoadProblem``: a stable ``code`` and the message, worded as the real backend words it.
* ``shape_text`` and ``names_text``: dims and tensor names as the messages show them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LoadProblem", "names_text", "shape_text"]


@dataclass(frozen=True)
class LoadProblem:
    """One reason the backend refuses a model: a stable ``code`` and the backend's message.

    ``str()`` of a problem is its message, worded as the real backend words it.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def shape_text(dims: Sequence[int]) -> str:
    """Dims as the backend prints them.

    Example:
        >>> shape_text((-1, 4))
        '[-1,4]'
    """
    return "[" + ",".join(str(d) for d in dims) + "]"


def names_text(items: Mapping[str, Any] | Sequence[str]) -> str:
    """Tensor names, sorted and comma-separated, or ``(none)``.

    Example:
        >>> names_text(["y", "x"])
        'x, y'
    """
    return ", ".join(sorted(items)) or "(none)"
