"""The version registry: a (model, version) names one model file, in every release of a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.core.digest import FileDigest
from orchestrator.errors import RepositoryError, StorageError
from orchestrator.releases.catalog import read_releases
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store
from orchestrator.releases.sync import sync, sync_release
from orchestrator.releases.version_registry import (
    VersionRegistry,
    registry_key,
    reused_versions,
)
from tests.conftest import Dest
from tests.support.onnx_models import make_bundle
from tests.support.release_repos import make_repository, variant_onnx, write_version

A = {"model.onnx": FileDigest("a" * 64, 10)}
B = {"model.onnx": FileDigest("b" * 64, 11)}
C = {"model.onnx": FileDigest("c" * 64, 12), "weights.bin": FileDigest("d" * 64, 13)}


def _registered(store: Store, model: str) -> dict[str, str]:
    found = store.read(registry_key(model))
    assert found is not None
    versions = json.loads(found.data)["versions"]
    return {n: v["files"]["model.onnx"]["sha256"][:1] for n, v in versions.items()}


def test_the_same_files_keep_their_number_and_new_files_take_the_next(dest: Dest) -> None:
    store = dest.open()
    registry = VersionRegistry(store)

    numbers = [registry.number("m", files) for files in (A, B, A, C, B)]

    assert numbers == [1, 2, 1, 3, 2]
    # another machine (a fresh registry object) agrees
    assert VersionRegistry(store).number("m", C) == 3
    assert _registered(store, "m") == {"1": "a", "2": "b", "3": "c"}


def test_export_json_and_golden_data_do_not_change_a_versions_identity(dest: Dest) -> None:
    registry = VersionRegistry(dest.open())
    with_metadata = {**A, "export.json": FileDigest("e" * 64, 5), "golden.npz": B["model.onnx"]}

    assert registry.number("m", A) == registry.number("m", with_metadata) == 1


class _RacingStore:
    """A real store where another pipeline registers ``files`` just before our first write."""

    def __init__(self, store: Store, files: dict[str, FileDigest]) -> None:
        self.store, self.files, self.raced = store, files, False

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def replace(self, key: str, data: bytes, token: str | None) -> None:
        if not self.raced:
            self.raced = True
            VersionRegistry(self.store).number("m", self.files)  # the other pipeline wins
        self.store.replace(key, data, token)


@pytest.mark.parametrize(
    ("theirs", "expected"),
    [(B, {"1": "a", "2": "b", "3": "c"}), (C, {"1": "a", "2": "c"})],
    ids=["other-files", "same-files"],
)
def test_a_pipeline_that_loses_the_race_reads_again(
    dest: Dest, theirs: dict[str, FileDigest], expected: dict[str, str]
) -> None:
    store = dest.open()
    VersionRegistry(store).number("m", A)
    racing = _RacingStore(store, theirs)

    number = VersionRegistry(racing).number("m", C)  # type: ignore[arg-type]

    assert racing.raced
    assert number == int(next(n for n, f in expected.items() if f == "c"))
    assert _registered(store, "m") == expected


def test_a_repository_that_gives_a_registered_number_other_files_is_refused(
    dest: Dest, tmp_path: Path, affine_onnx_cached: Path
) -> None:
    store = dest.open()
    first = make_repository(tmp_path / "first", {"beta": [1]}, onnx_cache=affine_onnx_cached)
    VersionRegistry(store).register_repository(first)
    # another checkout published other model bytes as beta 1 (numbered locally)
    other = make_repository(tmp_path / "other", {"beta": []}, onnx_cache=affine_onnx_cached)
    write_version(other / "beta", 1, variant_onnx(affine_onnx_cached, tmp_path / "v.onnx", "B"))
    before = store.read(registry_key("beta"))

    with pytest.raises(RepositoryError) as raised:
        VersionRegistry(store).register_repository(other)

    message = str(raised.value)
    assert f"{other / 'beta' / '1'} holds model.onnx" in message
    assert "registers beta version 1 as model.onnx" in message
    assert "--store" in message
    assert store.read(registry_key("beta")) == before


def test_sync_refuses_a_repository_that_reuses_a_number_and_uploads_nothing(
    dest: Dest, tmp_path: Path, affine_onnx_cached: Path
) -> None:
    first = make_repository(tmp_path / "first", {"beta": [1]}, onnx_cache=affine_onnx_cached)
    sync(first, dest.url, endpoint_url=dest.endpoint_url)
    other = make_repository(tmp_path / "other", {"beta": []}, onnx_cache=affine_onnx_cached)
    write_version(other / "beta", 1, variant_onnx(affine_onnx_cached, tmp_path / "v.onnx", "B"))
    store = dest.open()
    keys = [o.key for o in store.list_objects("")]

    result = CliRunner().invoke(
        cli,
        ["sync", dest.url, "--repo", str(other)]
        + (["--endpoint-url", dest.endpoint_url] if dest.endpoint_url else []),
    )

    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert "registers beta version 1 as model.onnx" in result.stderr
    assert [o.key for o in store.list_objects("")] == keys


def test_a_store_whose_releases_already_reuse_a_number_is_reported_not_extended(
    dest: Dest, tmp_path: Path, affine_onnx_cached: Path
) -> None:
    store = dest.open()
    # two releases written before the registry (sync_release alone, as old syncs did)
    first = make_repository(tmp_path / "first", {"beta": [1]}, onnx_cache=affine_onnx_cached)
    other = make_repository(tmp_path / "other", {"beta": []}, onnx_cache=affine_onnx_cached)
    write_version(other / "beta", 1, variant_onnx(affine_onnx_cached, tmp_path / "v.onnx", "B"))
    ids = sorted(sync_release(build_release(r), store).plan.release.id for r in (first, other))

    reused = reused_versions(read_releases(store))
    with pytest.raises(StorageError) as raised:
        VersionRegistry(store).number("beta", A)

    assert len(reused) == 1 and reused[0].startswith("beta version 1 is model.onnx ")
    assert all(release_id in reused[0] for release_id in ids)
    assert "already breaks the version rule" in str(raised.value)
    assert all(release_id in str(raised.value) for release_id in ids)
    assert store.read(registry_key("beta")) is None


def test_a_new_registry_is_seeded_from_the_stores_releases(
    dest: Dest, tmp_path: Path, affine_onnx_cached: Path
) -> None:
    store = dest.open()
    repo = make_repository(tmp_path / "repo", {"beta": [1, 2]}, onnx_cache=affine_onnx_cached)
    sync_release(build_release(repo, all_versions=True), store)  # before the registry

    # version 2 holds the same model file as 1 here, so the next number is 3
    assert VersionRegistry(store).number("beta", B) == 3


def test_a_malformed_registry_is_a_clear_error(dest: Dest) -> None:
    store = dest.open()
    store.replace(registry_key("m"), b'{"format": 1, "model": "m", "versions": {"x": {}}}', None)

    with pytest.raises(StorageError, match="is not a valid version registry"):
        VersionRegistry(store).number("m", A)


def test_publish_with_a_store_numbers_from_its_registry_on_a_fresh_checkout(
    tmp_path: Path,
) -> None:
    store_url = (tmp_path / "store").as_uri()
    bundle = make_bundle(tmp_path / "bundle")
    runner = CliRunner()
    # an earlier push published other model files as affine 1 and 2
    registry = VersionRegistry(Dest(store_url, None).open())
    registry.number("affine", A)
    registry.number("affine", B)

    result = runner.invoke(
        cli, ["publish", str(bundle), "--repo", str(tmp_path / "repo"), "--store", store_url]
    )
    again = runner.invoke(
        cli, ["publish", str(bundle), "--repo", str(tmp_path / "fresh"), "--store", store_url]
    )

    assert result.exception is None, result.output
    assert result.stdout.startswith(f"affine 3 {tmp_path / 'repo' / 'affine' / '3'}")
    assert again.exception is None, again.output
    assert again.stdout.startswith("affine 3 ")
    assert sorted(p.name for p in (tmp_path / "fresh" / "affine").iterdir()) == [
        "3",
        "config.pbtxt",
    ]


def test_publish_refuses_new_version_with_a_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "publish",
            str(make_bundle(tmp_path / "bundle")),
            "--repo",
            str(tmp_path / "repo"),
            "--store",
            (tmp_path / "store").as_uri(),
            "--new-version",
        ],
    )

    assert isinstance(result.exception, SystemExit) and result.exit_code == 2
    assert "--new-version gives a model file a second number" in result.stderr
    assert not (tmp_path / "repo").exists()


def test_validate_with_a_store_reports_a_reused_number_and_writes_nothing(
    tmp_path: Path, affine_onnx_cached: Path
) -> None:
    dest = Dest((tmp_path / "store").as_uri(), None)
    first = make_repository(tmp_path / "first", {"beta": [1]}, onnx_cache=affine_onnx_cached)
    VersionRegistry(dest.open()).register_repository(first)
    other = make_repository(tmp_path / "other", {"beta": []}, onnx_cache=affine_onnx_cached)
    write_version(other / "beta", 1, variant_onnx(affine_onnx_cached, tmp_path / "v.onnx", "B"))
    registered = dest.open().read(registry_key("beta"))

    good = CliRunner().invoke(cli, ["validate", "--repo", str(first), "--store", dest.url])
    bad = CliRunner().invoke(cli, ["validate", "--repo", str(other), "--store", dest.url])

    assert good.exception is None, good.output
    assert isinstance(bad.exception, SystemExit) and bad.exit_code == 1
    assert f"error: version-reused: {other / 'beta' / '1'} holds model.onnx" in bad.stderr
    assert "1 version(s) reuse a number" in bad.stderr
    assert dest.open().read(registry_key("beta")) == registered
