"""publish is idempotent by content: a byte-identical model file is not published again."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

from orchestrator.errors import UnsafeFileError
from orchestrator.repository.layout import read_manifest, version_numbers
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from tests.support.forks import fork_call
from tests.support.onnx_models import affine_model, make_affine_onnx
from tests.support.snapshots import tree_snapshot
from training.bundle import write_bundle


def affine_bundle(folder: Path, name: str = "affine", variant: str = "", golden: float = 1) -> Path:
    """A bundle of the affine graph; ``variant`` changes the model's bytes, not its signature."""
    model = affine_model()
    model.doc_string = variant
    x = np.full((2, 4), golden, dtype=np.float32)
    write_bundle(
        folder,
        onnx_bytes=model.SerializeToString(),
        golden_inputs={"x": x},
        golden_outputs={"y": x * 2 + 1, "s": x.sum(axis=1, keepdims=True)},
        metadata={"model_name": name, "signature": {}},
    )
    return folder


def test_identical_model_file_is_unchanged_and_nothing_is_written(tmp_path: Path) -> None:
    bundle = affine_bundle(tmp_path / "bundle")
    repo = tmp_path / "repo"
    first = publish(bundle, repo)
    before = tree_snapshot(repo)
    again = publish(bundle, repo)
    assert (again.status, again.unchanged, again.version, again.path) == (
        "unchanged",
        True,
        1,
        first.path,
    )
    assert not again.config_written and again.files == first.files
    assert tree_snapshot(repo) == before, "an unchanged publish wrote something"
    assert first.status == "published" and not first.unchanged


def test_new_version_publishes_an_identical_model_file_again(tmp_path: Path) -> None:
    bundle = affine_bundle(tmp_path / "bundle")
    repo = tmp_path / "repo"
    publish(bundle, repo)
    forced = publish(bundle, repo, new_version=True)
    assert (forced.status, forced.version) == ("published", 2)
    assert version_numbers(repo / "affine") == [1, 2]


def test_a_changed_model_file_becomes_a_new_version(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    publish(affine_bundle(tmp_path / "a"), repo)
    changed = publish(affine_bundle(tmp_path / "b", variant="retrained"), repo)
    assert (changed.status, changed.version) == ("published", 2)


def test_only_the_model_file_decides_new_golden_data_alone_is_unchanged(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    publish(affine_bundle(tmp_path / "a"), repo)
    again = publish(affine_bundle(tmp_path / "b", golden=3), repo)
    assert (again.status, again.version) == ("unchanged", 1)


def test_the_highest_version_holding_the_model_is_named(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    a, b = affine_bundle(tmp_path / "a"), affine_bundle(tmp_path / "b", variant="b")
    publish(a, repo)
    publish(b, repo)
    assert publish(a, repo).version == 1  # an older version holds it: still unchanged
    publish(a, repo, new_version=True)
    result = publish(a, repo)
    assert (result.status, result.version) == ("unchanged", 3)


def test_a_version_without_a_manifest_is_compared_by_hashing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    bundle = affine_bundle(tmp_path / "bundle")
    publish(bundle, repo)
    (repo / "affine" / "1" / "manifest.json").unlink()
    assert publish(bundle, repo).status == "unchanged"
    (repo / "affine" / "1" / "model.onnx").write_bytes(affine_model().SerializeToString())
    assert publish(bundle, repo).version == 2, "a different file is not the same model"


def test_a_manifest_that_disagrees_with_the_file_size_is_not_trusted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    a, b = affine_bundle(tmp_path / "a"), affine_bundle(tmp_path / "b", variant="bigger")
    publish(a, repo)
    # The file is replaced by b's model; the manifest still describes a's.
    (repo / "affine" / "1" / "model.onnx").write_bytes((b / "model.onnx").read_bytes())
    assert read_manifest(repo / "affine" / "1") != {}
    assert publish(a, repo).version == 2, "the manifest described a file that is gone"
    assert publish(b, repo).version == 1, "version 1 holds b's bytes, found by hashing"


def test_a_same_size_tampered_file_behind_its_manifest_is_what_validate_reports(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    a = affine_bundle(tmp_path / "a", variant="aaaa")
    publish(a, repo)
    same_size = affine_bundle(tmp_path / "b", variant="bbbb")
    (repo / "affine" / "1" / "model.onnx").write_bytes((same_size / "model.onnx").read_bytes())
    # The manifest is trusted for a file of its size (hashing every version of every
    # model on every publish would be the price); validate, which runs before any sync,
    # checks every file against it.
    assert publish(a, repo).status == "unchanged"
    assert "manifest-mismatch" in {f.code for f in validate_repository(repo)}


def test_a_version_whose_model_file_is_a_link_holds_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    bundle = affine_bundle(tmp_path / "bundle")
    publish(bundle, repo)
    model = repo / "affine" / "1" / "model.onnx"
    model.rename(tmp_path / "elsewhere.onnx")
    os.symlink(tmp_path / "elsewhere.onnx", model)
    result = publish(bundle, repo)
    assert (result.status, result.version) == ("published", 2)


def test_external_weights_count_as_part_of_the_model(tmp_path: Path) -> None:
    from tests.support.corpus import external_weights_model

    repo = tmp_path / "repo"
    source = external_weights_model(tmp_path / "src" / "big.onnx")
    publish(source, repo)
    assert publish(source, repo).status == "unchanged"
    weights = source.parent / "weights.bin"
    weights.write_bytes(np.full(64, 2, dtype=np.float32).tobytes())
    changed = publish(source, repo)
    assert (changed.status, changed.version) == ("published", 2), "same graph, new weights"
    assert (changed.path / "weights.bin").read_bytes() == weights.read_bytes()


def test_a_bare_onnx_file_identical_to_a_bundle_model_is_unchanged(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    source = make_affine_onnx(tmp_path / "affine.onnx")
    publish(source, repo)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.onnx").write_bytes(source.read_bytes())
    result = publish(bundle, repo, "affine")
    assert (result.status, result.version, result.model_file) == ("unchanged", 1, "model.onnx")
    assert publish(source, repo).model_file == "affine.onnx"


def test_concurrent_publishes_of_one_bundle_make_one_version(tmp_path: Path) -> None:
    bundle = affine_bundle(tmp_path / "bundle")
    repo = tmp_path / "repo"
    for model in ("fresh", "existing"):
        if model == "existing":
            publish(affine_bundle(tmp_path / "other", variant="other"), repo, model)
        pids = [fork_call(functools.partial(publish, bundle, repo, model)) for _ in range(6)]
        assert [os.waitpid(pid, 0)[1] for pid in pids] == [0] * 6
        expected = [1] if model == "fresh" else [1, 2]
        assert version_numbers(repo / model) == expected, model
    assert (repo / "existing" / "2" / "model.onnx").read_bytes() == (
        bundle / "model.onnx"
    ).read_bytes()
    assert [f for f in validate_repository(repo) if f.is_error] == []


def test_a_model_folder_that_is_a_link_holds_nothing_and_is_refused(tmp_path: Path) -> None:
    bundle = affine_bundle(tmp_path / "bundle")
    elsewhere = tmp_path / "elsewhere"
    publish(bundle, elsewhere)
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(elsewhere / "affine", repo / "affine")
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        publish(bundle, repo)
    assert version_numbers(elsewhere / "affine") == [1]
