"""The untrusted-input rule as findings: links, special files, names leaving their folder.

``orchestrator.core.untrusted`` is the rule every verb reads a repository by; here its
breaches become findings. They are errors although Triton itself would follow a link:
a release copies regular files only and refuses the repository, so ``validate`` says so
first, with the path, and nothing is read through the link or from the special file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.findings import Finding, Severity, new_finding
from orchestrator.errors import UnsafeFileError
from orchestrator.repository.layout import is_version

__all__ = ["UNSAFE_CODES", "model_tree_findings", "unsafe_finding"]

logger = logging.getLogger(__name__)

UNSAFE_CODES = {
    "link": "unsafe-link",
    "special": "not-a-regular-file",
    "outside": "unsafe-path",
    "too-large": "file-too-large",
    "unreadable": "file-unreadable",
    "missing": "file-missing",
}
_HINTS = {
    "link": "Replace the link with the file or folder it points to (links are refused, also "
    "those that stay inside the repository).",
    "special": "Replace it with a regular file; nothing is read from a FIFO, socket or device.",
    "outside": "Name files inside their folder: no absolute paths, no '..'.",
    "too-large": "Check that it is the file it claims to be; files read into memory are capped.",
    "unreadable": "Check its permissions.",
    "missing": "Publish the version again.",
}


def unsafe_finding(exc: UnsafeFileError, severity: Severity = "error", suffix: str = "") -> Finding:
    """The finding for one breach of the untrusted-input rule.

    Example:
        >>> unsafe_finding(UnsafeFileError("x is a link", path=Path("x"), reason="link")).code
        'unsafe-link'
    """
    message = str(exc).split(". ", 1)[0].removeprefix(f"{exc.path} ")
    return new_finding(
        UNSAFE_CODES.get(exc.reason, "file-unreadable"),
        severity,
        exc.path,
        f"{message}{suffix}",
        _HINTS.get(exc.reason, "Check the file."),
    )


def model_tree_findings(root: Path, model: str) -> list[Finding]:
    """Every link and special file in a model folder (walked without following links).

    Example:
        >>> [f.code for f in model_tree_findings(Path("repo"), "digits")]  # doctest: +SKIP
        ['unsafe-link']
    """
    try:
        found = untrusted.walk(root, model)
    except UnsafeFileError as exc:
        folder = root / model
        own = exc.path == folder or (exc.path.parent == folder and is_version(exc.path.name))
        if exc.reason == "unreadable" and own:
            # The model folder or one directly in it (a version folder): validate reports
            # those itself as `folder-unreadable`, with the chmod that fixes it.
            return []
        return [unsafe_finding(exc)]
    findings = []
    for entry in found:
        if entry.kind in ("link", "special"):
            try:
                untrusted.require_kind(root / model, entry, "file")
            except UnsafeFileError as exc:
                findings.append(unsafe_finding(exc))
    return findings
