"""Remembered verdicts: a repository unchanged since it passed is not validated again.

``release`` and ``sync`` refuse a repository with validation errors, and run the whole
validator for that on every call; for an unchanged repository that is the same answer
each time, at the cost of importing and running every check.

- The key (``tree_key``) is the sha256 of everything a finding can depend on: every entry
  of the repository as ``lstat`` sees it (name, kind, mode, owner, size, device, inode,
  ``mtime_ns``, ``ctime_ns``; links and special files are listed, never followed), the
  repository folder's own stat, who runs the check (permissions decide what Triton could
  read), the validator's parameters, and the validator itself: every source file of the
  ``orchestrator`` package and the libraries validation parses with (onnx, numpy,
  protobuf, tritonclient), by stat, with the Python version.
- An entry whose stat is unchanged has unchanged content, the digest cache's rule
  (``core.digest_cache``): any write or ``utime`` sets the ctime to the clock, and no call
  sets it back. As there, a tree whose newest change is less than the settle time old
  when validation starts is not remembered (a coarse clock's same tick), nor one that
  changed while it was validated.
- Only "no errors" is remembered, as ``VERDICT_FACT`` in the repository's digest cache.
  ``validate`` does not use it: it prints every warning, so it always checks.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orchestrator
from orchestrator.core import untrusted
from orchestrator.core.digest_cache import DigestCache
from orchestrator.errors import UnsafeFileError

if TYPE_CHECKING:
    from orchestrator.core.findings import Finding

__all__ = ["VERDICT_FACT", "TreeKey", "errors_unless_remembered", "tree_key"]

logger = logging.getLogger(__name__)

VERDICT_FACT = "validated-without-errors/1"
# What validation parses with, besides this package: a new version is a new verdict.
_LIBRARIES = ("onnx", "numpy", "google.protobuf", "tritonclient")


@dataclass(frozen=True)
class TreeKey:
    """The sha256 naming a repository's state for the validator, and its newest change."""

    sha256: str
    newest_change_ns: int


def tree_key(root: Path, *, triton_release: str, auto_complete: bool) -> TreeKey | None:
    """The key of ``root`` as it is now; None when it cannot be listed whole (validate it).

    Example:
        >>> tree_key(Path("repo"), triton_release="24.10", auto_complete=False)  # doctest: +SKIP
        TreeKey(sha256='5d1c...', newest_change_ns=1796700128000000000)
    """
    try:
        rows = [_stat_row(root, "", "folder")]
        rows += [_stat_row(root, entry.name, entry.kind) for entry in untrusted.walk(root)]
    except (UnsafeFileError, OSError):
        return None  # the validator reports what cannot be listed or read
    body = {
        "tree": rows,
        "user": [os.getuid(), os.getgid(), sorted(os.getgroups())],
        "parameters": [triton_release, auto_complete],
        "validator": _validator(),
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    newest = max(max(row[-2], row[-1]) for row in rows)
    return TreeKey(hashlib.sha256(text.encode()).hexdigest(), newest)


def errors_unless_remembered(
    root: Path,
    digests: DigestCache | None = None,
    *,
    triton_release: str | None = None,
    auto_complete: bool = False,
) -> list[Finding]:
    """The errors ``validate_repository`` finds in ``root``; none, unchecked, when remembered.

    With ``digests`` (the repository's digest cache), a repository whose ``tree_key`` was
    remembered as validated without errors is not validated again; one that validates
    without errors now is remembered (when settled and unchanged meanwhile). Without it,
    this is ``validate_repository``'s errors.
    """
    from orchestrator.repository.compatibility import DEFAULT_TRITON_RELEASE

    release = triton_release or DEFAULT_TRITON_RELEASE
    before = None
    if digests is not None:
        before = tree_key(root, triton_release=release, auto_complete=auto_complete)
        if before is not None and digests.recall(VERDICT_FACT, before.sha256) is True:
            logger.info("Validation of %s: unchanged since it passed, not run again", root)
            return []
    from orchestrator.repository.validation.validate import validate_repository

    started_ns = time.time_ns()
    errors = [
        finding
        for finding in validate_repository(
            root, triton_release=release, auto_complete=auto_complete, digests=digests
        )
        if finding.is_error
    ]
    if digests is not None and before is not None and not errors:
        settled = before.newest_change_ns + digests.settle_ns <= started_ns
        after = tree_key(root, triton_release=release, auto_complete=auto_complete)
        if settled and after == before:
            digests.remember(VERDICT_FACT, before.sha256, True)
    return errors


def _stat_row(root: Path, relative: str, kind: str) -> list[Any]:
    found = os.lstat(root / relative if relative else root)
    return [
        relative,
        kind,
        found.st_mode,
        found.st_uid,
        found.st_gid,
        found.st_size,
        found.st_dev,
        found.st_ino,
        found.st_mtime_ns,
        found.st_ctime_ns,
    ]


@functools.cache
def _validator() -> list[Any]:
    """This package's source files and the parsing libraries, by stat; the Python version."""
    package = Path(orchestrator.__file__).parent
    rows: list[Any] = [sys.version]
    for path in sorted(package.rglob("*.py")):
        found = path.stat()
        rows.append(
            [
                path.relative_to(package).as_posix(),
                found.st_size,
                found.st_mtime_ns,
                found.st_ctime_ns,
            ]
        )
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not os.path.exists(origin):
            rows.append([name, None])
            continue
        found = os.stat(origin)
        rows.append([name, origin, found.st_size, found.st_mtime_ns, found.st_ctime_ns])
    return rows
