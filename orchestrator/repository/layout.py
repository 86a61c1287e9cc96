"""The on-disk layout of a model repository: ``<root>/<model>/<version>/<files>``.

This module owns the paths (``version_dir``), the listing of models and versions, the
version policy (which versions Triton serves), the per-version file manifest
(``manifest.json``: sha256 and size of every other file in the version folder) and the
prefix of the staging folders a publish renames into place (``STAGING_PREFIX``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.model_config import CONFIG_FILENAME, ModelConfig
from orchestrator.errors import RepositoryError, UnsafeFileError

__all__ = [
    "MANIFEST_FILENAME",
    "STAGING_PREFIX",
    "is_file",
    "is_folder",
    "is_version",
    "model_names",
    "read_manifest",
    "require_readable",
    "served_versions",
    "unreadable_reason",
    "version_dir",
    "version_manifest",
    "version_numbers",
    "write_manifest",
]

logger = logging.getLogger(__name__)

MANIFEST_FILENAME = "manifest.json"
# A publish assembles a version in <model>/<STAGING_PREFIX><pid>-<token> and renames it
# into place; Triton ignores the folder (not a number), the validator reports leftovers.
STAGING_PREFIX = ".staging-"


def version_dir(root: Path, model: str, version: int) -> Path:
    """The folder of one model version: ``<root>/<model>/<version>``."""
    return root / model / str(version)


def model_names(root: Path) -> list[str]:
    """The models of a repository: sub-folders that hold a config.pbtxt, sorted.

    Read under the untrusted-input rule (``core.untrusted``): a folder that is a symbolic
    link is not a model here (``validate`` reports it, ``release`` refuses it).

    Raises:
        RepositoryError: ``root`` is not a readable folder.
    """
    if not root.is_dir():
        raise RepositoryError(
            f"Model repository {root} does not exist or is not a directory. "
            "Pass the folder that holds <model>/config.pbtxt, e.g. model_repository/."
        )
    names = []
    for entry in untrusted.entries(root):
        if entry.kind != "folder":
            continue
        require_readable(root / entry.name, "model folder")
        try:
            kind = untrusted.kind_of(root, f"{entry.name}/{CONFIG_FILENAME}")
        except UnsafeFileError:
            continue  # its folder changed meanwhile: not a model we can describe
        if kind not in (None, "folder"):
            names.append(entry.name)
    return names


def version_numbers(model_dir: Path) -> list[int]:
    """The numeric version folders of a model, ascending (Triton ignores the others).

    A version folder that is a symbolic link is not a version here (``core.untrusted``).

    Raises:
        RepositoryError: the model folder cannot be read.
    """
    try:
        found = untrusted.entries(model_dir)
    except UnsafeFileError as exc:
        if exc.reason == "missing":
            return []
        require_readable(model_dir, "model folder")
        raise
    return sorted(int(e.name) for e in found if e.kind == "folder" and is_version(e.name))


def unreadable_reason(folder: Path) -> str | None:
    """Why ``folder`` cannot be listed or entered, or None when it can.

    Example:
        >>> unreadable_reason(Path("."))
        >>> unreadable_reason(Path("/nonexistent/model"))
        'No such file or directory'
    """
    try:
        os.stat(folder / ".")  # entering needs x, listing needs r
        with os.scandir(folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def require_readable(folder: Path, what: str) -> None:
    """Raise unless ``folder`` can be listed and entered.

    Raises:
        RepositoryError: it cannot; the message names it, why, and the chmod that fixes it.

    Example:
        >>> require_readable(Path("."), "model folder")
    """
    reason = unreadable_reason(folder)
    if reason is not None:
        raise RepositoryError(
            f"Cannot read {what} {folder}: {reason}. Give the user running orchestrator "
            f"read and enter permission on it (chmod -R u+rX {folder}), or move it out of "
            "the repository."
        )


def is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot even be examined.

    Example:
        >>> is_folder(Path("/nonexistent/model"))
        False
    """
    try:
        return path.is_dir()
    except OSError:
        return False


def is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False when it cannot even be examined (a name too long).

    Example:
        >>> is_file(Path("x" * 5000) / "config.pbtxt")
        False
    """
    try:
        return path.is_file()
    except OSError:
        return False


def is_version(name: str) -> bool:
    """Whether Triton takes a folder named ``name`` as a version: a number written plainly.

    ``0`` is version 0; ``01``, ``+1`` or ``1.0`` are ignored (checked with Triton 2.51).

    Example:
        >>> [is_version(n) for n in ("0", "7", "01", "v1")]
        [True, True, False, False]
    """
    return name.isdigit() and name.isascii() and str(int(name)) == name


def served_versions(config: ModelConfig, available: list[int]) -> list[int]:
    """The versions Triton serves under the config's ``version_policy``, ascending.

    ``latest`` (the default, with ``num_versions: 1``) takes the highest numbers, ``all``
    takes every version, ``specific`` takes the listed ones that exist.

    Example:
        >>> served_versions(ModelConfig(), [1, 2, 3])  # doctest: +SKIP
        [3]
    """
    versions = sorted(set(available))
    policy = config.version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return versions
    if which == "specific":
        wanted = {int(v) for v in policy.specific.versions}
        return [v for v in versions if v in wanted]
    count = policy.latest.num_versions if which == "latest" else 1
    return versions[-count:] if count > 0 else []


def version_manifest(folder: Path) -> dict[str, FileDigest]:
    """Digests of every file under a version folder (but the manifest), by relative path.

    Raises:
        UnsafeFileError: the folder holds a link or something other than files and
            folders (``core.untrusted``).
    """
    files = {}
    for entry in untrusted.walk(folder):
        if entry.kind in ("link", "special"):
            untrusted.require_kind(folder, entry, "file")
        if entry.kind == "file" and entry.name != MANIFEST_FILENAME:
            files[entry.name] = untrusted.digest(folder, entry.name)
    return files


def write_manifest(folder: Path, files: dict[str, FileDigest]) -> Path:
    """Write ``manifest.json`` into a version folder."""
    body = {
        "files": {
            name: {"sha256": d.sha256, "size_bytes": d.size_bytes} for name, d in files.items()
        }
    }
    path = folder / MANIFEST_FILENAME
    path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return path


def read_manifest(folder: Path) -> dict[str, FileDigest] | None:
    """The manifest of a version folder, or None when it has none.

    Read under the untrusted-input rule: a regular file of ``JSON_MAX_BYTES`` at most.
    The names it lists are not checked here; read them with ``core.untrusted`` (which
    refuses a name that leaves the folder).

    Raises:
        UnsafeFileError: the manifest is a link, not a regular file, or too large.
        RepositoryError: the manifest exists but is not valid.
    """
    if untrusted.kind_of(folder, MANIFEST_FILENAME) is None:
        return None
    path = folder / MANIFEST_FILENAME
    raw = untrusted.read_bytes(folder, MANIFEST_FILENAME, max_bytes=untrusted.JSON_MAX_BYTES)
    try:
        body = json.loads(raw)
        return {
            str(name): FileDigest(str(entry["sha256"]), int(entry["size_bytes"]))
            for name, entry in body["files"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise RepositoryError(
            f"Version manifest {path} is unreadable or malformed ({exc}). Expected JSON "
            '{"files": {"<name>": {"sha256": "...", "size_bytes": N}}}; republish the version.'
        ) from exc
