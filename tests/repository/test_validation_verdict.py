"""The remembered verdict (validation.verdict): release skips the validator only for a
repository unchanged, entry by entry, since it validated without errors; any change to
a file, a folder, a permission, the parameters or the validator itself validates again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import orchestrator
from orchestrator.errors import RepositoryError
from orchestrator.releases.manifest import build_release
from orchestrator.repository.validation import verdict
from orchestrator.repository.validation.verdict import VERDICT_FACT, tree_key
from tests.support.file_times import move_ctime
from tests.support.release_repos import settled_digests

ROOT = Path(__file__).resolve().parents[2]


def _key(repo: Path, **parameters: object) -> str:
    options: dict[str, object] = {"triton_release": "24.10", "auto_complete": False}
    options.update(parameters)
    key = tree_key(repo, **options)  # type: ignore[arg-type]
    assert key is not None
    return key.sha256


def _remembered(repo: Path, cache_dir: Path) -> bool:
    key = tree_key(repo, triton_release=_default_release(), auto_complete=False)
    assert key is not None
    return settled_digests(repo, cache_dir).recall(VERDICT_FACT, key.sha256) is True


def _default_release() -> str:
    from orchestrator.repository.compatibility import DEFAULT_TRITON_RELEASE

    return DEFAULT_TRITON_RELEASE


def test_a_release_is_remembered_and_then_not_validated(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    assert _remembered(shipped, tmp_path / "cache")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validated although nothing changed")

    monkeypatch.setattr("orchestrator.repository.validation.validate.validate_repository", refuse)
    assert build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache")) == first


def test_an_edit_with_the_mtime_put_back_is_validated_again_and_refused(
    shipped: Path, tmp_path: Path
) -> None:
    build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    config = shipped / "cancer_mlp" / "config.pbtxt"
    before = config.stat()
    text = config.read_text()
    broken = text.replace("max_batch_size", "max_batch_sizX", 1)
    assert len(broken) == len(text) and broken != text
    config.write_text(broken)
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as before
    move_ctime(config, before)

    with pytest.raises(RepositoryError, match="validation found"):
        build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))


def test_a_new_folder_is_validated_again_and_refused(shipped: Path, tmp_path: Path) -> None:
    build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    # A model folder with a config Triton refuses (no backend, no platform, no inputs).
    (shipped / "stray").mkdir()
    (shipped / "stray" / "config.pbtxt").write_text('name: "other"\n')

    with pytest.raises(RepositoryError, match="validation found"):
        build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))


def test_the_key_moves_with_every_input_of_a_finding(shipped: Path) -> None:
    key = _key(shipped)
    assert _key(shipped) == key  # nothing changed

    assert _key(shipped, triton_release="24.01") != key
    assert _key(shipped, auto_complete=True) != key

    version = shipped / "digits_cnn" / "1"
    os.chmod(version, 0o700)  # a permission: what Triton's user may read
    assert _key(shipped) != key
    key = _key(shipped)

    (version / "golden.npz").rename(version / "golden.old")  # a name
    assert _key(shipped) != key


def test_a_change_to_the_validator_is_a_new_key(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = Path(shutil.copytree(Path(orchestrator.__file__).parent, tmp_path / "package"))
    monkeypatch.setattr(orchestrator, "__file__", str(package / "__init__.py"))
    verdict._validator.cache_clear()
    try:
        key = _key(shipped)
        rules = package / "repository" / "validation" / "core_rules.py"
        rules.write_text(rules.read_text() + "\n# a new rule\n")
        verdict._validator.cache_clear()
        assert _key(shipped) != key
    finally:
        verdict._validator.cache_clear()


def test_a_tree_changed_less_than_the_settle_time_ago_is_not_remembered(
    shipped: Path, tmp_path: Path
) -> None:
    build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache", settle_ns=None))
    assert not _remembered(shipped, tmp_path / "cache")  # the copy is seconds old

    build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache", settle_ns=0))
    assert _remembered(shipped, tmp_path / "cache")


def test_a_repository_with_errors_is_never_remembered(shipped: Path, tmp_path: Path) -> None:
    (shipped / "stray").mkdir()
    (shipped / "stray" / "config.pbtxt").write_text('name: "other"\n')
    for _ in range(2):
        with pytest.raises(RepositoryError, match="validation found"):
            build_release(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    assert not _remembered(shipped, tmp_path / "cache")
