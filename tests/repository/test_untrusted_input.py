"""publish, validate and list read a bundle or a repository by one rule (core.untrusted).

Regular files only, only inside their folder, capped sizes: a symlinked bundle file is
refused (never copied by its target), a manifest entry naming a device or a path outside
the version is never read, a FIFO or endless config never hangs. Every hostile file is
made for real in tmp_path; pytest-timeout cuts a test that would block.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from orchestrator.errors import ConfigError, UnsafeFileError
from orchestrator.repository.listing import list_repository
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from tests.support.onnx_models import make_affine_onnx, make_bundle

pytestmark = pytest.mark.timeout(60)

SECRET = "aws_secret_access_key = hunter2\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "credentials"
    path.write_text(SECRET)
    return path


def bare_bundle(folder: Path, export: dict[str, object] | None = None) -> Path:
    """model.onnx and an export.json that lists no files (nothing forces a digest)."""
    folder.mkdir(parents=True)
    make_affine_onnx(folder / "model.onnx")
    (folder / "export.json").write_text(json.dumps(export or {"model_name": "leak"}))
    return folder


def sparse(path: Path, size_bytes: int = 5 << 30) -> Path:
    with path.open("wb") as handle:
        handle.truncate(size_bytes)
    return path


def assert_nothing_published(repo: Path) -> None:
    leaked = [p for p in repo.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    assert not (repo / "leak").exists()


# -- publish: bundle files -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["golden.npz", "export.json", "model.onnx"])
def test_a_symlinked_bundle_file_is_refused_never_copied_by_its_target(
    tmp_path: Path, secret: Path, name: str
) -> None:
    bundle = bare_bundle(tmp_path / "bundle")
    target = secret
    if name == "model.onnx":  # a valid graph outside the bundle, so only the link is wrong
        target = make_affine_onnx(tmp_path / "elsewhere.onnx")
    (bundle / name).unlink(missing_ok=True)
    os.symlink(target, bundle / name)
    with pytest.raises(UnsafeFileError, match=f"{bundle / name} is a symbolic link") as caught:
        publish(bundle, tmp_path / "repo")
    assert caught.value.reason == "link"
    assert_nothing_published(tmp_path / "repo")


def test_a_symlinked_bare_onnx_file_is_refused(tmp_path: Path) -> None:
    os.symlink(make_affine_onnx(tmp_path / "real.onnx"), tmp_path / "link.onnx")
    with pytest.raises(UnsafeFileError, match="is a symbolic link"):
        publish(tmp_path / "link.onnx", tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("listed", ["../credentials", "/dev/zero", "/etc/hostname"])
def test_export_json_cannot_name_a_file_outside_the_bundle(
    tmp_path: Path, secret: Path, listed: str
) -> None:
    bundle = bare_bundle(
        tmp_path / "bundle",
        {"model_name": "leak", "files": {listed: {"sha256": "0" * 64, "size_bytes": 1}}},
    )
    with pytest.raises(UnsafeFileError, match="does not name a file inside") as caught:
        publish(bundle, tmp_path / "repo")
    assert caught.value.reason == "outside"
    # never read, so never hashed: the message cannot leak the digest of a local file
    assert hashlib.sha256(SECRET.encode()).hexdigest()[:12] not in str(caught.value)


def test_a_fifo_bundle_file_is_refused_without_blocking(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")
    os.mkfifo(bundle / "golden.npz")
    with pytest.raises(UnsafeFileError, match="is a FIFO, socket or device") as caught:
        publish(bundle, tmp_path / "repo")
    assert caught.value.reason == "special"


def test_a_huge_export_json_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")
    sparse(bundle / "export.json")
    with pytest.raises(UnsafeFileError, match="byte limit") as caught:
        publish(bundle, tmp_path / "repo")
    assert caught.value.reason == "too-large"


def test_golden_npz_must_be_an_npz(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")
    (bundle / "golden.npz").write_bytes(b"#!/bin/sh\nexec rm -rf ~\n")
    with pytest.raises(ConfigError, match="Cannot read golden data"):
        publish(bundle, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_a_pickled_golden_npz_is_refused(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle")
    objects = np.array([{"not": "data"}, None], dtype=object)
    with (bundle / "golden.npz").open("wb") as handle:
        np.savez(handle, **{"inputs/x": objects, "outputs/y": objects})
    with pytest.raises(ConfigError, match="pickle, which is refused"):
        publish(bundle, tmp_path / "repo")


def test_a_valid_bundle_still_publishes(tmp_path: Path) -> None:
    result = publish(make_bundle(tmp_path / "bundle"), tmp_path / "repo")
    assert sorted(result.files) == ["export.json", "golden.npz", "model.onnx"]


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits\n", "", "x" * 129, "42", ".hidden", "a/b", "dïgits"])
def test_model_names_are_matched_in_full(tmp_path: Path, name: str) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    with pytest.raises(ConfigError, match=r"1 to 128 characters: letters, digits") as caught:
        publish(source, tmp_path / "repo", name)
    assert repr(name) in str(caught.value)
    assert not (tmp_path / "repo").exists() or list((tmp_path / "repo").iterdir()) == []


def test_a_model_name_from_export_json_is_matched_in_full(tmp_path: Path) -> None:
    bundle = bare_bundle(tmp_path / "bundle", {"model_name": "digits\n"})
    with pytest.raises(ConfigError, match="'digits\\\\n'"):
        publish(bundle, tmp_path / "repo")


def test_validate_reports_a_model_folder_whose_name_ends_in_a_newline(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    publish(make_affine_onnx(tmp_path / "a.onnx"), repo, "digits")
    os.rename(repo / "digits", repo / "digits\n")
    (repo / "digits\n" / "config.pbtxt").write_text(
        (repo / "digits\n" / "config.pbtxt").read_text().replace('"digits"', '"digits\\n"')
    )
    found = [(f.code, f.path.name) for f in validate_repository(repo) if f.is_error]
    assert found == [("model-name-invalid", "digits\n")]


# -- validate and list: a hostile repository ----------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    publish(make_bundle(tmp_path / "bundle"), repo, "m")
    return repo


def set_manifest_entry(version_dir: Path, name: str) -> None:
    manifest = json.loads((version_dir / "manifest.json").read_text())
    manifest["files"][name] = {"sha256": "0" * 64, "size_bytes": 1}
    (version_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("entry", ["/dev/zero", "../../../../../../../../etc/hostname"])
def test_validate_never_reads_a_manifest_entry_outside_the_version(repo: Path, entry: str) -> None:
    set_manifest_entry(repo / "m" / "1", entry)
    found = [(f.code, f.severity) for f in validate_repository(repo)]
    assert found == [("unsafe-path", "error")]
    hostname_digest = hashlib.sha256(Path("/etc/hostname").read_bytes()).hexdigest()[:12]
    assert all(hostname_digest not in f.message for f in validate_repository(repo))


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def link_to_zero(path: Path) -> None:
    path.unlink()
    os.symlink("/dev/zero", path)


def endless_sparse(path: Path) -> None:
    sparse(path)


@pytest.mark.parametrize(
    ("relative", "make", "code"),
    [
        ("m/config.pbtxt", fifo, "not-a-regular-file"),
        ("m/config.pbtxt", link_to_zero, "unsafe-link"),
        ("m/config.pbtxt", endless_sparse, "file-too-large"),
        ("m/1/manifest.json", fifo, "not-a-regular-file"),
        ("m/1/manifest.json", link_to_zero, "unsafe-link"),
        ("m/1/model.onnx", fifo, "not-a-regular-file"),
        ("m/1/model.onnx", link_to_zero, "unsafe-link"),
    ],
    ids=[
        "fifo-config",
        "config-to-dev-zero",
        "5gb-config",
        "fifo-manifest",
        "manifest-to-dev-zero",
        "fifo-model",
        "model-to-dev-zero",
    ],
)
def test_validate_and_list_never_read_a_special_or_endless_file(
    repo: Path, relative: str, make: object, code: str
) -> None:
    assert callable(make)
    make(repo / relative)
    found = [(f.code, f.path.relative_to(repo).as_posix()) for f in validate_repository(repo)]
    assert (code, relative) in found
    assert all(f.is_error for f in validate_repository(repo) if f.code == code)
    listed = list_repository(repo)  # returns, with the model's problem where it has one
    assert [m.name for m in listed] == ["m"]
    if relative == "m/config.pbtxt":
        assert str(repo / relative) in listed[0].error


def test_a_version_folder_that_is_a_link_is_not_a_version(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    make_affine_onnx(outside / "model.onnx")
    os.symlink(outside, repo / "m" / "2")
    found = [(f.code, f.path.relative_to(repo).as_posix()) for f in validate_repository(repo)]
    assert found == [("unsafe-link", "m/2")]
    assert [v.version for v in list_repository(repo)[0].versions] == [1]


def test_a_model_folder_that_is_a_link_is_reported(repo: Path) -> None:
    os.symlink("m", repo / "alias")
    found = [(f.code, f.path.relative_to(repo).as_posix()) for f in validate_repository(repo)]
    assert found == [("unsafe-link", "alias")]
