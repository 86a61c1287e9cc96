"""The releases stored under a DEST: list, read, verify, garbage-collect.

Layout::

    DEST/releases/<id>/release.json      the manifest; written last, never rewritten
    DEST/releases/<id>/<model>/...       Triton's layout (serve DEST/releases/<id>)
    DEST/environments/<env>.json         what an environment runs (``environments``)

A folder under ``releases/`` without ``release.json`` is an unfinished sync: it is never
treated as a release (not listed as one, not a copy source, not a pointer target).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import StorageError
from orchestrator.releases.environments import EnvironmentPointer, read_environments
from orchestrator.releases.gate_records import GATES_PREFIX
from orchestrator.releases.manifest import (
    RELEASE_FILENAME,
    RELEASES_PREFIX,
    Release,
    parse_release_document,
    release_prefix,
)
from orchestrator.releases.stores.base import Store

__all__ = [
    "GcReport",
    "ReleaseInfo",
    "gc_releases",
    "list_releases",
    "pinned_releases",
    "read_releases",
    "verify_release",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseInfo:
    """One folder under ``releases/``: a release, or an unfinished sync (``release`` None)."""

    id: str
    release: Release | None
    environments: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether the release has its ``release.json``."""
        return self.release is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the id, whether complete, what it holds, and who points at it.

        An unfinished sync has no manifest: ``created`` "", no models, 0 bytes, 0 files.
        """
        release = self.release
        return {
            "id": self.id,
            "complete": self.complete,
            "created": release.created if release else "",
            "models": {m.name: list(m.versions) for m in release.models} if release else {},
            "size_bytes": release.size_bytes if release else 0,
            "files": len(release.files) if release else 0,
            "environments": list(self.environments),
        }


@dataclass(frozen=True)
class GcReport:
    """What ``gc_releases`` deleted, and what it kept and why.

    ``protected`` are releases older than the KEEP newest that a pointer names;
    ``pinned_by`` says which, for every pointed-at release (``staging``, or
    ``production (previous)`` for a rollback target).
    """

    deleted: tuple[str, ...]
    kept: tuple[str, ...]
    protected: tuple[str, ...]
    deleted_objects: int
    dry_run: bool
    pinned_by: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field, tuples as lists."""
        return {
            "deleted": list(self.deleted),
            "kept": list(self.kept),
            "protected": list(self.protected),
            "deleted_objects": self.deleted_objects,
            "dry_run": self.dry_run,
            "pinned_by": {release: list(names) for release, names in self.pinned_by.items()},
        }


def read_releases(store: Store, *, jobs: int = 8) -> dict[str, Release | None]:
    """Every folder under ``releases/``: its parsed manifest, or None when unfinished.

    Raises:
        StorageError: a listed name is unsafe, or a ``release.json`` is invalid or its id
            does not match its folder.
    """
    ids = store.list_children(RELEASES_PREFIX + "/")

    def read(release_id: str) -> Release | None:
        key = release_prefix(release_id) + RELEASE_FILENAME
        found = store.read(key)
        if found is None:
            return None
        release = parse_release_document(found.data, f"{store.url}/{key}")
        if release.id != release_id:
            raise StorageError(
                f"{store.url}/{key} describes release {release.id}, not {release_id}: the "
                "folder was renamed or the manifest copied. Refusing it; delete the folder."
            )
        return release

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(zip(ids, pool.map(read, ids), strict=True))


def list_releases(store: Store, *, jobs: int = 8) -> list[ReleaseInfo]:
    """Every release folder with the environments pointing at it, newest first.

    Empty when the store holds no release folder at all: a new store, or a misspelled
    prefix (the CLI says so and exits 1).
    """
    return _release_infos(read_releases(store, jobs=jobs), read_environments(store))


def _release_infos(
    releases: dict[str, Release | None], pointers: dict[str, EnvironmentPointer]
) -> list[ReleaseInfo]:
    infos = [
        ReleaseInfo(
            release_id,
            release,
            tuple(sorted(e for e, p in pointers.items() if p.release_id == release_id)),
        )
        for release_id, release in releases.items()
    ]
    return sorted(infos, key=lambda i: (i.release.created if i.release else "", i.id), reverse=True)


def gc_releases(store: Store, keep: int, *, dry_run: bool = False) -> GcReport:
    """Delete all but the ``keep`` newest complete releases, sparing pointed-at ones.

    Every environment pointer's current release and its previous one (the rollback
    target) are kept whatever their age. Unfinished folders (no ``release.json``) are
    left alone: a sync may be writing them. A release is deleted manifest first, so a
    crash midway leaves an unfinished folder, never a release with missing files.

    Raises:
        StorageError: ``keep`` is negative, or the store refused a deletion.

    Example:
        >>> gc_releases(open_store("s3://models/prod"), 5, dry_run=True)  # doctest: +SKIP
    """
    if keep < 0:
        raise StorageError(f"--keep must be 0 or more, got {keep}.")
    pointers = read_environments(store)
    pinned_by = pinned_releases(pointers)
    infos = _release_infos(read_releases(store), pointers)
    complete = [info for info in infos if info.complete]
    kept = tuple(info.id for info in complete[:keep])
    protected = tuple(info.id for info in complete[keep:] if info.id in pinned_by)
    doomed = tuple(info.id for info in complete[keep:] if info.id not in pinned_by)
    deleted_objects = 0
    for release_id in doomed:
        prefix = release_prefix(release_id)
        keys = [obj.key for obj in store.list_objects(prefix)]
        deleted_objects += len(keys)
        if dry_run:
            continue
        store.delete([prefix + RELEASE_FILENAME])
        store.delete([key for key in keys if key != prefix + RELEASE_FILENAME])
        # Its gate records go with it: nothing can be promoted from a deleted release.
        store.delete([obj.key for obj in store.list_objects(f"{GATES_PREFIX}/{release_id}/")])
        logger.info("Deleted release %s (%d objects) from %s", release_id, len(keys), store.url)
    return GcReport(doomed, kept, protected, deleted_objects, dry_run, pinned_by)


def pinned_releases(pointers: dict[str, EnvironmentPointer]) -> dict[str, tuple[str, ...]]:
    """Release id -> the pointers that name it: ``env``, or ``env (previous)``.

    Example:
        >>> pinned_releases(read_environments(store))  # doctest: +SKIP
        {'3f1c...': ('staging',), '9a0b...': ('staging (previous)',)}
    """
    pinned: dict[str, list[str]] = {}
    for name, pointer in sorted(pointers.items()):
        pinned.setdefault(pointer.release_id, []).append(name)
        if pointer.previous_release_id:
            pinned.setdefault(pointer.previous_release_id, []).append(f"{name} (previous)")
    return {release_id: tuple(names) for release_id, names in pinned.items()}


def verify_release(store: Store, release_id: str, *, jobs: int = 8) -> list[str]:
    """Check a stored release against its ``release.json``, file by file.

    Every listed file must be there with the manifest's sha256 and size (as the store
    reports them: S3's ``ChecksumSHA256``, else a read-back), and nothing else may be
    in the release's folder (Triton would serve it).

    Returns:
        One line per problem; empty when the release verifies.

    Raises:
        StorageError: the release has no ``release.json``, or it is invalid.

    Example:
        >>> verify_release(open_store("s3://models/prod"), "3f1c...")  # doctest: +SKIP
        []
    """
    prefix = release_prefix(release_id)
    key = prefix + RELEASE_FILENAME
    found = store.read(key)
    if found is None:
        raise StorageError(
            f"{store.url}/{prefix} has no {RELEASE_FILENAME}: it is not a (complete) release. "
            "See `orchestrator releases list`, or finish it with `orchestrator sync`."
        )
    release = parse_release_document(found.data, f"{store.url}/{key}")
    problems = []
    if release.id != release_id:
        problems.append(f"{RELEASE_FILENAME}: describes release {release.id}, not {release_id}")
    listed = {obj.key for obj in store.list_objects(prefix)}
    expected = {prefix + path for path in release.files} | {key}
    problems += [f"{k[len(prefix) :]}: not in the manifest" for k in sorted(listed - expected)]
    paths = sorted(release.files)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        stored = dict(zip(paths, pool.map(lambda p: store.digest(prefix + p), paths), strict=True))
    for path in paths:
        want, have = release.files[path], stored[path]
        if have is None:
            problems.append(f"{path}: missing")
        elif have != want:
            problems.append(
                f"{path}: sha256 {have.sha256[:12]}… ({have.size_bytes} bytes), the manifest "
                f"says {want.sha256[:12]}… ({want.size_bytes} bytes)"
            )
    logger.info("Verified release %s in %s: %d problem(s)", release_id, store.url, len(problems))
    return problems
