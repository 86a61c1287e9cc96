"""Environment pointers: which release an environment (staging, production) runs.

A pointer is one small JSON document in the DEST store::

    DEST/environments/<env>.json   {"environment": "<env>", "release": "<id>",
                                    "previous": "<id>" | null, "updated": "<UTC time>"}

It only ever points at a complete release (one with its ``release.json``), and it is
changed by compare-and-swap against the store's version token, so two promotions at
once cannot silently overwrite each other.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.core import untrusted
from orchestrator.errors import StorageError, StoreConflictError
from orchestrator.releases.manifest import RELEASE_FILENAME, release_prefix
from orchestrator.releases.stores.base import Store, check_key

__all__ = [
    "ENVIRONMENTS_PREFIX",
    "EnvironmentPointer",
    "environment_key",
    "read_environment",
    "read_environments",
    "set_environment",
]

logger = logging.getLogger(__name__)

ENVIRONMENTS_PREFIX = "environments"
# Matched in full: a "$" would also match before a final newline ("staging\n").
_ENV_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


@dataclass(frozen=True)
class EnvironmentPointer:
    """The release an environment runs; ``token`` is the store's version for CAS."""

    environment: str
    release_id: str
    updated: str
    previous_release_id: str | None
    token: str


def environment_key(environment: str) -> str:
    """The key of an environment pointer, after checking the name."""
    if not _ENV_NAME.fullmatch(environment):
        raise StorageError(
            f"Invalid environment name {environment!r}. Expected 1 to 63 characters: "
            "lower-case letters, digits, '-', '_' or '.', starting with a letter or digit "
            "(e.g. staging, production)."
        )
    return f"{ENVIRONMENTS_PREFIX}/{environment}.json"


def read_environment(store: Store, environment: str) -> EnvironmentPointer | None:
    """The pointer of ``environment``, or None when it has none."""
    key = environment_key(environment)
    found = store.read(key)
    if found is None:
        return None
    try:
        body = untrusted.parse_json(found.data)
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
    must_be_absent: bool = False,
) -> EnvironmentPointer:
    """Point ``environment`` at a complete release, compare-and-swap.

    Args:
        store: the DEST store.
        environment: e.g. ``staging``.
        release_id: a release that has its ``release.json`` in the store.
        expected_release_id: refuse unless the environment currently points here
            (None: accept whatever it points at now, or nothing).
        must_exist: refuse when the environment has no pointer yet.
        must_be_absent: refuse when the environment already has a pointer (a first
            deploy: the compare-and-swap against "no pointer").

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
            "Sync it first: orchestrator sync STORE --repo REPOSITORY."
        )
    current = read_environment(store, environment)
    if current is not None and must_be_absent:
        raise StoreConflictError(
            f"Environment {environment!r} points at {current.release_id} already, where no "
            "pointer was expected: someone else set it. Check `orchestrator releases list` "
            "and retry."
        )
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
