"""Run a function in a forked child, for the tests of concurrent publishes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def fork_call(fn: Callable[[], Any]) -> int:
    """Call ``fn`` in a forked child that exits 0 (1 if ``fn`` raised); return its pid.

    The child never returns into pytest: it leaves with ``os._exit``.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            fn()
        except BaseException:
            code = 1
        os._exit(code)
    return pid
