"""Every exit of a deploy undoes: SIGINT and SIGTERM become errors the undo path handles.

A Ctrl-C, a cancelled GitHub job or its timeout (the runner sends SIGINT, then SIGTERM
7.5 s later, then kills 2.5 s after that: GitHub's "Workflow cancellation reference")
must not leave an unsmoked release rolling out. While ``undo_on_signals`` is active, the
first SIGINT or SIGTERM raises ``Interrupted`` (a ``DeployError``) wherever the deploy is,
so its ``except`` path issues ``kubectl rollout undo`` at once; a second signal raises
``Aborted`` (the undo, or the wait for it, stops; the message says what was left).
Handlers can only be set in the main thread; elsewhere signals keep their defaults.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from orchestrator.errors import DeployError

__all__ = ["Aborted", "Interrupted", "Signals", "undo_on_signals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(DeployError):
    """The deploy received SIGINT or SIGTERM: undo, then exit."""


class Aborted(DeployError):
    """A second signal arrived while the deploy was undoing: stop now."""


@dataclass
class Signals:
    """What arrived: how many signals, and the first one's name."""

    count: int = 0
    name: str = ""

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: ``Interrupted`` the first time, ``Aborted`` after."""
        del frame
        name = signal.Signals(signum).name
        self.count += 1
        if self.count == 1:
            self.name = name
            raise Interrupted(
                f"{name} received: undoing before exit (a second signal stops the undo)."
            )
        raise Aborted(f"a second signal ({name}) stopped the undo")


@contextmanager
def undo_on_signals() -> Iterator[Signals]:
    """Turn SIGINT and SIGTERM into ``Interrupted``, then ``Aborted``, inside the block.

    Example:
        >>> with undo_on_signals() as signals:  # doctest: +SKIP
        ...     deploy_steps()
    """
    state = Signals()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous: dict[int, Any] = {number: signal.getsignal(number) for number in _SIGNALS}
    for number in _SIGNALS:
        signal.signal(number, state.handle)
    try:
        yield state
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
