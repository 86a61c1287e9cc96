"""The release a deploy may roll out, and the files its golden smoke needs.

Before anything reaches a cluster, the release must be complete and intact: its
``release.json`` is there and every file matches it (``catalog.verify_release``), and
every served version carries ``golden.npz`` (no traffic before golden answers). The
post-rollout smoke then needs, on this machine, each model's ``config.pbtxt`` and each
served version's ``golden.npz``: ``fetch_probe_files`` reads exactly those from the
store and checks each against the manifest's sha256 and size before writing it, since
a store is as untrusted as any other input.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.core.model_config import CONFIG_FILENAME
from orchestrator.errors import DeployError
from orchestrator.releases.catalog import list_releases, verify_release
from orchestrator.releases.manifest import (
    RELEASE_FILENAME,
    Release,
    parse_release_document,
    release_prefix,
)
from orchestrator.releases.stores.base import Store

__all__ = ["LATEST", "checked_release", "fetch_probe_files", "probe_paths", "resolve_release"]

logger = logging.getLogger(__name__)

LATEST = "latest"


def resolve_release(store: Store, wanted: str) -> str:
    """The release id ``wanted`` names: itself, or for ``latest`` the newest complete release.

    Raises:
        DeployError: ``latest`` was asked of a store without a complete release.

    Example:
        >>> resolve_release(open_store("file:///tmp/store"), "latest")  # doctest: +SKIP
        '3f1c0a9e5b7d4c2a8e6f1b3d5c7a9e0f'
    """
    if wanted != LATEST:
        return wanted
    complete = [info.id for info in list_releases(store) if info.complete]
    if not complete:
        raise DeployError(
            f"--release latest: {store.url} holds no complete release. Sync one first: "
            f"orchestrator sync {store.url} --repo model_repository"
        )
    return complete[0]


def checked_release(store: Store, release_id: str) -> Release:
    """The release ``release_id`` once it verifies and every served version has golden data.

    Raises:
        DeployError: no ``release.json``, a file that does not match it, or a served
            version without ``golden.npz``.
        StorageError: the store cannot be read, or the manifest is invalid.

    Example:
        >>> checked_release(open_store("s3://models/prod"), "3f1c...").id  # doctest: +SKIP
        '3f1c...'
    """
    key = release_prefix(release_id) + RELEASE_FILENAME
    found = store.read(key)
    if found is None:
        raise DeployError(
            f"Release {release_id} has no {RELEASE_FILENAME} in {store.url}: it is not a "
            "complete release. See `orchestrator releases list STORE`; sync it first."
        )
    problems = verify_release(store, release_id)
    if problems:
        listed = "; ".join(problems[:5])
        raise DeployError(
            f"Release {release_id} in {store.url} does not verify ({len(problems)} "
            f"problem(s): {listed}). Refusing to deploy it; delete it and sync again."
        )
    release = parse_release_document(found.data, f"{store.url}/{key}")
    missing = [path for path in probe_paths(release) if path not in release.files]
    if missing:
        raise DeployError(
            f"Release {release_id} lacks {', '.join(missing[:5])}: the golden smoke needs "
            f"{CONFIG_FILENAME} and {GOLDEN_FILENAME} for every served version. Publish the "
            "versions from export bundles (which carry golden data) and release again."
        )
    return release


def probe_paths(release: Release) -> list[str]:
    """The release paths the golden smoke reads: every config and served version's golden data.

    Example:
        >>> probe_paths(release)  # doctest: +SKIP
        ['alpha/config.pbtxt', 'alpha/1/golden.npz']
    """
    paths = []
    for model in release.models:
        paths.append(f"{model.name}/{CONFIG_FILENAME}")
        paths += [f"{model.name}/{version}/{GOLDEN_FILENAME}" for version in model.versions]
    return paths


def fetch_probe_files(store: Store, release: Release, folder: Path) -> Path:
    """Copy the probe's files of ``release`` into ``folder`` (Triton's layout), each verified.

    Returns:
        ``folder``, a repository holding only configs and golden data.

    Raises:
        DeployError: a file is missing or differs from the manifest.

    Example:
        >>> fetch_probe_files(store, release, Path("/tmp/probe"))  # doctest: +SKIP
        PosixPath('/tmp/probe')
    """
    prefix = release_prefix(release.id)
    for path in probe_paths(release):
        found = store.read(prefix + path)
        want = release.files[path]
        data = found.data if found is not None else None
        if data is None or (hashlib.sha256(data).hexdigest(), len(data)) != (
            want.sha256,
            want.size_bytes,
        ):
            state = "missing" if data is None else "changed since release.json was written"
            raise DeployError(
                f"{store.url}/{prefix}{path} is {state}. Refusing to smoke-test release "
                f"{release.id} with it; run orchestrator releases verify {store.url} {release.id}."
            )
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    logger.info("Fetched the golden data of release %s into %s", release.id, folder)
    return folder
