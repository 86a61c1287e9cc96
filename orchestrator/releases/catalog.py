"""The releases and environment pointers stored under a DEST.

Layout::

    DEST/releases/<id>/release.json      the manifest; written last, never rewritten
    DEST/releases/<id>/<model>/...       Triton's layout (serve DEST/releases/<id>)
    DEST/environments/<env>.json         {"release": "<id>", ...}: what an environment runs

A folder under ``releases/`` without ``release.json`` is an unfinished sync: it is never
treated as a release (not listed as one, not a copy source, not a pointer target).
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.errors import StorageError
from orchestrator.releases.manifest import RELEASE_FILENAME, Release, parse_release_document
from orchestrator.releases.stores.base import Store, StoreConflictError, check_key

__all__ = [
    "ENVIRONMENTS_PREFIX",
    "RELEASES_PREFIX",
    "EnvironmentPointer",
    "GcReport",
    "ReleaseInfo",
    "environment_key",
    "gc_releases",
    "list_releases",
    "read_environment",
    "read_environments",
    "read_releases",
    "release_prefix",
    "set_environment",
    "verify_release",
]

logger = logging.getLogger(__name__)

RELEASES_PREFIX = "releases"
ENVIRONMENTS_PREFIX = "environments"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class EnvironmentPointer:
    """The release an environment runs; ``token`` is the store's version for CAS."""

    environment: str
    release_id: str
    updated: str
    previous_release_id: str | None
    token: str


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


@dataclass(frozen=True)
class GcReport:
    """What ``gc_releases`` deleted, and what it kept and why."""

    deleted: tuple[str, ...]
    kept: tuple[str, ...]
    protected: tuple[str, ...]
    deleted_objects: int
    dry_run: bool


def release_prefix(release_id: str) -> str:
    """The folder of a release in a store: ``releases/<id>/``."""
    return f"{RELEASES_PREFIX}/{check_key(release_id)}/"


def environment_key(environment: str) -> str:
    """The key of an environment pointer, after checking the name."""
    if not _ENV_NAME.match(environment):
        raise StorageError(
            f"Invalid environment name {environment!r}. Expected lower-case letters, digits, "
            "'-', '_' or '.', starting with a letter or digit (e.g. staging, production)."
        )
    return f"{ENVIRONMENTS_PREFIX}/{environment}.json"


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


def read_environment(store: Store, environment: str) -> EnvironmentPointer | None:
    """The pointer of ``environment``, or None when it has none."""
    key = environment_key(environment)
    found = store.read(key)
    if found is None:
        return None
    try:
        body = json.loads(found.data)
        release_id = check_key(str(body["release"]))
        previous = body.get("previous")
        return EnvironmentPointer(
            environment,
            release_id,
            str(body.get("updated", "")),
            str(previous) if previous else None,
            found.token,
        )
    except (ValueError, KeyError, TypeError, AttributeError, StorageError) as exc:
        raise StorageError(
            f"{store.url}/{key} is not a valid environment pointer ({exc}). Expected "
            '{"release": "<id>", ...}; point the environment again with set_environment.'
        ) from exc


def read_environments(store: Store) -> dict[str, EnvironmentPointer]:
    """Every environment pointer in the store, by environment name."""
    pointers = {}
    for name in store.list_children(ENVIRONMENTS_PREFIX + "/"):
        if name.endswith(".json"):
            pointer = read_environment(store, name.removesuffix(".json"))
            if pointer is not None:
                pointers[pointer.environment] = pointer
    return pointers


def set_environment(
    store: Store,
    environment: str,
    release_id: str,
    *,
    expected_release_id: str | None = None,
    must_exist: bool = False,
) -> EnvironmentPointer:
    """Point ``environment`` at a complete release, compare-and-swap.

    Args:
        store: the DEST store.
        environment: e.g. ``staging``.
        release_id: a release that has its ``release.json`` in the store.
        expected_release_id: refuse unless the environment currently points here
            (None: accept whatever it points at now, or nothing).
        must_exist: refuse when the environment has no pointer yet.

    Returns:
        The new pointer.

    Raises:
        StorageError: the release is not complete in the store, or the pointer is not
            what was expected.
        StoreConflictError: someone changed the pointer between our read and write.

    Example:
        >>> set_environment(open_store("s3://models"), "staging", "3f1c...")  # doctest: +SKIP
    """
    key = environment_key(environment)
    manifest_key = release_prefix(release_id) + RELEASE_FILENAME
    if store.read(manifest_key) is None:
        raise StorageError(
            f"Release {release_id} is not complete in {store.url} (no {manifest_key}). "
            "Sync it first: orchestrator sync REPO DEST."
        )
    current = read_environment(store, environment)
    if current is None and must_exist:
        raise StorageError(f"Environment {environment!r} has no pointer in {store.url} yet.")
    if expected_release_id is not None and (
        current is None or current.release_id != expected_release_id
    ):
        found = current.release_id if current else "nothing"
        raise StoreConflictError(
            f"Environment {environment!r} points at {found}, not {expected_release_id} as "
            "expected: someone else changed it. Check `orchestrator releases list` and retry."
        )
    updated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "environment": environment,
        "release": release_id,
        "previous": current.release_id if current else None,
        "updated": updated,
    }
    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    store.replace(key, data, current.token if current else None)
    logger.info("Pointed environment %s at release %s in %s", environment, release_id, store.url)
    written = store.read(key)
    token = written.token if written else ""
    previous = current.release_id if current else None
    return EnvironmentPointer(environment, release_id, updated, previous, token)


def list_releases(store: Store, *, jobs: int = 8) -> list[ReleaseInfo]:
    """Every release folder with the environments pointing at it, newest first."""
    releases = read_releases(store, jobs=jobs)
    pointers = read_environments(store)
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

    Unfinished folders (no ``release.json``) are left alone: a sync may be writing them.
    A release is deleted manifest first, so a crash midway leaves an unfinished folder,
    never a release with missing files.

    Raises:
        StorageError: ``keep`` is negative, or the store refused a deletion.
    """
    if keep < 0:
        raise StorageError(f"--keep must be 0 or more, got {keep}.")
    complete = [info for info in list_releases(store) if info.complete]
    kept = tuple(info.id for info in complete[:keep])
    protected = tuple(info.id for info in complete[keep:] if info.environments)
    doomed = tuple(info.id for info in complete[keep:] if not info.environments)
    deleted_objects = 0
    for release_id in doomed:
        prefix = release_prefix(release_id)
        keys = [obj.key for obj in store.list_objects(prefix)]
        deleted_objects += len(keys)
        if dry_run:
            continue
        store.delete([prefix + RELEASE_FILENAME])
        store.delete([key for key in keys if key != prefix + RELEASE_FILENAME])
        logger.info("Deleted release %s (%d objects) from %s", release_id, len(keys), store.url)
    return GcReport(doomed, kept, protected, deleted_objects, dry_run)


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
