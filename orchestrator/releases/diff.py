"""What changed between two stored releases: models and versions added, removed, changed.

Both sides are read from the store's ``release.json`` manifests (never from a local
repository), so the diff says what a cluster would start serving::

    diff_releases(store, "3f1c...", "9a0b...")          # two ids
    diff_from_environment(store, "staging", "9a0b...")  # against what staging runs now

A version is *changed* when both releases serve it but a file of it differs (versions
are immutable, so this means someone re-published over a number); it is *reused* when
its model files differ (the number names two models: the rule ``version_registry``
keeps, broken by a store written before it). A model's *config changed* when a
model-level file (``config.pbtxt``, label files) differs. ``identities`` says which
version is which: the model files (first 12 hex of their sha256) of every version
added, changed (as the new release has it) or removed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from orchestrator.core.digest import FileDigest
from orchestrator.core.jsonform import plain
from orchestrator.errors import StorageError
from orchestrator.releases.environments import read_environment
from orchestrator.releases.manifest import (
    RELEASE_FILENAME,
    Release,
    parse_release_document,
    release_prefix,
)
from orchestrator.releases.stores.base import Store
from orchestrator.releases.version_registry import model_files, short

__all__ = [
    "ModelChange",
    "ReleaseDiff",
    "diff_from_environment",
    "diff_releases",
    "read_release",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChange:
    """One model's difference between two releases (``status``: added, removed, changed)."""

    name: str
    status: str
    versions_added: tuple[int, ...] = ()
    versions_removed: tuple[int, ...] = ()
    versions_changed: tuple[int, ...] = ()
    config_changed: bool = False
    versions_reused: tuple[int, ...] = ()
    identities: Mapping[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ReleaseDiff:
    """The changes from ``old_id`` (None: a first release, nothing to compare) to ``new_id``.

    ``against`` says where ``old_id`` came from: ``"release"`` when it was given, or the
    environment whose current release it is. ``models`` lists only models that differ.
    """

    old_id: str | None
    new_id: str
    against: str
    models: tuple[ModelChange, ...]
    unchanged_models: tuple[str, ...]
    old_unit: str | None = None  # the environment's deployed unit (manifests applied)

    @property
    def first_release(self) -> bool:
        """Whether there was nothing to compare with."""
        return self.old_id is None

    @property
    def changed(self) -> bool:
        """Whether anything a cluster serves differs."""
        return self.first_release or bool(self.models)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ids, what ``old`` was, and every model that differs."""
        return {
            "old": self.old_id,
            "new": self.new_id,
            "against": self.against,
            "first_release": self.first_release,
            "changed": self.changed,
            "models": [plain(asdict(m)) for m in self.models],
            "unchanged_models": list(self.unchanged_models),
            "old_unit": self.old_unit,
        }


def read_release(store: Store, release_id: str) -> Release:
    """The parsed ``release.json`` of a complete release in ``store``.

    Raises:
        StorageError: the release has no manifest (unknown id, or an unfinished sync),
            or the manifest is invalid.

    Example:
        >>> read_release(open_store("s3://models/prod"), "3f1c...").models  # doctest: +SKIP
    """
    key = release_prefix(release_id) + RELEASE_FILENAME
    found = store.read(key)
    if found is None:
        raise StorageError(
            f"Release {release_id} is not in {store.url} (no {key}). Expected the id of a "
            "synced release: see `orchestrator releases list STORE`."
        )
    release = parse_release_document(found.data, f"{store.url}/{key}")
    if release.id != release_id:
        raise StorageError(
            f"{store.url}/{key} describes release {release.id}, not {release_id}: the folder "
            "was renamed or the manifest copied. Refusing it; delete the folder."
        )
    return release


def diff_releases(
    store: Store, old_id: str | None, new_id: str, *, against: str = "release"
) -> ReleaseDiff:
    """Compare two releases in ``store``; ``old_id`` None means a first release.

    Raises:
        StorageError: either release is missing from the store or invalid.

    Example:
        >>> store = open_store("file:///srv/models")  # doctest: +SKIP
        >>> d = diff_releases(store, "3f1c...", "9a0b...")  # doctest: +SKIP
        >>> [(m.name, m.status, m.versions_added) for m in d.models]  # doctest: +SKIP
        [('digits_cnn', 'changed', (2,))]
    """
    new = read_release(store, new_id)
    if old_id is None:
        first = tuple(
            ModelChange(
                m.name,
                "added",
                versions_added=m.versions,
                identities=_identities(new, m.name, m.versions),
            )
            for m in new.models
        )
        return ReleaseDiff(None, new_id, against, first, ())
    old = read_release(store, old_id)
    old_models = {m.name: m.versions for m in old.models}
    new_models = {m.name: m.versions for m in new.models}
    changes: list[ModelChange] = []
    unchanged: list[str] = []
    for name in sorted(old_models.keys() | new_models.keys()):
        if name not in old_models:
            added = new_models[name]
            changes.append(
                ModelChange(
                    name, "added", versions_added=added, identities=_identities(new, name, added)
                )
            )
        elif name not in new_models:
            removed = old_models[name]
            identities = _identities(old, name, removed)
            changes.append(
                ModelChange(name, "removed", versions_removed=removed, identities=identities)
            )
        else:
            change = _model_change(name, old, new)
            if change is None:
                unchanged.append(name)
            else:
                changes.append(change)
    logger.info("Compared release %s with %s: %d model(s) differ", new_id, old_id, len(changes))
    return ReleaseDiff(old_id, new_id, against, tuple(changes), tuple(unchanged))


def diff_from_environment(store: Store, environment: str, new_id: str) -> ReleaseDiff:
    """Compare ``new_id`` with the release ``environment`` runs now (none: a first release).

    Raises:
        StorageError: the environment name is invalid, its pointer or a release is
            unreadable.

    Example:
        >>> store = open_store("s3://models/prod")  # doctest: +SKIP
        >>> diff_from_environment(store, "staging", "9a0b...").old_id  # doctest: +SKIP
    """
    pointer = read_environment(store, environment)
    old_id = pointer.release_id if pointer else None
    diff = diff_releases(store, old_id, new_id, against=environment)
    return replace(diff, old_unit=pointer.unit if pointer else None)


def _model_change(name: str, old: Release, new: Release) -> ModelChange | None:
    old_versions = set(_versions(old, name))
    new_versions = set(_versions(new, name))
    common = old_versions & new_versions
    changed = tuple(
        v for v in sorted(common) if _files(old.files, name, v) != _files(new.files, name, v)
    )
    reused = tuple(
        v for v in changed if _model_files(old.files, name, v) != _model_files(new.files, name, v)
    )
    config_changed = _files(old.files, name, None) != _files(new.files, name, None)
    added = tuple(sorted(new_versions - old_versions))
    removed = tuple(sorted(old_versions - new_versions))
    if not (added or removed or changed or config_changed):
        return None
    identities = {
        **_identities(old, name, removed),
        **_identities(new, name, added + changed),
    }
    return ModelChange(name, "changed", added, removed, changed, config_changed, reused, identities)


def _model_files(
    files: Mapping[str, FileDigest], model: str, version: int
) -> dict[str, FileDigest]:
    prefix = f"{model}/{version}/"
    return model_files(
        {p.removeprefix(prefix): d for p, d in _files(files, model, version).items()}
    )


def _identities(release: Release, model: str, versions: tuple[int, ...]) -> dict[str, str]:
    """``{"2": "model.onnx 3f1c2a9b7e10"}``: which model files each version names."""
    return {str(v): short(_model_files(release.files, model, v)) for v in sorted(versions)}


def _versions(release: Release, name: str) -> tuple[int, ...]:
    return next(m.versions for m in release.models if m.name == name)


def _files(
    files: Mapping[str, FileDigest], model: str, version: int | None
) -> dict[str, FileDigest]:
    """A model's files under one version folder, or its model-level files (``version`` None)."""
    found = {}
    for path, digest in files.items():
        parts = path.split("/")
        if parts[0] != model:
            continue
        if version is None and (len(parts) == 2 or not parts[1].isdigit()):
            found[path] = digest
        elif version is not None and len(parts) > 2 and parts[1] == str(version):
            found[path] = digest
    return found
