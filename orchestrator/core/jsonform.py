"""Plain JSON-ready data for a result type's ``as_dict()``: tuples become lists, mappings dicts.

- Every result a command prints under ``--format json`` has its JSON form as its own
  ``as_dict()`` method; ``plain`` is for one that starts from ``dataclasses.asdict``,
  which keeps tuples (and nested dataclasses' tuples) as they are.
- The output is what ``json.loads(json.dumps(...))`` would give back, so a caller can
  compare or extend it as data; the JSON text itself is the same either way.

Example:
    >>> plain({"versions": (1, 2), "pods": ({"waiting": ()},)})
    {'versions': [1, 2], 'pods': [{'waiting': []}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["plain"]


def plain(value: Any) -> Any:
    """``value`` with every tuple or list a list and every mapping a dict, recursively.

    Example:
        >>> plain((1, {"a": (2,)}))
        [1, {'a': [2]}]
    """
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value
