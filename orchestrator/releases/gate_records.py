"""Gate records: what a gate measured for a release in an environment, kept in the store.

Every gate run (and every forced promotion) writes one small JSON document, never
overwriting an earlier one::

    STORE/gates/<release-id>/<env>/<UTC time>-<random>.json

The records sit beside the releases, not inside ``releases/<id>/``: Triton serves that
folder as the model repository (``--model-control-mode=none`` would try to load a
``gates`` folder as a model and crash-loop), and ``releases verify`` refuses anything
there that the manifest does not list. The key's time prefix orders the records: the
newest is the last in key order. A record's body is free-form JSON with at least::

    {"format": 1, "release": "<id>", "environment": "<env>", "passed": true|false,
     "forced": false, "reason": null, "created": "<UTC time>", ...}

``promote`` deploys a release only when its source environment has a measured record
with ``passed``. A forced promotion (``--force``) writes its record (``forced: true``, who,
why, ``promoted_to``) after the target was deployed and checked, ``passed: false`` when
that failed; a forced record authorizes nothing else: not a later promotion, not a
baseline.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.core import untrusted
from orchestrator.errors import StorageError
from orchestrator.releases.environments import environment_key
from orchestrator.releases.stores.base import Store, check_key

__all__ = [
    "GATES_PREFIX",
    "GateRecord",
    "RECORD_FORMAT",
    "gate_records",
    "latest_passing",
    "latest_record",
    "read_record",
    "records_prefix",
    "write_gate_record",
]

logger = logging.getLogger(__name__)

GATES_PREFIX = "gates"
RECORD_FORMAT = 1
# A record is a few KiB; anything far larger is not one of ours.
_MAX_RECORD_BYTES = 4 << 20
_MAX_CREATE_TRIES = 5


@dataclass(frozen=True)
class GateRecord:
    """One stored gate record: where it is and what it says."""

    key: str
    release_id: str
    environment: str
    passed: bool
    forced: bool
    created: str
    body: Mapping[str, Any]


def records_prefix(release_id: str, environment: str) -> str:
    """The folder of one release's records in one environment (names checked).

    Example:
        >>> records_prefix("3f1c", "staging")
        'gates/3f1c/staging/'
    """
    environment_key(environment)  # checks the name
    return f"{GATES_PREFIX}/{check_key(release_id)}/{environment}/"


def write_gate_record(
    store: Store, release_id: str, environment: str, body: Mapping[str, Any]
) -> GateRecord:
    """Store a new record for ``release_id`` in ``environment``; never overwrites one.

    ``body`` is completed with ``format``, ``release``, ``environment`` and ``created``;
    it must say ``passed`` (a bool).

    Raises:
        StorageError: the body has no boolean ``passed``, or the store refused the write.

    Example:
        >>> write_gate_record(store, "3f1c", "staging", {"passed": True})  # doctest: +SKIP
        GateRecord(key='gates/3f1c/staging/20261202T041500123456Z-9a3b.json', ...)
    """
    if not isinstance(body.get("passed"), bool):
        raise StorageError("A gate record must say whether the gate passed (passed: bool).")
    prefix = records_prefix(release_id, environment)
    now = datetime.now(UTC)
    document = {
        **body,
        "format": RECORD_FORMAT,
        "release": release_id,
        "environment": environment,
        "created": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    for _ in range(_MAX_CREATE_TRIES):
        key = f"{prefix}{stamp}-{secrets.token_hex(4)}.json"
        if store.create(key, data):
            logger.info("Wrote gate record %s/%s", store.url, key)
            return _record(key, document)
    raise StorageError(
        f"Could not write a new gate record under {store.url}/{prefix}: every name tried "
        "existed already. Check for another process writing there."
    )


def gate_records(store: Store, release_id: str, environment: str) -> list[GateRecord]:
    """Every record of ``release_id`` in ``environment``, oldest first.

    Raises:
        StorageError: the store cannot be read, or a record is not valid JSON.
    """
    prefix = records_prefix(release_id, environment)
    keys = sorted(obj.key for obj in store.list_objects(prefix) if obj.key.endswith(".json"))
    return [record for key in keys if (record := read_record(store, key)) is not None]


def read_record(store: Store, key: str) -> GateRecord | None:
    """The record stored at ``key``, or None when it is gone (deleted meanwhile).

    Raises:
        StorageError: the store cannot be read, or the object is not a gate record.
    """
    found = store.read(key)
    return None if found is None else _parse(store, key, found.data)


def latest_record(store: Store, release_id: str, environment: str) -> GateRecord | None:
    """The newest record of ``release_id`` in ``environment``, or None."""
    records = gate_records(store, release_id, environment)
    return records[-1] if records else None


def latest_passing(store: Store, release_id: str, environment: str) -> GateRecord | None:
    """The newest passing *measured* record, or None when there is none.

    A forced record (``promote --force``) is passed over: it is bound to the one forced
    promotion that wrote it (its ``promoted_to``) and never authorizes another.

    Example:
        >>> latest_passing(store, "3f1c", "staging").passed  # doctest: +SKIP
        True
    """
    records = gate_records(store, release_id, environment)
    passing = [r for r in records if r.passed and not r.forced]
    return passing[-1] if passing else None


def _parse(store: Store, key: str, data: bytes) -> GateRecord:
    where = f"{store.url}/{key}"
    if len(data) > _MAX_RECORD_BYTES:
        raise StorageError(
            f"{where} is {len(data)} bytes, more than a gate record can be "
            f"({_MAX_RECORD_BYTES}). Remove it; it was not written by orchestrator gate."
        )
    try:
        body = untrusted.parse_json(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StorageError(f"{where} is not a JSON gate record ({exc}).") from exc
    if not isinstance(body, dict) or not isinstance(body.get("passed"), bool):
        raise StorageError(f"{where} is not a gate record: expected an object with passed.")
    return _record(key, body)


def _record(key: str, body: Mapping[str, Any]) -> GateRecord:
    return GateRecord(
        key=key,
        release_id=str(body.get("release", "")),
        environment=str(body.get("environment", "")),
        passed=bool(body["passed"]),
        forced=bool(body.get("forced", False)),
        created=str(body.get("created", "")),
        body=body,
    )
