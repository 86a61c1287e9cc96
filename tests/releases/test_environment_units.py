"""Environment pointers, format 2: the release and the unit (manifests applied) it runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import StorageError
from orchestrator.releases.environments import environment_key, read_environment, set_environment
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store
from orchestrator.releases.sync import sync_release
from tests.conftest import Dest, make_dest
from tests.support.release_repos import make_repository

U1, U2, U3 = "1" * 64, "2" * 64, "3" * 64


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, affine_onnx_cached: Path) -> Store:
    dest: Dest = make_dest(request.param, request, tmp_path)
    opened = dest.open()
    repo = make_repository(tmp_path / "repo", {"alpha": [1]}, onnx_cache=affine_onnx_cached)
    sync_release(build_release(repo), opened)
    return opened


def _release(store: Store) -> str:
    return store.list_children("releases/")[0]


def test_previous_moves_only_when_the_unit_changes(store: Store) -> None:
    release = _release(store)
    set_environment(store, "staging", release, unit=U1)
    set_environment(store, "staging", release, unit=U2)  # a manifest-only change

    again = set_environment(store, "staging", release, unit=U2)  # a redeploy, same unit
    read = read_environment(store, "staging")

    assert (again.unit, again.previous_release_id, again.previous_unit) == (U2, release, U1)
    assert read is not None and (read.unit, read.previous_unit) == (U2, U1)
    found = store.read(environment_key("staging"))
    assert found is not None
    body = json.loads(found.data)
    assert body["format"] == 2
    assert (body["release"], body["unit"]) == (release, U2)
    assert body["previous"] == {"release": release, "unit": U1}


def test_a_format_1_pointer_reads_without_units_and_is_rewritten_as_format_2(
    store: Store,
) -> None:
    release = _release(store)
    old = {"environment": "staging", "release": release, "previous": release, "updated": "x"}
    store.replace(environment_key("staging"), json.dumps(old).encode(), None)

    read = read_environment(store, "staging")
    moved = set_environment(store, "staging", release, unit=U3)

    assert read is not None
    assert (read.release_id, read.unit, read.previous_release_id, read.previous_unit) == (
        release,
        None,
        release,
        None,
    )
    assert (moved.previous_release_id, moved.previous_unit) == (release, None)
    found = store.read(environment_key("staging"))
    assert found is not None and json.loads(found.data)["format"] == 2


@pytest.mark.parametrize("unit", ["abc", "G" * 64, 12], ids=["short", "not-hex", "not-a-string"])
def test_a_pointer_with_a_bad_unit_is_refused(store: Store, unit: object) -> None:
    body = {"format": 2, "environment": "staging", "release": _release(store), "unit": unit}
    store.replace(environment_key("staging"), json.dumps(body).encode(), None)

    with pytest.raises(StorageError, match="is not a valid environment pointer"):
        read_environment(store, "staging")
