"""Paths the python backend stub can take: plain ASCII, no spaces, no shell characters.

Triton starts each python backend stub through ``bash -c "exec <stub> <model path>
..."`` without quoting, so a model repository or backend directory whose path holds a
space never starts its stub (the model stays LOADING), and a non-ASCII path reaches the
stub mangled (its model file is "not found"). Such a path is served through a link of
plain name in a scratch folder under a plain temporary directory; every other path is
passed as it is.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

from orchestrator.errors import ServerError

__all__ = ["SCRATCH_PREFIX", "plain_scratch_dir", "stub_safe", "stub_safe_view"]

logger = logging.getLogger(__name__)

SCRATCH_PREFIX = "orchestrator-triton-"
# What survives bash's word splitting and globbing, and the stub's argument parsing.
_PLAIN = re.compile(r"[A-Za-z0-9._/+,=@:-]+")
_FALLBACK_BASES = ("/tmp", "/var/tmp", "/dev/shm")


def stub_safe(path: Path) -> bool:
    """Whether the stub takes ``path`` (an absolute, resolved path) as it is.

    Example:
        >>> stub_safe(Path("/srv/model_repository")), stub_safe(Path("/srv/my models"))
        (True, False)
    """
    return bool(_PLAIN.fullmatch(str(path)))


def plain_scratch_dir() -> Path:
    """A new, empty folder whose resolved path ``stub_safe`` accepts; the caller removes it.

    Raises:
        ServerError: neither the temporary directory nor /tmp, /var/tmp or /dev/shm
            resolves to a plain path that can be written to.

    Example:
        >>> folder = plain_scratch_dir()  # doctest: +SKIP
    """
    candidates = [tempfile.gettempdir(), *_FALLBACK_BASES]
    for base in candidates:
        resolved = Path(base).resolve()
        if not stub_safe(resolved) or not os.access(resolved, os.W_OK | os.X_OK):
            continue
        try:
            return Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=resolved))
        except OSError:
            continue
    raise ServerError(
        f"None of {', '.join(candidates)} is a writable folder with a plain path (ASCII "
        "letters, digits, '._-/'), which the python backend stub needs. Set TMPDIR to one."
    )


def stub_safe_view(path: Path, scratch: Path, name: str) -> Path:
    """``path`` itself when the stub takes it, else a link ``scratch/name`` to it.

    Args:
        path: the folder Triton must read (resolved to an absolute path here).
        scratch: a folder from ``plain_scratch_dir``.
        name: the link's name (plain).

    Raises:
        ServerError: the link cannot be made.

    Example:
        >>> stub_safe_view(Path("/srv/my models"), Path("/tmp/s"), "repository")  # doctest: +SKIP
        PosixPath('/tmp/s/repository')
    """
    resolved = path.resolve()
    if stub_safe(resolved):
        return resolved
    link = scratch / name
    try:
        link.symlink_to(resolved, target_is_directory=True)
    except OSError as exc:
        raise ServerError(
            f"Cannot link {link} to {resolved} ({exc.strerror or exc}); Triton's python "
            "backend stub cannot take that path as it is. Move the folder to a path without "
            "spaces or non-ASCII characters."
        ) from exc
    logger.info("Serving %s through %s (the stub cannot take its path)", resolved, link)
    return link
