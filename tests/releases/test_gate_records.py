"""Gate records in every kind of store: written beside the release, never overwritten."""

from __future__ import annotations

import json

import pytest

from orchestrator.errors import StorageError
from orchestrator.releases.gate_records import (
    gate_records,
    latest_passing,
    latest_record,
    records_prefix,
    write_gate_record,
)
from tests.conftest import Dest

RELEASE = "0123456789abcdef0123456789abcdef"


def test_records_accumulate_oldest_first_and_never_overwrite(dest: Dest) -> None:
    store = dest.open()
    first = write_gate_record(store, RELEASE, "staging", {"passed": False, "why": "p99"})
    second = write_gate_record(store, RELEASE, "staging", {"passed": True})
    third = write_gate_record(store, RELEASE, "staging", {"passed": False})

    records = gate_records(store, RELEASE, "staging")

    assert [r.key for r in records] == [first.key, second.key, third.key]
    assert len({r.key for r in records}) == 3
    assert all(r.key.startswith(f"gates/{RELEASE}/staging/") for r in records)
    assert records[0].body["why"] == "p99"
    assert latest_passing(store, RELEASE, "staging") == second
    latest = latest_record(store, RELEASE, "staging")
    assert latest is not None and latest.key == third.key and not latest.passed


def test_records_are_kept_apart_by_environment_and_release(dest: Dest) -> None:
    store = dest.open()
    write_gate_record(store, RELEASE, "staging", {"passed": True})

    assert latest_passing(store, RELEASE, "production") is None
    assert latest_passing(store, "f" * 32, "staging") is None
    assert latest_record(store, RELEASE, "production") is None


def test_a_record_says_what_it_is(dest: Dest) -> None:
    store = dest.open()
    record = write_gate_record(
        store, RELEASE, "staging", {"passed": True, "forced": True, "reason": "hotfix"}
    )
    stored = store.read(record.key)

    assert stored is not None
    body = json.loads(stored.data)
    assert body["release"] == RELEASE and body["environment"] == "staging"
    assert body["format"] == 1 and body["created"].endswith("Z")
    assert record.forced and body["reason"] == "hotfix"


def test_a_record_must_say_whether_it_passed(dest: Dest) -> None:
    with pytest.raises(StorageError, match="passed"):
        write_gate_record(dest.open(), RELEASE, "staging", {"passed": "yes"})


@pytest.mark.parametrize("bad", [b"{not json", b"[1, 2]", b'{"release": "x"}'])
def test_a_foreign_object_among_the_records_is_a_clear_error(dest: Dest, bad: bytes) -> None:
    store = dest.open()
    assert store.create(records_prefix(RELEASE, "staging") + "zz.json", bad)

    with pytest.raises(StorageError, match="gate record"):
        gate_records(store, RELEASE, "staging")


@pytest.mark.parametrize("environment", ["Staging", "staging\n", "../x", ""])
def test_environment_names_are_checked(environment: str) -> None:
    with pytest.raises(StorageError, match="environment name"):
        records_prefix(RELEASE, environment)


def test_release_ids_are_checked() -> None:
    with pytest.raises(StorageError):
        records_prefix("../other", "staging")


def test_the_latest_passing_record_is_a_measured_one_never_a_forced_one(dest: Dest) -> None:
    store = dest.open()
    measured = write_gate_record(store, RELEASE, "staging", {"passed": True})
    write_gate_record(store, RELEASE, "staging", {"passed": True, "forced": True})

    passing = latest_passing(store, RELEASE, "staging")

    assert passing is not None and passing.key == measured.key
