"""Which version of a model already holds a model file: publishing is idempotent by content.

A version holds a model when every one of its model files (``model.onnx`` and the files
of its external weights) has the same sha256 and size. The digests come from the
version's ``manifest.json`` when it is readable and agrees with the file on disk in
kind and size; otherwise the file is hashed, read under the untrusted-input rule
(``core.untrusted``). A version whose files cannot be read that way (a link, a folder
where the model should be) holds nothing here: a new version is published beside it,
and ``validate`` reports it. A manifest that lies about a same-sized file is
``validate``'s ``manifest-mismatch``, which the pipeline runs before anything is synced.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.errors import RepositoryError, UnsafeFileError
from orchestrator.repository.layout import read_manifest, version_numbers

__all__ = ["version_holding"]

logger = logging.getLogger(__name__)


def version_holding(model_dir: Path, files: Mapping[str, FileDigest]) -> int | None:
    """The highest version of the model in ``model_dir`` that holds ``files``, or None.

    Args:
        model_dir: ``<repo>/<model>``; a missing folder holds nothing.
        files: the digests of the model files as they would be named in a version
            folder (``{"model.onnx": ..., "weights.bin": ...}``).

    Raises:
        RepositoryError: the model folder exists but cannot be listed.

    Example:
        >>> model_dir = Path("model_repository/digits_cnn")
        >>> version_holding(model_dir, {"model.onnx": digest})  # doctest: +SKIP
        1
    """
    if untrusted.kind_of(model_dir.parent, model_dir.name) != "folder":
        return None  # missing, or a link: nothing read through it holds the model
    for version in reversed(version_numbers(model_dir)):
        if _holds(model_dir / str(version), files):
            return version
    return None


def _holds(folder: Path, files: Mapping[str, FileDigest]) -> bool:
    try:
        found = {entry.name: entry for entry in untrusted.entries(folder)}
    except UnsafeFileError as exc:
        logger.info("Not comparing with %s: %s", folder, exc)
        return False
    manifest = _manifest(folder)
    for name, wanted in files.items():
        entry = found.get(name)
        if entry is None or entry.kind != "file" or entry.size_bytes != wanted.size_bytes:
            return False
        listed = manifest.get(name)
        if listed is None or listed.size_bytes != entry.size_bytes:
            try:
                listed = untrusted.digest(folder, name)
            except UnsafeFileError as exc:
                logger.info("Not comparing with %s: %s", folder / name, exc)
                return False
        if listed != wanted:
            return False
    return True


def _manifest(folder: Path) -> dict[str, FileDigest]:
    """The version's manifest, or {} when it has none or it cannot be trusted."""
    try:
        return read_manifest(folder) or {}
    except RepositoryError as exc:  # UnsafeFileError included: hash the files instead
        logger.info("Hashing the files of %s instead of reading its manifest: %s", folder, exc)
        return {}
