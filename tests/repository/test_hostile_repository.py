"""Garbage anywhere in a repository is a finding (or one clear error), never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.repository.listing import list_repository
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from tests.support.onnx_models import make_affine_onnx


def hostile_repository(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    source = make_affine_onnx(tmp_path / "a.onnx")
    for name in ("loops", "folders", "links", "binary"):
        publish(source, repo, name)
    # symlink loops where a model file, a config and a version folder should be
    (repo / "loops" / "1" / "model.onnx").unlink()
    os.symlink("model.onnx", repo / "loops" / "1" / "model.onnx")
    os.symlink("2", repo / "loops" / "2")
    # folders where files should be
    for file in ("model.onnx", "manifest.json", "export.json"):
        target = repo / "folders" / "1" / file
        target.unlink(missing_ok=True)
        target.mkdir()
    # a config that is a dangling link, a model folder that is a link loop
    (repo / "links" / "config.pbtxt").unlink()
    os.symlink("nowhere.pbtxt", repo / "links" / "config.pbtxt")
    os.symlink("self", repo / "self")
    # binary garbage in a config and a manifest; a version folder that is a file
    (repo / "binary" / "config.pbtxt").write_bytes(bytes(range(256)))
    (repo / "binary" / "1" / "manifest.json").write_bytes(b"\xff\x00{")
    (repo / "binary" / "7").write_bytes(b"not a folder")
    return repo


def test_every_hostile_file_becomes_a_finding(tmp_path: Path) -> None:
    repo = hostile_repository(tmp_path)
    findings = validate_repository(repo)
    got = {(f.path.relative_to(repo).as_posix(), f.code) for f in findings if f.is_error}
    # Links are refused wherever they are (core.untrusted), and nothing is read through them.
    assert got == {
        ("loops/1/model.onnx", "unsafe-link"),
        ("loops/2", "unsafe-link"),
        ("self", "unsafe-link"),
        ("folders/1", "model-file-missing"),
        ("links/config.pbtxt", "unsafe-link"),
        ("binary/config.pbtxt", "config-unreadable"),
    }


def test_list_and_validate_commands_survive_a_hostile_repository(tmp_path: Path) -> None:
    repo = hostile_repository(tmp_path)
    listed = {m.name: m.error for m in list_repository(repo)}
    assert sorted(listed) == ["binary", "folders", "links", "loops"]
    assert "is a symbolic link" in listed["links"]
    # CliRunner keeps an unexpected exception in result.exception and prints no traceback,
    # so that is what is checked: validate ends in click's SystemExit(1) with its findings,
    # list succeeds with what it can read.
    validate = CliRunner().invoke(cli, ["validate", "--repo", str(repo)])
    assert validate.exit_code == 1 and isinstance(validate.exception, SystemExit)
    assert validate.stderr.startswith(f"Error: 6 error(s) and 0 warning(s) in {repo}")
    for args in (["list", "--repo", str(repo)], ["list", "--repo", str(repo), "--format", "json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and result.exception is None, (args, result.exception)


def test_publish_into_a_hostile_repository_adds_a_clean_version(tmp_path: Path) -> None:
    repo = hostile_repository(tmp_path)
    result = publish(make_affine_onnx(tmp_path / "b.onnx"), repo, "loops")
    assert result.version == 3  # "2" is a link loop, not a version; 3 is the next free name
    assert sorted(p.name for p in result.path.iterdir()) == ["manifest.json", "model.onnx"]
