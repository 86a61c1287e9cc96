"""Things that are started and must be stopped: ``with`` starts them and always stops them.

- ``Started``: ``start`` returns the started object; ``stop`` runs on every exit from the
  ``with`` block, an exception or Ctrl-C included.
- Used by the local and container Tritons (``serving.triton.RunningTriton``) and by the
  background traffic of a swap (``performance.traffic``).
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TypeVar

__all__ = ["Started"]

_Self = TypeVar("_Self", bound="Started")


class Started(abc.ABC):
    """A context manager over ``start`` and ``stop``.

    Example:
        >>> class Lamp(Started):
        ...     def start(self): print("on"); return self
        ...     def stop(self): print("off")
        >>> with Lamp():
        ...     pass
        on
        off
    """

    @abc.abstractmethod
    def start(self: _Self) -> _Self:
        """Start it; return it, started."""

    @abc.abstractmethod
    def stop(self) -> object:
        """Stop it and release what it holds; safe to call when it is not running."""

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
