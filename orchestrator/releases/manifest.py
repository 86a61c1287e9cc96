"""Content-addressed releases: what a cluster serves, as one immutable manifest.

A release lists, for every model, the versions its ``version_policy`` serves and the
sha256 and size of every file Triton will read (``config.pbtxt``, other model-level
files such as label files, and the served version folders). Its id is derived from the
manifest's canonical bytes, so the same content always gives the same id::

    {"format": 1,
     "models": {"<model>": {"versions": [1, 2]}},
     "files": {"<model>/config.pbtxt": {"sha256": "...", "size_bytes": 123}, ...}}

The stored ``release.json`` is that manifest plus ``id`` and ``created`` (which is not
part of the id); a store keeps it at ``releases/<id>/release.json`` (``release_prefix``).
Reading one back recomputes the id and refuses a manifest whose id does not match, or
whose paths are unsafe.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.digest_cache import DigestCache, tree_hasher
from orchestrator.core.model_config import CONFIG_FILENAME, load_config
from orchestrator.errors import RepositoryError, StorageError
from orchestrator.releases.stores.base import check_key
from orchestrator.repository.layout import (
    model_names,
    served_versions,
    version_dir,
    version_numbers,
)
from orchestrator.repository.validation.verdict import errors_unless_remembered

__all__ = [
    "FORMAT_VERSION",
    "RELEASES_PREFIX",
    "RELEASE_FILENAME",
    "Release",
    "ReleaseModel",
    "Validator",
    "build_release",
    "parse_release_document",
    "release_id",
    "release_prefix",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
RELEASE_FILENAME = "release.json"
RELEASES_PREFIX = "releases"
_ID_HEX_CHARS = 32


class _Finding(Protocol):
    """What release needs of a validation finding (``validation.Finding``)."""

    @property
    def is_error(self) -> bool: ...  # noqa: D102

    @property
    def code(self) -> str: ...  # noqa: D102

    @property
    def path(self) -> Any: ...  # noqa: D102

    @property
    def message(self) -> str: ...  # noqa: D102


Validator = Callable[[Path], Sequence[_Finding]]


@dataclass(frozen=True)
class ReleaseModel:
    """One model in a release and the versions it serves."""

    name: str
    versions: tuple[int, ...]


@dataclass(frozen=True)
class Release:
    """A release manifest; ``source`` is the local repository it was built from, if any."""

    id: str
    models: tuple[ReleaseModel, ...]
    files: Mapping[str, FileDigest]
    created: str = field(default="", compare=False)
    source: Path | None = field(default=None, compare=False)

    @property
    def size_bytes(self) -> int:
        """The total size of the release's files."""
        return sum(d.size_bytes for d in self.files.values())

    def manifest(self) -> dict[str, Any]:
        """The content the id is derived from."""
        return _manifest(self.models, self.files)

    def document(self, created: str | None = None) -> bytes:
        """The bytes of ``release.json``: the manifest plus ``id`` and ``created``."""
        body = {
            "id": self.id,
            "created": created or self.created or _now(),
            **self.manifest(),
        }
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()


def release_id(manifest: Mapping[str, Any]) -> str:
    """The id of a manifest: the leading hex of the sha256 of its canonical JSON.

    Example:
        >>> release_id({"format": 1, "models": {}, "files": {}})
        '9b35a8f64539ae154c4a5bb44583dd5b'
    """
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_ID_HEX_CHARS]


def release_prefix(release_id: str) -> str:
    """The folder of a release in a store: ``releases/<id>/``.

    Example:
        >>> release_prefix("3f1c")
        'releases/3f1c/'
    """
    return f"{RELEASES_PREFIX}/{check_key(release_id)}/"


def build_release(
    root: Path,
    *,
    all_versions: bool = False,
    validate: Validator | None = None,
    digests: DigestCache | None = None,
) -> Release:
    """Build the release manifest of a local model repository.

    Args:
        root: the repository (``<root>/<model>/config.pbtxt``).
        all_versions: include every version, not only those the version policy serves.
        validate: the validator to run first; when None, ``validate_repository`` given
            ``digests`` too, not run again for a repository unchanged since it validated
            without errors (``validation.verdict``).
        digests: the local digest cache: unchanged files are not read again (by the
            validator's manifest check nor here) and unchanged graphs not parsed again (by
            the validator), and what was read is saved to it once the release is built.
            None reads every file.

    Returns:
        The release, with ``source`` set to ``root``.

    Raises:
        RepositoryError: the validator reported errors, the repository has no models, a
            model serves no version, or a file breaks the untrusted-input rule
            (``core.untrusted``: a symbolic link, not a regular file, ``..``, a
            backslash; ``UnsafeFileError``).

    Example:
        >>> build_release(Path("model_repository")).id  # doctest: +SKIP
        '3f1c...'
    """
    hash_file = tree_hasher(root) if digests is None else digests.digest
    _check_valid(root, validate or partial(errors_unless_remembered, digests=digests))
    for entry in untrusted.entries(root):
        if entry.kind == "link":
            untrusted.require_kind(root, entry, "folder")  # a linked model folder: refused
    names = model_names(root)
    if not names:
        raise RepositoryError(
            f"{root} holds no model (no <model>/config.pbtxt). "
            "Publish a model first: orchestrator publish BUNDLE."
        )
    models = []
    files: dict[str, FileDigest] = {}
    for name in names:
        model_dir = root / name
        available = version_numbers(model_dir)
        config = load_config(model_dir / CONFIG_FILENAME, within=root)
        versions = available if all_versions else served_versions(config, available)
        if not versions:
            raise RepositoryError(
                f"Model {name!r} serves no version: available {available or 'none'}, "
                f"version_policy in {model_dir / CONFIG_FILENAME} selects none. "
                "Publish a version or fix the version_policy."
            )
        models.append(ReleaseModel(name, tuple(versions)))
        for path, kind in _model_files(model_dir):
            files[_safe_name(root, path, kind)] = hash_file(path)
        for version in versions:
            for path, kind in _tree_files(version_dir(root, name, version)):
                files[_safe_name(root, path, kind)] = hash_file(path)
    files = dict(sorted(files.items()))
    model_tuple = tuple(models)
    release = Release(release_id(_manifest(model_tuple, files)), model_tuple, files, source=root)
    logger.info("Built release %s: %d model(s), %d file(s)", release.id, len(models), len(files))
    if digests is not None:
        digests.save()
    return release


def parse_release_document(data: bytes, where: str) -> Release:
    """Read a ``release.json``, checking its format, its paths and that its id matches.

    Raises:
        StorageError: the document is malformed, has an unsafe path, or its id is not
            the id of its content (it was edited, or describes other files).
    """
    try:
        body = untrusted.parse_json(data)
        if body.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {body.get('format')!r}, expected {FORMAT_VERSION}")
        models = tuple(
            ReleaseModel(str(name), tuple(int(v) for v in entry["versions"]))
            for name, entry in sorted(body["models"].items())
        )
        files = {
            check_key(str(name)): FileDigest(str(entry["sha256"]), int(entry["size_bytes"]))
            for name, entry in sorted(body["files"].items())
        }
        stated_id = str(body["id"])
        created = str(body.get("created", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(
            f"{where} is not a valid release manifest ({exc}). Expected the JSON that "
            "`orchestrator sync` writes; delete the release and sync again."
        ) from exc
    actual_id = release_id(_manifest(models, files))
    if stated_id != actual_id:
        raise StorageError(
            f"{where} claims release id {stated_id} but its content hashes to {actual_id}: "
            "the manifest was edited. Refusing it; delete the release and sync again."
        )
    return Release(actual_id, models, files, created=created)


def _check_valid(root: Path, validate: Validator) -> None:
    errors = [finding for finding in validate(root) if finding.is_error]
    if errors:
        listed = "; ".join(f"{f.path}: {f.code}: {f.message}" for f in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise RepositoryError(
            f"Refusing to release {root}: validation found {len(errors)} error(s): "
            f"{listed}{more}. Fix them (orchestrator validate --repo {root}) and release again."
        )


def _manifest(models: Sequence[ReleaseModel], files: Mapping[str, FileDigest]) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "models": {m.name: {"versions": list(m.versions)} for m in models},
        "files": {
            name: {"sha256": d.sha256, "size_bytes": d.size_bytes}
            for name, d in sorted(files.items())
        },
    }


# Files are listed and read under the untrusted-input rule (core.untrusted): links are
# listed, never followed, and refused by _safe_name (by the kind the listing saw); the
# hasher reads regular files only, so one replaced by a link since is refused there.


def _model_files(model_dir: Path) -> list[tuple[Path, untrusted.Kind]]:
    # Model-level files (config.pbtxt, label files); hidden files are not Triton's.
    return [
        (model_dir / entry.name, entry.kind)
        for entry in untrusted.entries(model_dir)
        if not entry.name.startswith(".") and entry.kind != "folder"
    ]


def _tree_files(folder: Path) -> list[tuple[Path, untrusted.Kind]]:
    return [
        (folder / entry.name, entry.kind)
        for entry in untrusted.walk(folder)
        if entry.kind != "folder"
    ]


def _safe_name(root: Path, path: Path, kind: untrusted.Kind) -> str:
    relative = path.relative_to(root).as_posix()
    if kind != "file":
        untrusted.require_kind(root, untrusted.Entry(relative, kind), "file")
    try:
        return check_key(relative)
    except StorageError as exc:
        raise RepositoryError(f"Unsafe file name in the repository: {exc}") from exc


def _now() -> str:
    # Milliseconds: gc orders releases by this, and CI can sync twice in one second.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
