"""The startup probe's progress: versions that passed in earlier runs in this container."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .errors import ProbeError
from .npz import open_regular

__all__ = ["Resume"]

logger = logging.getLogger(__name__)


class Resume:
    """The versions that passed in earlier runs of the startup probe in this container.

    Kept in a small JSON file under ``/tmp`` (an emptyDir in the pod), so each run of
    the probe checks the versions not passed yet and a release of many models passes
    over several runs, each within its own budget. A version is keyed by its golden
    file's identity (device, inode, size, modification time): a restarted container
    with new copies of the files checks everything again.
    """

    MAX_BYTES = 4 << 20

    def __init__(self, path: Path) -> None:
        self.path = path
        self.passed: set[str] = set()
        try:
            with open_regular(path) as handle:
                body = json.loads(handle.read(self.MAX_BYTES))
            if isinstance(body, list):
                self.passed = {str(item) for item in body}
        except (ProbeError, ValueError, RecursionError, OSError):
            self.passed = set()  # none yet, or unreadable: check everything

    def key(self, label: str, version_dir: Path) -> str | None:
        """The version's key (its golden file's identity), or None when there is no file."""
        try:
            info = (version_dir / "golden.npz").lstat()
        except OSError:
            return None
        return f"{label}:{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"

    def add(self, key: str) -> None:
        """Record ``key`` as passed (atomically; a read-only /tmp only logs a warning)."""
        self.passed.add(key)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(sorted(self.passed)))
            os.replace(temporary, self.path)
        except OSError as exc:  # a read-only /tmp: every run checks every version
            logger.warning("cannot record progress in %s: %s", self.path, exc.strerror)
