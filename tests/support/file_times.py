"""File times in tests: moving a file's ctime, and nothing else, past a coarse clock's tick."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["move_ctime"]


def move_ctime(path: Path, before: os.stat_result) -> None:
    """Wait until ``path``'s ctime differs from ``before``'s, touching nothing else.

    File systems stamp times from a coarse clock (a tick of ms), so a write just after
    ``before`` may keep its ctime; a chmod to the same mode sets the ctime to now and
    changes nothing else. What a same-size edit with its mtime put back leaves behind.
    """
    while os.stat(path, follow_symlinks=False).st_ctime_ns == before.st_ctime_ns:
        time.sleep(0.001)
        os.chmod(path, os.stat(path, follow_symlinks=False).st_mode)
