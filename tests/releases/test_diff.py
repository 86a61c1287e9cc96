"""releases diff: models and versions added, removed and changed, read from the store.

Against a real store: a local folder (file://) and a prefix in the moto S3 server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import StorageError
from orchestrator.releases.diff import (
    ModelChange,
    diff_from_environment,
    diff_releases,
)
from orchestrator.releases.environments import set_environment
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store
from orchestrator.releases.sync import sync_release
from orchestrator.releases.version_registry import model_files, short
from orchestrator.repository.layout import read_manifest
from tests.conftest import Dest, make_dest
from tests.support.release_repos import make_repository, rewrite, variant_onnx, write_version


@pytest.fixture(params=["file", "s3"])
def store_dest(request: pytest.FixtureRequest, tmp_path: Path) -> Dest:
    """An empty store: a local folder, or a prefix in a new moto bucket."""
    return make_dest(request.param, request, tmp_path)


def _which(repo: Path, model: str, version: int) -> str:
    """``model.onnx 3f1c2a9b7e10, notes.txt ...``: the model files of a local version."""
    return short(model_files(read_manifest(repo / model / str(version)) or {}))


def _synced(repo: Path, store: Store) -> str:
    release = build_release(repo)
    sync_release(release, store)
    return release.id


def test_added_removed_and_new_versions_are_named(release_repo: Path, store_dest: Dest) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    write_version(release_repo / "alpha", 3, release_repo / "alpha" / "2" / "model.onnx")
    shutil.rmtree(release_repo / "beta")
    make_repository(release_repo, {"gamma": [1]})
    new = _synced(release_repo, store)

    diff = diff_releases(store, old, new)

    assert diff.models == (
        ModelChange("alpha", "changed", versions_added=(3,), versions_removed=(2,)),
        ModelChange("beta", "removed", versions_removed=(1,)),
        ModelChange("gamma", "added", versions_added=(1,)),
    )
    assert diff.unchanged_models == ()
    assert diff.changed and not diff.first_release


def test_a_config_change_alone_is_a_changed_model(release_repo: Path, store_dest: Dest) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    config = release_repo / "beta" / "config.pbtxt"
    rewrite(config, config.read_text() + "\n# tuned\n")
    new = _synced(release_repo, store)

    diff = diff_releases(store, old, new)

    assert diff.models == (ModelChange("beta", "changed", config_changed=True),)
    assert diff.unchanged_models == ("alpha",)


def test_a_version_whose_metadata_differs_is_changed_but_not_reused(
    release_repo: Path, store_dest: Dest
) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    rewrite(release_repo / "beta" / "1" / "export.json", '{"metrics": {"acc": 1}}\n')
    new = _synced(release_repo, store)

    (change,) = diff_releases(store, old, new).models

    assert change == ModelChange("beta", "changed", versions_changed=(1,))
    assert change.versions_reused == ()


def test_a_version_number_that_names_another_model_file_is_reported_reused(
    release_repo: Path, store_dest: Dest, tmp_path: Path
) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    before = _which(release_repo, "beta", 1)
    shutil.rmtree(release_repo / "beta" / "1")  # a fresh checkout numbered other bytes 1
    write_version(
        release_repo / "beta",
        1,
        variant_onnx(release_repo / "alpha/1/model.onnx", tmp_path / "v", "B"),
    )
    new = _synced(release_repo, store)

    (change,) = diff_releases(store, old, new).models
    result = CliRunner().invoke(cli, ["releases", "diff", *_store_args(store_dest), old, new])

    assert change == ModelChange("beta", "changed", versions_changed=(1,), versions_reused=(1,))
    assert change.identities == {"1": _which(release_repo, "beta", 1)} != {"1": before}
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"changed  beta: REUSED version numbers 1 ({_which(release_repo, 'beta', 1)}): each "
        "now names another model file than before (a store written before the version "
        "registry)\n"
    )


def test_the_same_release_has_no_changes(release_repo: Path, store_dest: Dest) -> None:
    store = store_dest.open()
    release = _synced(release_repo, store)

    diff = diff_releases(store, release, release)

    assert diff.models == ()
    assert diff.unchanged_models == ("alpha", "beta")
    assert not diff.changed


def test_an_environment_without_a_pointer_makes_a_first_release(
    release_repo: Path, store_dest: Dest
) -> None:
    store = store_dest.open()
    release = _synced(release_repo, store)

    diff = diff_from_environment(store, "staging", release)

    assert diff.first_release and diff.old_id is None and diff.against == "staging"
    assert [(m.name, m.status, m.versions_added) for m in diff.models] == [
        ("alpha", "added", (2,)),
        ("beta", "added", (1,)),
    ]


def test_an_environment_is_compared_with_its_current_release(
    release_repo: Path, store_dest: Dest
) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    set_environment(store, "staging", old)
    make_repository(release_repo, {"gamma": [1]})
    new = _synced(release_repo, store)

    diff = diff_from_environment(store, "staging", new)

    assert diff.old_id == old
    assert diff.models == (ModelChange("gamma", "added", versions_added=(1,)),)


def test_an_unknown_release_is_a_storage_error(release_repo: Path, store_dest: Dest) -> None:
    store = store_dest.open()
    release = _synced(release_repo, store)

    with pytest.raises(StorageError, match="Release 0123abcd is not in .*releases list"):
        diff_releases(store, "0123abcd", release)


# --- the CLI --------------------------------------------------------------------------


def _store_args(dest: Dest) -> list[str]:
    return [dest.url] + (["--endpoint-url", dest.endpoint_url] if dest.endpoint_url else [])


def test_cli_markdown_lists_each_changed_model(release_repo: Path, store_dest: Dest) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    set_environment(store, "staging", old)
    make_repository(release_repo, {"gamma": [1]})
    new = _synced(release_repo, store)

    result = CliRunner().invoke(
        cli,
        ["releases", "diff", *_store_args(store_dest), "--from-env", "staging", new]
        + ["--format", "markdown"],
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"### Release `{new}`\n\n"
        f"Changes against staging's current release {old}:\n\n"
        "| model | change | details |\n|---|---|---|\n"
        f"| gamma | added | versions added 1 ({_which(release_repo, 'gamma', 1)}) |\n\n"
        "Unchanged: alpha, beta.\n"
    )


def test_cli_says_when_there_is_nothing_to_compare(release_repo: Path, tmp_path: Path) -> None:
    dest = Dest((tmp_path / "store").as_uri(), None)
    release = _synced(release_repo, dest.open())

    table = CliRunner().invoke(
        cli, ["releases", "diff", dest.url, "--from-env", "production", release]
    )
    markdown = CliRunner().invoke(
        cli,
        ["releases", "diff", dest.url, "--from-env", "production", release]
        + ["--format", "markdown"],
    )

    assert table.exit_code == 0, table.output
    assert table.stderr == (
        f"{release} is a first release: production runs no release yet, nothing to compare.\n"
    )
    assert table.stdout == (
        f"added    alpha: versions added 2 ({_which(release_repo, 'alpha', 2)})\n"
        f"added    beta: versions added 1 ({_which(release_repo, 'beta', 1)})\n"
    )
    assert "First release: production runs no release yet" in markdown.stdout


def test_cli_json_has_both_ids_and_the_changes(release_repo: Path, tmp_path: Path) -> None:
    dest = Dest((tmp_path / "store").as_uri(), None)
    store = dest.open()
    old = _synced(release_repo, store)
    removed = _which(release_repo, "beta", 1)
    shutil.rmtree(release_repo / "beta")
    new = _synced(release_repo, store)

    result = CliRunner().invoke(cli, ["releases", "diff", dest.url, old, new, "--format", "json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["old"], body["new"], body["against"]) == (old, new, "release")
    assert body["models"] == [
        {
            "name": "beta",
            "status": "removed",
            "versions_added": [],
            "versions_removed": [1],
            "versions_changed": [],
            "config_changed": False,
            "versions_reused": [],
            "identities": {"1": removed},
        }
    ]
    assert body["unchanged_models"] == ["alpha"]


@pytest.mark.parametrize(
    ("ids", "from_env", "expected"),
    [
        (["a"], [], "Expected OLD NEW, got 1 release id(s): a."),
        (["a", "b", "c"], [], "Expected OLD NEW, got 3 release id(s): a b c."),
        (["a", "b"], ["--from-env", "staging"], "Expected NEW (with --from-env), got 2"),
        (
            [],
            ["--from-env", "staging"],
            "Expected NEW (with --from-env), got 0 release id(s): none.",
        ),
    ],
    ids=["one-id", "three-ids", "two-ids-with-env", "none-with-env"],
)
def test_cli_wrong_number_of_ids_is_a_usage_error(
    tmp_path: Path, ids: list[str], from_env: list[str], expected: str
) -> None:
    result = CliRunner().invoke(
        cli, ["releases", "diff", (tmp_path / "s").as_uri(), *from_env, *ids]
    )
    assert result.exit_code == 2
    assert expected in result.stderr


def test_cli_unknown_release_exits_1_without_traceback(release_repo: Path, tmp_path: Path) -> None:
    dest = Dest((tmp_path / "store").as_uri(), None)
    release = _synced(release_repo, dest.open())

    result = CliRunner().invoke(cli, ["releases", "diff", dest.url, "feedbeef", release])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Release feedbeef is not in ")
    assert isinstance(result.exception, SystemExit)


def test_release_format_id_prints_only_the_id(release_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["release", "--repo", str(release_repo), "--format", "id"])

    assert result.exit_code == 0, result.output
    assert result.stdout == build_release(release_repo).id + "\n"


def test_a_diff_against_an_environment_names_its_deployed_unit(
    release_repo: Path, store_dest: Dest
) -> None:
    store = store_dest.open()
    old = _synced(release_repo, store)
    set_environment(store, "staging", old, unit="ab" * 32)

    diff = diff_from_environment(store, "staging", old)
    result = CliRunner().invoke(
        cli, ["releases", "diff", *_store_args(store_dest), "--from-env", "staging", old]
    )

    assert (diff.old_id, diff.old_unit) == (old, "ab" * 32)
    assert diff.as_dict()["old_unit"] == "ab" * 32
    assert result.exit_code == 0, result.output
    assert f"staging's current release {old} (deployed unit {'ab' * 6})" in result.stderr
