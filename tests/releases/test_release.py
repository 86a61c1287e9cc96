"""Release manifests: content-addressed ids, the version policy, refusals."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.errors import RepositoryError, StorageError
from orchestrator.releases.manifest import build_release, parse_release_document, release_id
from tests.support.release_repos import rewrite


@dataclass(frozen=True)
class FakeFinding:
    """A validator finding (the shape validation.Finding has)."""

    is_error: bool
    code: str
    path: Path
    message: str


def test_same_content_gives_the_same_id_wherever_it_lives(
    release_repo: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "elsewhere" / "repo"
    shutil.copytree(release_repo, copy)
    assert build_release(copy).id == build_release(release_repo).id


def test_one_changed_byte_gives_another_id(release_repo: Path) -> None:
    before = build_release(release_repo)
    notes = release_repo / "beta" / "1" / "notes.txt"
    data = bytearray(notes.read_bytes())
    data[0] ^= 0x20
    rewrite(notes, bytes(data).decode())
    after = build_release(release_repo)
    assert after.id != before.id
    assert after.files["beta/1/notes.txt"].size_bytes == before.files["beta/1/notes.txt"].size_bytes


def test_the_id_is_the_hash_of_the_canonical_manifest(release_repo: Path) -> None:
    # The documented rule, worked out here by hand (hashlib, not the code under test): the
    # served versions' files and the model-level files with their sha256 and size, as JSON
    # with sorted keys and no spaces; the id is the first 32 hex digits of its sha256.
    served = {"alpha": 2, "beta": 1}
    names = [f"{model}/config.pbtxt" for model in served]
    for model, version in served.items():
        names += [
            f"{model}/{version}/{file}" for file in ("manifest.json", "model.onnx", "notes.txt")
        ]
    manifest = {
        "format": 1,
        "models": {model: {"versions": [version]} for model, version in served.items()},
        "files": {
            name: {
                "sha256": hashlib.sha256((release_repo / name).read_bytes()).hexdigest(),
                "size_bytes": (release_repo / name).stat().st_size,
            }
            for name in names
        },
    }
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    release = build_release(release_repo)
    assert sorted(release.files) == sorted(names)
    assert release.id == hashlib.sha256(canonical.encode()).hexdigest()[:32]


def test_the_id_of_the_empty_manifest_is_this_literal() -> None:
    # sha256(b'{"files":{},"format":1,"models":{}}'), its first 32 hex digits.
    assert (
        release_id({"format": 1, "models": {}, "files": {}}) == "9b35a8f64539ae154c4a5bb44583dd5b"
    )


def test_only_the_versions_the_policy_serves_are_included(release_repo: Path) -> None:
    release = build_release(release_repo)
    assert {m.name: m.versions for m in release.models} == {"alpha": (2,), "beta": (1,)}
    assert "alpha/2/model.onnx" in release.files
    assert not any(path.startswith("alpha/1/") for path in release.files)
    assert "alpha/config.pbtxt" in release.files


def test_all_versions_includes_every_version(release_repo: Path) -> None:
    release = build_release(release_repo, all_versions=True)
    assert {m.name: m.versions for m in release.models}["alpha"] == (1, 2)
    assert "alpha/1/model.onnx" in release.files


def test_specific_and_all_policies_are_honoured(release_repo: Path) -> None:
    config = release_repo / "alpha" / "config.pbtxt"
    config.write_text(config.read_text() + "version_policy: { specific: { versions: [1] } }\n")
    assert {m.name: m.versions for m in build_release(release_repo).models}["alpha"] == (1,)
    config.write_text(config.read_text().replace("specific: { versions: [1] }", "all: {}"))
    assert {m.name: m.versions for m in build_release(release_repo).models}["alpha"] == (1, 2)


def test_a_repository_the_validator_rejects_is_refused(release_repo: Path) -> None:
    finding = FakeFinding(True, "E-IO-NAME", release_repo / "alpha" / "config.pbtxt", "no y")
    warning = FakeFinding(False, "W-X", release_repo / "beta", "just a warning")
    with pytest.raises(RepositoryError) as caught:
        build_release(release_repo, validate=lambda root: [warning, finding])
    message = str(caught.value)
    assert "validation found 1 error(s)" in message
    assert "E-IO-NAME" in message and "orchestrator validate" in message
    assert build_release(release_repo, validate=lambda root: [warning]).id


def test_a_symlink_in_the_repository_is_refused(release_repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (release_repo / "alpha" / "link.txt").symlink_to(outside)
    with pytest.raises(RepositoryError, match="symbolic link"):
        build_release(release_repo, validate=lambda root: [])


def test_a_backslash_in_a_file_name_is_refused(release_repo: Path) -> None:
    (release_repo / "alpha" / "evil\\name.txt").write_text("x")
    with pytest.raises(RepositoryError, match="backslash"):
        build_release(release_repo, validate=lambda root: [])


def test_the_real_validator_runs_first_and_blocks_a_release(release_repo: Path) -> None:
    # A published version changed behind publish's back: validate reports it.
    (release_repo / "beta" / "1" / "notes.txt").write_text("edited in place\n")
    with pytest.raises(RepositoryError) as caught:
        build_release(release_repo)
    assert "Refusing to release" in str(caught.value)
    assert "manifest-mismatch" in str(caught.value)


def test_an_empty_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepositoryError, match="holds no model"):
        build_release(tmp_path / "empty")


def test_the_document_round_trips(release_repo: Path) -> None:
    release = build_release(release_repo)
    parsed = parse_release_document(release.document(), "release.json")
    assert parsed == release
    assert parsed.created.endswith("Z")


@pytest.mark.parametrize(
    "edit",
    ["id", "size", "path"],
    ids=["wrong-id", "edited-size", "unsafe-path"],
)
def test_a_tampered_document_is_refused(release_repo: Path, edit: str) -> None:
    body = json.loads(build_release(release_repo).document())
    if edit == "id":
        body["id"] = "0" * 32
    elif edit == "size":
        body["files"]["beta/1/notes.txt"]["size_bytes"] += 1
    else:
        body["files"]["../../etc/passwd"] = body["files"].pop("beta/1/notes.txt")
    with pytest.raises(StorageError):
        parse_release_document(json.dumps(body).encode(), "release.json")
