"""Which folders of a model are versions, read as Triton 24.10's core reads their names.

Core r24.10 ``src/model_repository_manager/model_lifecycle.cc`` ``VersionsToLoad`` parses
each sub-folder's name with ``std::stoll`` (a prefix parse), and the backend then loads a
version from ``<model>/<std::to_string(version)>`` (``backend_model.cc``
``TritonModel::Create``), as the uint64 ``TRITONBACKEND_ModelVersion`` gives it. Findings
here name folders whose name and version disagree.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.findings import Finding, Severity, new_finding
from orchestrator.errors import UnsafeFileError
from orchestrator.repository.layout import STAGING_PREFIX

__all__ = [
    "SKIPPED_FOLDERS",
    "UNSERVED",
    "VersionOutOfRange",
    "core_version",
    "has_backend_folder",
    "ignored_folder",
    "misnamed_version",
    "version_folders",
]

# Folders VersionsToLoad skips before it parses a name (core r24.10
# src/model_repository_manager/model_lifecycle.cc, VersionsToLoad: kWarmupDataFolder,
# kInitialStateFolder, kModelConfigFolder).
SKIPPED_FOLDERS = frozenset({"warmup", "initial_state", "configs"})
_INT64_MAX = 2**63 - 1
_C_SPACE = " \t\n\v\f\r"


class VersionOutOfRange(ValueError):
    """``std::stoll`` throws ``std::out_of_range``, which ``VersionsToLoad`` does not catch."""


def core_version(name: str) -> int | None:
    """The version Triton 24.10 reads from a folder name, or None when it ignores the folder.

    Core r24.10 ``model_lifecycle.cc`` ``VersionsToLoad``: skip ``warmup``,
    ``initial_state`` and ``configs``; ignore a name longer than one character that starts
    with ``0``; else ``std::stoll(subdir)``, a *prefix* parse (leading C whitespace, an
    optional sign, then decimal digits; the rest is dropped), ignoring the folder only when
    no digit comes first (``std::invalid_argument``).

    Raises:
        VersionOutOfRange: the number does not fit in int64 (``std::out_of_range``, which
            ``VersionsToLoad`` does not catch).

    Example:
        >>> [core_version(n) for n in ("1", "01", "1a", "+2", " 3", "-1", "v1", "0")]
        [1, None, 1, 2, 3, -1, None, 0]
    """
    if name in SKIPPED_FOLDERS or (len(name) > 1 and name[0] == "0"):
        return None
    rest = name.lstrip(_C_SPACE)
    sign = 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    digits = ""
    for char in rest:
        if not ("0" <= char <= "9"):
            break
        digits += char
    if not digits:
        return None
    value = sign * int(digits)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise VersionOutOfRange(name)
    return value


def version_folders(folder: Path) -> tuple[list[int], list[Path]]:
    """The versions Triton reads from a model's folders (ascending), and the folders it ignores.

    Versions follow core's parse (``core_version``); ``warmup``, ``initial_state`` and
    ``configs`` are neither. A folder whose number is out of int64's range is listed with
    the ignored ones (``out_of_range_folders`` reports it).

    Example:
        >>> version_folders(Path("model_repository/digits_cnn"))  # doctest: +SKIP
        ([1, 2], [PosixPath('model_repository/digits_cnn/.staging-41-ab12cd34')])
    """
    numeric: set[int] = set()
    other = []
    try:
        entries = untrusted.entries(folder)
    except UnsafeFileError:
        return [], []
    for entry in entries:
        if entry.kind != "folder" or entry.name in SKIPPED_FOLDERS:
            continue  # a link is not a version (tree_checks reports it)
        try:
            version = core_version(entry.name)
        except VersionOutOfRange:
            version = None
        if version is None:
            other.append(folder / entry.name)
        else:
            numeric.add(version)
    return sorted(numeric), other


UNSERVED = " (a version the version_policy does not serve)"


def _backend_folder(version: int) -> str:
    """The folder a backend loads version ``version`` from.

    Backends get the version as a uint64 (``TRITONBACKEND_ModelVersion``) and join it to the
    model folder, so -1 is looked for in "18446744073709551615" (seen with Triton 2.51).
    """
    return str(version % 2**64)


def has_backend_folder(folder: Path, version: int) -> bool:
    """Whether the folder the backend loads ``version`` from exists (unreadable: assumed).

    Example:
        >>> has_backend_folder(Path("model_repository/digits_cnn"), 1)  # doctest: +SKIP
        True
    """
    try:
        name = _backend_folder(version)
        return untrusted.kind_of(folder.parent, f"{folder.name}/{name}") == "folder"
    except UnsafeFileError:
        return True  # unreadable: _check_version reports it


def misnamed_version(folder: Path, version: int, severity: Severity) -> Finding:
    """The finding for a version whose folders' names are not the folder Triton loads.

    Example:
        >>> misnamed_version(Path("m"), 1, "error").code  # doctest: +SKIP
        'version-folder-misnamed'
    """
    # VersionsToLoad takes the number std::stoll reads from a folder name, and the backend
    # then loads <model>/<std::to_string(version)> (backend_model.cc, TritonModel::Create:
    # JoinPath({model_path, std::to_string(version)})).
    names = []
    try:
        entries = untrusted.entries(folder)
    except UnsafeFileError:
        entries = []
    for name in sorted(e.name for e in entries if e.kind == "folder"):
        try:
            if name not in SKIPPED_FOLDERS and core_version(name) == version:
                names.append(name)
        except VersionOutOfRange:
            continue
    unserved = "" if severity == "error" else UNSERVED
    return new_finding(
        "version-folder-misnamed",
        severity,
        folder / (names[0] if names else str(version)),
        f"folder{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)} "
        f"{'are' if len(names) > 1 else 'is'} version {version} to Triton (std::stoll reads "
        f"the leading number), which the backend then loads from "
        f"{_backend_folder(version)!r}/, and there is no such folder{unserved}",
        "Rename the folder to a positive number (digits only, no sign, spaces or suffix), "
        "or move it out of the model folder.",
    )


def ignored_folder(entry: Path) -> Finding:
    """The finding for a folder that is no version to Triton (or breaks its parse).

    Example:
        >>> ignored_folder(Path("m/backup")).code
        'version-folder-ignored'
    """
    try:
        core_version(entry.name)
    except VersionOutOfRange:
        # std::stoll throws std::out_of_range, which VersionsToLoad does not catch
        # (model_lifecycle.cc catches std::invalid_argument only).
        return new_finding(
            "version-out-of-range",
            "error",
            entry,
            f"folder {entry.name!r} starts with a number beyond int64, which Triton's "
            "version parse (std::stoll) cannot read: the load fails",
            "Rename it to a small version number, or move it out of the model folder.",
        )
    if entry.name.startswith(STAGING_PREFIX):
        return new_finding(
            "publish-leftover",
            "warning",
            entry,
            "staging folder of an interrupted publish (Triton ignores it)",
            "The next `orchestrator publish` of this model removes it; or delete it.",
        )
    return new_finding(
        "version-folder-ignored",
        "warning",
        entry,
        f"folder {entry.name!r} is not a version number to Triton (leading zero, or no "
        "leading digit), so Triton ignores it",
        "Rename it to a positive number without leading zeros, or move it out.",
    )
