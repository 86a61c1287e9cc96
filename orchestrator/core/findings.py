"""One problem the offline validator found: ``Finding``, with a stable code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Finding", "Severity", "line_of", "new_finding"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One thing the validator found.

    Attributes:
        code: stable identifier, e.g. ``dtype-mismatch`` (documented in docs/repository.md).
        severity: ``error`` where Triton would refuse to load the model, else ``warning``.
        path: the file or folder concerned.
        line: the line in ``path``, when there is one.
        message: what is wrong, with the values on both sides.
        hint: what to try.
    """

    code: str
    severity: Severity
    path: Path
    line: int | None
    message: str
    hint: str

    @property
    def is_error(self) -> bool:
        """Whether Triton would refuse to load the model because of this."""
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.severity} [{self.code}] {self.message}. {self.hint}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (``path`` as a string)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "path": str(self.path),
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
        }


def line_of(text: str, *needles: str) -> int | None:
    r"""The 1-based line of the first line that holds every needle, or None.

    Example:
        >>> line_of('name: "m"\ninput { name: "x" }', 'name: "x"')
        2
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if all(needle in line for needle in needles):
            return number
    return None


def new_finding(
    code: str, severity: Severity, path: Path, message: str, hint: str, line: int | None = None
) -> Finding:
    """A ``Finding`` with the line last (it is often unknown).

    Example:
        >>> new_finding("no-versions", "error", Path("m"), "no versions", "Publish one.").is_error
        True
    """
    return Finding(code, severity, path, line, message, hint)
