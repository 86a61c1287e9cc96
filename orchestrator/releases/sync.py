"""Sync a release into a store: by content, in parallel, manifest last.

``plan_sync`` compares content (sha256 and size), never timestamps:

* a file already in the release's folder with the right digest is *unchanged* (a
  previous sync that died midway);
* a file whose content is in another complete release, or repeats within this one, is
  *copied* server side;
* anything else is *uploaded*, once per distinct content.

``sync_release`` runs the plan, verifies every file (size and sha256, as the store
reports it), and only then creates ``release.json``, conditionally (never overwriting).
A sync that dies leaves a folder without ``release.json``, which the next run completes.

So a ``release.json`` in the store means a complete, verified upload: nothing in this
package writes it before every file is in place (``sync_release``: ``_run_parallel`` then
``_write_manifest``), it is never overwritten (``Store.create``), and ``gc_releases``
deletes it first (``catalog.gc_releases``), so an interrupted deletion leaves a folder
without one. When it is there and describes exactly this repository's release, the sync
has nothing to do; that costs one GET. ``check_files`` also lists the release's folder
(one LIST per 1,000 files) to refuse one that someone else has damaged since: a file
missing, of another size, or not in the manifest. ``releases verify`` checks digests too.

Before anything is read or written, ``sync`` refuses a destination Triton could not
serve from (``stores.serving_url``, the rule deploy uses too) and a ``file://``
destination inside the repository (or a repository inside it): the release would be
written into the models it is built from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.digest_cache import DigestCache
from orchestrator.errors import StorageError
from orchestrator.releases.catalog import read_releases
from orchestrator.releases.manifest import (
    RELEASE_FILENAME,
    Release,
    Validator,
    build_release,
    parse_release_document,
    release_prefix,
)
from orchestrator.releases.stores import Store, check_destination, open_store, serving_url
from orchestrator.releases.version_registry import VersionRegistry

__all__ = [
    "ProgressCallback",
    "SyncPlan",
    "SyncReport",
    "Transfer",
    "plan_sync",
    "sync",
    "sync_release",
]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (files, bytes) after each file is in place and verified."""


@dataclass(frozen=True)
class Transfer:
    """One file of the release: its path in the release, digest, and copy source if any."""

    path: str
    digest: FileDigest
    source_key: str | None = None


@dataclass(frozen=True)
class SyncPlan:
    """What a sync will do; ``complete`` when the release is already fully there.

    ``release_url`` is where Triton serves the release from: ``--model-repository=<this>``
    (``stores.serving_url``: the endpoint written into an s3:// URL, a local path for
    file://).
    """

    release: Release
    store_url: str
    complete: bool
    uploads: tuple[Transfer, ...]
    copies: tuple[Transfer, ...]
    unchanged: tuple[Transfer, ...]
    release_url: str

    @property
    def upload_bytes(self) -> int:
        """Bytes to send from this machine."""
        return sum(t.digest.size_bytes for t in self.uploads)

    @property
    def copy_bytes(self) -> int:
        """Bytes to copy inside the store."""
        return sum(t.digest.size_bytes for t in self.copies)

    @property
    def unchanged_bytes(self) -> int:
        """Bytes already in place."""
        return sum(t.digest.size_bytes for t in self.unchanged)


@dataclass(frozen=True)
class SyncReport:
    """The plan and what happened: whether ``release.json`` was written by this run."""

    plan: SyncPlan
    dry_run: bool
    wrote_manifest: bool
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the release and its URL, then files, bytes and paths per action.

        ``copy`` also maps each copied path to the store key it was copied from.
        """
        plan = self.plan
        copies = _transfers(plan.copies)
        copies["sources"] = {t.path: t.source_key for t in plan.copies}
        return {
            "release": plan.release.id,
            "url": plan.release_url,
            "dry_run": self.dry_run,
            "already_complete": plan.complete,
            "wrote_manifest": self.wrote_manifest,
            "upload": _transfers(plan.uploads),
            "copy": copies,
            "unchanged": _transfers(plan.unchanged),
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _transfers(transfers: tuple[Transfer, ...]) -> dict[str, Any]:
    return {
        "files": len(transfers),
        "bytes": sum(t.digest.size_bytes for t in transfers),
        "paths": [t.path for t in transfers],
    }


def plan_sync(
    release: Release, store: Store, *, jobs: int = 8, check_files: bool = True
) -> SyncPlan:
    """Decide, per file, whether to upload, copy server side, or leave it.

    A release whose ``release.json`` is already in the store (and equals ``release``) is
    complete; with ``check_files`` its folder is also listed and must hold exactly the
    manifest's files at their sizes. Without it, that one GET is the whole plan.

    Raises:
        StorageError: Triton could not serve from the store (``serving_url``), the store
            is unreachable or refuses us, a listed key is unsafe, a stored manifest is
            invalid, or the release's folder holds files that its manifest does not list
            (for a complete release: only with ``check_files``).
    """
    # Before the first request: a store Triton cannot serve from is refused, not filled.
    url = serving_url(store.url, release.id, endpoint_url=store.endpoint_url)
    prefix = release_prefix(release.id)
    manifest_key = prefix + RELEASE_FILENAME
    # The common no-change case costs this one GET (and, with check_files, the LIST).
    existing = store.read(manifest_key)
    if existing is not None and not check_files:
        remote = parse_release_document(existing.data, f"{store.url}/{manifest_key}")
        return _plan_for_complete(release, remote, store, None, url)
    present = {obj.key: obj.size_bytes for obj in store.list_objects(prefix)}
    stray = sorted(set(present) - {prefix + p for p in release.files} - {manifest_key})
    if stray:
        raise StorageError(
            f"{store.url}/{prefix} holds {len(stray)} file(s) its release does not list, "
            f"e.g. {stray[0]!r}; Triton would serve them. Refusing to touch it: delete "
            "that folder and sync again."
        )
    if existing is not None:
        remote = parse_release_document(existing.data, f"{store.url}/{manifest_key}")
        return _plan_for_complete(release, remote, store, present, url)
    releases = read_releases(store, jobs=jobs)

    sources: dict[FileDigest, str] = {}
    for other_id, other in sorted(releases.items()):
        if other is not None and other_id != release.id:
            for path, digest in other.files.items():
                sources.setdefault(digest, release_prefix(other_id) + path)

    # Files left by an earlier, interrupted run of this sync: keep those that verify.
    candidates = [p for p, d in release.files.items() if present.get(prefix + p) == d.size_bytes]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        stored = dict(
            zip(candidates, pool.map(lambda p: store.digest(prefix + p), candidates), strict=True)
        )
    uploads, copies, unchanged = [], [], []
    for path, digest in release.files.items():
        if stored.get(path) == digest:
            unchanged.append(Transfer(path, digest))
            sources.setdefault(digest, prefix + path)
    # Content is sent once: a file that repeats within the release (or that this
    # release already holds) is copied from its first copy, after that one is uploaded.
    for path, digest in release.files.items():
        if stored.get(path) == digest:
            continue
        if digest in sources:
            copies.append(Transfer(path, digest, sources[digest]))
        else:
            uploads.append(Transfer(path, digest))
            sources[digest] = prefix + path
    return SyncPlan(release, store.url, False, tuple(uploads), tuple(copies), tuple(unchanged), url)


def sync_release(
    release: Release,
    store: Store,
    *,
    jobs: int = 8,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    on_plan: Callable[[SyncPlan], None] | None = None,
    check_files: bool = True,
) -> SyncReport:
    """Put ``release`` into ``store`` under ``releases/<id>/``, ``release.json`` last.

    Args:
        release: a release built from a local repository (``release.source`` set).
        store: the DEST store.
        jobs: parallel transfers.
        dry_run: plan only.
        on_progress: called with (files, bytes) as files land.
        on_plan: called with the plan before any transfer starts.
        check_files: when the release is already complete, also list its folder
            (``plan_sync``).

    Returns:
        The plan and what was done.

    Raises:
        StorageError: a transfer failed (after the store client's retries), a stored
            file does not match its digest afterwards (for a copy: the source release
            does not match its manifest), or a different ``release.json`` appeared.
        UnsafeFileError: a local file to upload is no longer a regular file inside the
            repository (replaced by a link or a FIFO since the release was built).

    Example:
        >>> sync_release(build_release(repo), open_store("s3://models/prod"))  # doctest: +SKIP
    """
    started = time.monotonic()
    plan = plan_sync(release, store, jobs=jobs, check_files=check_files)
    if on_plan is not None:
        on_plan(plan)
    if dry_run or plan.complete:
        return SyncReport(plan, dry_run, False, time.monotonic() - started)
    if plan.uploads and release.source is None:
        raise StorageError(f"Release {release.id} has no local source to upload from.")
    prefix = release_prefix(release.id)
    uploaded_keys = {prefix + t.path for t in plan.uploads}
    later = [t for t in plan.copies if t.source_key in uploaded_keys]
    _run_parallel(
        [
            (partial(_copy, store, prefix, t), t.digest.size_bytes)
            for t in plan.copies
            if t not in later
        ]
        + [
            (partial(_upload, store, prefix, t, release.source), t.digest.size_bytes)
            for t in plan.uploads
        ],
        jobs,
        on_progress,
    )
    # Copies of content this run uploaded, once their source is in place and verified.
    _run_parallel(
        [(partial(_copy, store, prefix, t), t.digest.size_bytes) for t in later],
        jobs,
        on_progress,
    )
    wrote = _write_manifest(release, store)
    logger.info(
        "Synced release %s to %s: %d uploaded, %d copied, %d unchanged",
        release.id,
        store.url,
        len(plan.uploads),
        len(plan.copies),
        len(plan.unchanged),
    )
    return SyncReport(plan, False, wrote, time.monotonic() - started)


def sync(
    repository: Path,
    dest: str,
    *,
    endpoint_url: str | None = None,
    all_versions: bool = False,
    jobs: int = 8,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    on_plan: Callable[[SyncPlan], None] | None = None,
    validate: Validator | None = None,
    digests: DigestCache | None = None,
    check_files: bool = True,
) -> SyncReport:
    """Build the release of ``repository`` and sync it to the store at ``dest``.

    ``digests`` is the local digest cache ``build_release`` takes unchanged files'
    digests from (None reads every file); ``check_files`` as ``plan_sync``.

    Raises:
        StorageError: ``dest`` is inside the repository (or the repository inside it), or
            Triton could not serve from it (``serving_url``): both before the repository
            is read; then as ``sync_release``.
        RepositoryError: a version's number is registered in the store with other model
            files (``version_registry``); nothing was uploaded.

    Example:
        >>> sync(Path("model_repository"), "s3://models/prod")  # doctest: +SKIP
    """
    check_destination(repository, dest)
    serving_url(dest, endpoint_url=endpoint_url)
    release = build_release(
        repository, all_versions=all_versions, validate=validate, digests=digests
    )
    store = open_store(dest, endpoint_url=endpoint_url, max_connections=jobs + 4)
    if not dry_run:
        # A version number names one model file in every release of the store (issue 18).
        VersionRegistry(store).register_repository(repository)
    return sync_release(
        release,
        store,
        jobs=jobs,
        dry_run=dry_run,
        on_progress=on_progress,
        on_plan=on_plan,
        check_files=check_files,
    )


def _plan_for_complete(
    release: Release, remote: Release, store: Store, present: dict[str, int] | None, url: str
) -> SyncPlan:
    """The plan of a release whose manifest is in the store; ``present``: its listing."""
    prefix = release_prefix(release.id)
    if remote != release:
        raise StorageError(
            f"{store.url}/{prefix}{RELEASE_FILENAME} describes other files than this "
            "repository although the ids match. Refusing it; delete that release."
        )
    missing = [
        p
        for p, d in release.files.items()
        if present is not None and present.get(prefix + p) != d.size_bytes
    ]
    if missing:
        raise StorageError(
            f"Release {release.id} in {store.url} does not match its manifest: "
            f"{len(missing)} file(s) missing or of the wrong size, e.g. {missing[0]!r}. "
            "Something deleted or changed them; delete the release and sync again."
        )
    unchanged = tuple(Transfer(p, d) for p, d in release.files.items())
    return SyncPlan(release, store.url, True, (), (), unchanged, url)


def _upload(store: Store, prefix: str, transfer: Transfer, source: Path | None) -> None:
    assert source is not None  # checked by sync_release
    # The untrusted-input rule (core.untrusted): still a regular file inside the
    # repository, not a link put there since the release was built. What the store then
    # reads is verified against the release's digest below.
    with untrusted.open_file(source, transfer.path):
        pass
    reported = store.upload(prefix + transfer.path, source / transfer.path)
    _verify(
        store,
        prefix + transfer.path,
        transfer,
        reported,
        "the local file changed during the upload?",
    )


def _copy(store: Store, prefix: str, transfer: Transfer) -> None:
    assert transfer.source_key is not None
    reported = store.copy(transfer.source_key, prefix + transfer.path, transfer.digest.size_bytes)
    _verify(
        store,
        prefix + transfer.path,
        transfer,
        reported,
        f"its copy source {transfer.source_key!r} does not match the manifest of its release; "
        "refusing that release as a source: verify and delete it",
    )


def _verify(
    store: Store, key: str, transfer: Transfer, reported_sha256: str | None, why: str
) -> None:
    # The sha256 the store computed while storing the object is its digest; only a
    # store that reports none (file://, gs://, multipart) is read back.
    if reported_sha256 is not None and reported_sha256 == transfer.digest.sha256:
        return
    stored = store.digest(key)
    if stored != transfer.digest:
        found = f"sha256 {stored.sha256}, {stored.size_bytes} bytes" if stored else "nothing"
        raise StorageError(
            f"{store.url}/{key} does not verify: expected sha256 {transfer.digest.sha256}, "
            f"{transfer.digest.size_bytes} bytes, found {found} ({why})."
        )


def _write_manifest(release: Release, store: Store) -> bool:
    key = release_prefix(release.id) + RELEASE_FILENAME
    if store.create(key, release.document()):
        return True
    # Someone (a concurrent sync of the same content) wrote it first: it must agree.
    existing = store.read(key)
    if existing is None or parse_release_document(existing.data, f"{store.url}/{key}") != release:
        raise StorageError(
            f"{store.url}/{key} appeared during the sync and does not describe this release. "
            "Refusing to overwrite it; check who else writes to this store."
        )
    return False


def _run_parallel(
    tasks: Sequence[tuple[Callable[[], None], int]],
    jobs: int,
    on_progress: ProgressCallback | None,
) -> None:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures: dict[Future[None], int] = {pool.submit(task): size for task, size in tasks}
        try:
            for future in as_completed(futures):
                future.result()
                if on_progress is not None:
                    on_progress(1, futures[future])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
