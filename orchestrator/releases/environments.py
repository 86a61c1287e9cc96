"""Environment pointers: which release an environment (staging, production) runs.

A pointer is one small JSON document in the DEST store (format 2)::

    DEST/environments/<env>.json
        {"format": 2, "environment": "<env>", "release": "<id>",
         "unit": "<sha256 of the manifests applied>" | null,
         "previous": {"release": "<id>", "unit": "<sha256>" | null} | null,
         "updated": "<UTC time>"}

What runs is the deployed *unit*: the release and the manifests (image included) that
serve it (``deploy.unit``). ``previous`` moves only when the unit changes, so a redeploy
of the same unit keeps the real rollback target. A format-1 pointer (``"previous":
"<id>"``, no unit) still reads, with its units None; it is never written again.

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
_UNIT = re.compile(r"[0-9a-f]{64}")
FORMAT = 2


@dataclass(frozen=True)
class EnvironmentPointer:
    """The unit an environment runs; ``token`` is the store's version for CAS.

    ``unit``/``previous_unit``: the digests of the applied manifests (None: a format-1
    pointer, or a previous unit deployed before units were recorded).
    """

    environment: str
    release_id: str
    updated: str
    previous_release_id: str | None
    token: str
    unit: str | None = None
    previous_unit: str | None = None


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
        previous_unit = None
        if isinstance(previous, dict):  # format 2
            previous_unit = _unit(previous.get("unit"))
            previous = check_key(str(previous["release"]))
        elif previous:
            previous = check_key(str(previous))
        return EnvironmentPointer(
            environment,
            release_id,
            str(body.get("updated", "")),
            previous or None,
            found.token,
            _unit(body.get("unit")),
            previous_unit,
        )
    except (ValueError, KeyError, TypeError, AttributeError, StorageError) as exc:
        raise StorageError(
            f"{store.url}/{key} is not a valid environment pointer ({exc}). Expected "
            '{"release": "<id>", ...}; point the environment again with set_environment.'
        ) from exc


def _unit(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _UNIT.fullmatch(value):
        raise ValueError(f"unit {value!r} is not a sha256 hex digest")
    return value


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
    unit: str | None = None,
) -> EnvironmentPointer:
    """Point ``environment`` at a complete release (and the unit applied), compare-and-swap.

    Args:
        store: the DEST store.
        environment: e.g. ``staging``.
        release_id: a release that has its ``release.json`` in the store.
        expected_release_id: refuse unless the environment currently points here
            (None: accept whatever it points at now, or nothing).
        must_exist: refuse when the environment has no pointer yet.
        must_be_absent: refuse when the environment already has a pointer (a first
            deploy: the compare-and-swap against "no pointer").
        unit: the digest of the manifests applied (``deploy.unit``). ``previous``
            becomes the current unit only when this one differs from it; a redeploy of
            the same unit keeps ``previous``.

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
    if unit is not None:
        _unit(unit)
    updated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    previous: str | None
    if current is None:
        previous, previous_unit = None, None
    elif (current.release_id, current.unit) == (release_id, unit):
        # the same unit again: keep the real rollback target
        previous, previous_unit = current.previous_release_id, current.previous_unit
    else:
        previous, previous_unit = current.release_id, current.unit
    body = {
        "format": FORMAT,
        "environment": environment,
        "release": release_id,
        "unit": unit,
        "previous": (
            {"release": previous, "unit": previous_unit} if previous is not None else None
        ),
        "updated": updated,
    }
    data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()
    store.replace(key, data, current.token if current else None)
    logger.info("Pointed environment %s at release %s in %s", environment, release_id, store.url)
    written = store.read(key)
    token = written.token if written else ""
    return EnvironmentPointer(
        environment, release_id, updated, previous, token, unit, previous_unit
    )
