"""The version registry: a (model, version) names one model file forever, on every machine.

A fresh checkout of a commit only knows the versions committed in ``model_repository/``;
numbering new bundles from it alone gives the same number to different models on two
pushes. So the release store keeps the record, one small JSON document per model::

    STORE/models/<model>/versions.json
        {"format": 1, "model": "<model>",
         "versions": {"2": {"files": {"model.onnx": {"sha256": "...", "size_bytes": N}},
                            "registered": "<UTC time>"}}}

A version is identified by its model files (``model.onnx`` and its external weights:
every file of the version folder but export.json, golden.npz and manifest.json). The
document only grows, and it is written by compare-and-swap against the store's version
token: two pipelines that number a new model file at once cannot both win; the loser
reads again and takes the winner's number for the same file, or the next one.

* ``publish --store`` numbers a bundle from the registry: the number its files already
  have, or the next one after every number ever registered (a revert gets its earlier
  number back; a fresh checkout never reuses one).
* ``publish --store`` and ``sync`` first register the repository's own versions, and
  refuse a version whose number the registry gives to other files.
* A model with no registry yet is seeded from the store's releases; when those already
  give one number two different model files (a store written before the registry), the
  seeding is refused with the releases that disagree, never silently extended.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.core.digest import FileDigest
from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.core.names import is_model_name
from orchestrator.errors import RepositoryError, StorageError, StoreConflictError
from orchestrator.releases.catalog import read_releases
from orchestrator.releases.manifest import Release
from orchestrator.releases.stores.base import Store, Versioned
from orchestrator.repository.bundle import EXPORT_FILENAME
from orchestrator.repository.layout import (
    MANIFEST_FILENAME,
    model_names,
    read_manifest,
    version_dir,
    version_manifest,
    version_numbers,
)

__all__ = [
    "REGISTRY_PREFIX",
    "ModelVersions",
    "VersionRegistry",
    "model_files",
    "registry_key",
    "reused_versions",
    "short",
]

logger = logging.getLogger(__name__)

REGISTRY_PREFIX = "models"
_FORMAT = 1
_NOT_MODEL_FILES = frozenset({EXPORT_FILENAME, GOLDEN_FILENAME, MANIFEST_FILENAME})
_MAX_TRIES = 20
_SHA256 = re.compile(r"[0-9a-f]{64}")

Files = Mapping[str, FileDigest]


def registry_key(model: str) -> str:
    """The registry document of one model: ``models/<model>/versions.json``."""
    if not is_model_name(model):
        raise StorageError(f"Cannot keep a version registry for {model!r}: not a model name.")
    return f"{REGISTRY_PREFIX}/{model}/versions.json"


def model_files(files: Files) -> dict[str, FileDigest]:
    """The files that identify a version: the model file and its external weights.

    That is every file of a version folder but export.json, golden.npz and manifest.json.

    Example:
        >>> model_files({"model.onnx": d, "export.json": e})  # doctest: +SKIP
        {'model.onnx': d}
    """
    return {name: d for name, d in sorted(files.items()) if name not in _NOT_MODEL_FILES}


def short(files: Files) -> str:
    """``model.onnx 3f1c2a9b7e10`` (the first 12 hex of each model file's sha256)."""
    return ", ".join(f"{name} {d.sha256[:12]}" for name, d in sorted(files.items())) or "no file"


@dataclass(frozen=True)
class ModelVersions:
    """One model's registry: the model files of every version ever numbered."""

    model: str
    versions: Mapping[int, Files]
    token: str | None = None  # the store's version token; None: not written yet

    def number_of(self, files: Files) -> int | None:
        """The (lowest) version whose model files are ``files``, or None."""
        wanted = model_files(files)
        found = [n for n, held in self.versions.items() if dict(held) == wanted]
        return min(found) if found else None

    def next_number(self) -> int:
        """One more than every number ever registered."""
        return max(self.versions, default=0) + 1


@dataclass
class VersionRegistry:
    """The registry of a store (``STORE/models/<model>/versions.json``), per model."""

    store: Store
    _releases: Mapping[str, Release | None] | None = field(default=None, repr=False)

    def read(self, model: str) -> ModelVersions:
        """The model's registry; seeded from the store's releases when it has none yet.

        Raises:
            StorageError: the document is malformed, or the releases already give one
                version number two different model files (nothing is registered then).
        """
        return self._parsed(model, self.store.read(registry_key(model)))

    def _parsed(self, model: str, found: Versioned | None) -> ModelVersions:
        key = registry_key(model)
        if found is None:
            return ModelVersions(model, self._seed(model), None)
        versions = _parse(found.data, f"{self.store.url}/{key}", model)
        return ModelVersions(model, versions, found.token)

    def number(self, model: str, files: Files) -> int:
        """The version number of these model files: registered before, or the next one.

        Registering is a compare-and-swap; a pipeline that loses the race reads again.

        Raises:
            StorageError: as ``read``, or the registry kept changing under us.

        Example:
            >>> VersionRegistry(store).number("digits_cnn", {"model.onnx": d})  # doctest: +SKIP
            3
        """
        wanted = model_files(files)
        for _ in range(_MAX_TRIES):
            current = self.read(model)
            held = current.number_of(wanted)
            if held is not None:
                return held
            number = current.next_number()
            if self._write(current, {number: wanted}):
                logger.info("Registered %s version %d in %s", model, number, self.store.url)
                return number
        raise StorageError(self._busy(model))

    def conflicts(self, repo: Path) -> list[str]:
        """Each version of a local repository whose number the registry gives other files.

        Nothing is written (``validate --store``).

        Raises:
            StorageError: as ``read``.
        """
        found = []
        for model in model_names(repo):
            current = self.read(model)
            for number, files in _local_versions(repo, model).items():
                held = current.versions.get(number)
                if held is not None and dict(held) != files:
                    found.append(_conflict(repo, model, number, files, held, self.store.url))
        return found

    def register_repository(self, repo: Path) -> None:
        """Register every version of a local repository, refusing one the registry disagrees with.

        Raises:
            RepositoryError: a version's number is registered with other model files.
            StorageError: as ``read``.
        """
        models = model_names(repo)
        # Every model's document at once: an unchanged repository costs one round trip.
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(models)))) as pool:
            fetched = dict(
                zip(
                    models,
                    pool.map(lambda m: self.store.read(registry_key(m)), models),
                    strict=True,
                )
            )
        for model in models:
            local = _local_versions(repo, model)
            for attempt in range(_MAX_TRIES):
                current = self._parsed(model, fetched[model]) if attempt == 0 else self.read(model)
                for number, files in local.items():
                    held = current.versions.get(number)
                    if held is not None and dict(held) != files:
                        raise RepositoryError(
                            _conflict(repo, model, number, files, held, self.store.url)
                        )
                missing = {n: f for n, f in local.items() if n not in current.versions}
                if not missing and current.token is not None:
                    break
                if self._write(current, missing):
                    break
            else:
                raise StorageError(self._busy(model))

    def _write(self, current: ModelVersions, added: Mapping[int, Files]) -> bool:
        """Write the registry plus ``added``; False when someone else wrote it first."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        versions = {
            **{n: {"files": _files_json(f)} for n, f in current.versions.items()},
            **{n: {"files": _files_json(f), "registered": now} for n, f in added.items()},
        }
        body = {
            "format": _FORMAT,
            "model": current.model,
            "versions": {str(n): versions[n] for n in sorted(versions)},
        }
        data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
        try:
            self.store.replace(registry_key(current.model), data, current.token)
        except StoreConflictError:
            return False
        return True

    def _seed(self, model: str) -> dict[int, Files]:
        if self._releases is None:
            self._releases = read_releases(self.store)
        reused = reused_versions(self._releases, model)
        if reused:
            raise StorageError(
                f"{self.store.url} already breaks the version rule, so no version of "
                f"{model!r} is numbered there until it is fixed: "
                + "; ".join(reused)
                + ". A version number must name one model file. Delete the releases that "
                "reuse a number (orchestrator releases gc, or by hand) once no environment "
                "points at them, then run again."
            )
        seeded: dict[int, Files] = {}
        for release in self._releases.values():
            if release is not None:
                seeded.update(_release_versions(release, model))
        return seeded

    def _busy(self, model: str) -> str:
        return (
            f"The version registry of {model!r} in {self.store.url} changed {_MAX_TRIES} "
            "times while we tried to write it. Another pipeline may be looping; try again."
        )


def reused_versions(releases: Mapping[str, Release | None], model: str | None = None) -> list[str]:
    """Each (model, version) the releases give different model files, as a sentence.

    Example:
        >>> reused_versions(read_releases(store))  # doctest: +SKIP
        ['digits_cnn version 2 is model.onnx 3f1c2a9b7e10 in 1a2b...; model.onnx 9e8d... in ...']
    """
    seen: dict[tuple[str, int], dict[tuple[tuple[str, str], ...], list[str]]] = {}
    for release_id, release in sorted(releases.items()):
        if release is None:
            continue
        names = [model] if model is not None else [m.name for m in release.models]
        for name in names:
            for number, files in _release_versions(release, name).items():
                identity = tuple((n, d.sha256) for n, d in sorted(files.items()))
                seen.setdefault((name, number), {}).setdefault(identity, []).append(release_id)
    lines = []
    for (name, number), identities in sorted(seen.items()):
        if len(identities) > 1:
            parts = [
                f"{', '.join(f'{n} {sha[:12]}' for n, sha in identity)} in {', '.join(ids)}"
                for identity, ids in identities.items()
            ]
            lines.append(f"{name} version {number} is " + "; ".join(parts))
    return lines


def _release_versions(release: Release, model: str) -> dict[int, Files]:
    """The model files of each version of ``model`` a release holds."""
    found: dict[int, Files] = {}
    for entry in release.models:
        if entry.name != model:
            continue
        for number in entry.versions:
            prefix = f"{model}/{number}/"
            files = {
                path.removeprefix(prefix): digest
                for path, digest in release.files.items()
                if path.startswith(prefix)
            }
            found[number] = model_files(files)
    return found


def _local_versions(repo: Path, model: str) -> dict[int, dict[str, FileDigest]]:
    versions = {}
    for number in version_numbers(repo / model):
        folder = version_dir(repo, model, number)
        versions[number] = model_files(read_manifest(folder) or version_manifest(folder))
    return versions


def _conflict(
    repo: Path, model: str, number: int, files: Files, held: Files, store_url: str
) -> str:
    return (
        f"{version_dir(repo, model, number)} holds {short(files)}, but {store_url} registers "
        f"{model} version {number} as {short(held)}: a version number names one model file "
        "forever, and this repository gives it another. Give this model file a new number: "
        f"remove the folder and publish its bundle with --store {store_url} (it gets the "
        "registered number of the same file, or the next free one)."
    )


def _files_json(files: Files) -> dict[str, dict[str, object]]:
    return {n: {"sha256": d.sha256, "size_bytes": d.size_bytes} for n, d in sorted(files.items())}


def _parse(data: bytes, where: str, model: str) -> dict[int, Files]:
    """A registry document, checked as untrusted input."""
    try:
        body = json.loads(data)
        if body.get("format") != _FORMAT or body.get("model") != model:
            raise ValueError(f"format {body.get('format')!r}, model {body.get('model')!r}")
        versions: dict[int, Files] = {}
        for number, entry in body["versions"].items():
            if not str(number).isdigit() or int(number) < 1:
                raise ValueError(f"version {number!r} is not a positive integer")
            files = {}
            for name, digest in entry["files"].items():
                sha, size = str(digest["sha256"]), digest["size_bytes"]
                if not _SHA256.fullmatch(sha) or not isinstance(size, int) or size < 0:
                    raise ValueError(f"version {number} file {name!r}: bad sha256 or size")
                files[str(name)] = FileDigest(sha, size)
            versions[int(number)] = files
        return versions
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise StorageError(
            f"{where} is not a valid version registry ({exc}). Expected "
            f'{{"format": {_FORMAT}, "model": "{model}", "versions": {{"<N>": {{"files": '
            "{...}}}}. Restore it from the store's history; never renumber by hand."
        ) from exc
