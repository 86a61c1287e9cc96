"""Print what a command returns under ``--format json``: one line of JSON on stdout.

- Every result type owns its JSON form: an ``as_dict()`` method, in the library module
  that defines the type, returning plain JSON-ready data. This module knows no result type.
- ``echo_json`` serializes any mix of plain data and such results (a list of listings, a
  dict with a report inside) the same way for every command, and prints it. Its argument
  is typed (``JsonOutput``), so mypy refuses a result type without ``as_dict()``.
- A value that is neither JSON-ready nor has ``as_dict()`` is a bug: ``TypeError`` names it.

Example:
    >>> echo_json({"ok": True})  # doctest: +SKIP
    {"ok": true}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeAlias, runtime_checkable

import click

__all__ = ["JsonOutput", "SupportsAsDict", "echo_json"]


@runtime_checkable
class SupportsAsDict(Protocol):
    """A result type with its own JSON form."""

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""


# What a command prints: one result, a list of results, or plain data around them. Typed so
# that mypy refuses a result type without ``as_dict()`` at the call.
JsonOutput: TypeAlias = SupportsAsDict | Sequence[SupportsAsDict] | Mapping[str, Any]


def echo_json(data: JsonOutput) -> None:
    """Print ``data`` as one line of JSON on stdout; a result inside becomes its ``as_dict()``.

    Raises:
        TypeError: something in ``data`` has no JSON form (a bug: give its type an
            ``as_dict()`` method).

    Example:
        >>> echo_json([finding])  # doctest: +SKIP
        [{"code": "dtype-mismatch", ...}]
    """
    click.echo(json.dumps(data, default=_json_form))


def _json_form(value: object) -> dict[str, Any]:
    if isinstance(value, SupportsAsDict):
        return value.as_dict()
    raise TypeError(
        f"{type(value).__name__} has no JSON form. Give it an as_dict() method in the "
        "library module that defines it, returning JSON-ready data."
    )
