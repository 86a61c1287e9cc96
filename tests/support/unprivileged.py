"""Run a block as an unprivileged user when the tests run as root.

Root reads every file whatever its mode, so a folder made unreadable with ``chmod 0``
is only unreadable to another user. Both the real and the effective uid change (click
checks readability with ``os.access``, which looks at the real one); the saved uid
stays root, so the block can come back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when root; as the current user otherwise."""
    if os.geteuid() != 0:
        yield
        return
    _import_what_printing_needs()
    os.setresuid(NOBODY, NOBODY, 0)
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)


def open_to_everyone(root: Path) -> None:
    """Make ``root`` and everything under it readable and writable by every user."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)


@contextlib.contextmanager
def shared_folder(prefix: str) -> Iterator[Path]:
    """A temporary folder another user can reach (pytest's tmp_path is root's only)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o777)
        shutil.rmtree(root)


def _import_what_printing_needs() -> None:
    """Import the CLI's output modules (rich and numpy under them) while still root.

    The commands import them only when they print, and ``nobody`` cannot read this
    interpreter's standard library (under /root): a first import as ``nobody`` fails
    (``No module named 'colorsys'``, rich's), so whether a block passed used to depend
    on which tests had run before it in the same process.
    """
    import orchestrator.cli.output as output

    for module in pkgutil.iter_modules(output.__path__):
        importlib.import_module(f"{output.__name__}.{module.name}")
