"""publish SOURCE where SOURCE is a folder of bundles, and the shipped models/exports/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.repository.bundle import read_bundle
from tests.repository.test_publish_idempotent import affine_bundle
from tests.support.onnx_models import make_affine_onnx
from tests.support.snapshots import tree_snapshot

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_EXPORTS = ROOT / "models" / "exports"
SHIPPED_REPOSITORY = ROOT / "model_repository"


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["publish", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def two_models(root: Path) -> Path:
    exports = root / "exports"
    affine_bundle(exports / "b", name="b")
    make_affine_onnx(exports / "a.onnx")
    return exports


def test_a_folder_prints_one_line_per_bundle_and_a_summary(tmp_path: Path) -> None:
    exports, repo = two_models(tmp_path), tmp_path / "repo"
    result = invoke(str(exports), "--repo", str(repo))
    assert result.exit_code == 0
    assert result.stdout == f"a 1 {repo / 'a' / '1'}\nb 1 {repo / 'b' / '1'}\n"
    assert result.stderr == (
        f"Wrote {repo / 'a' / 'config.pbtxt'}\nWrote {repo / 'b' / 'config.pbtxt'}\n"
        "2 bundles: 2 published, 0 unchanged\n"
    )


def test_an_unchanged_folder_exits_0_and_writes_nothing(tmp_path: Path) -> None:
    exports, repo = two_models(tmp_path), tmp_path / "repo"
    invoke(str(exports), "--repo", str(repo))
    before = tree_snapshot(repo)
    result = invoke(str(exports), "--repo", str(repo))
    assert result.exit_code == 0
    assert result.stdout == (
        f"a 1 {repo / 'a' / '1'} (unchanged: version 1 already holds this a.onnx)\n"
        f"b 1 {repo / 'b' / '1'} (unchanged: version 1 already holds this model.onnx)\n"
    )
    assert result.stderr == "2 bundles: 0 published, 2 unchanged\n"
    assert tree_snapshot(repo) == before


def test_new_version_publishes_a_folder_again(tmp_path: Path) -> None:
    exports, repo = two_models(tmp_path), tmp_path / "repo"
    invoke(str(exports), "--repo", str(repo))
    result = invoke(str(exports), "--repo", str(repo), "--new-version")
    assert result.exit_code == 0
    assert result.stdout == f"a 2 {repo / 'a' / '2'}\nb 2 {repo / 'b' / '2'}\n"


def test_one_unchanged_bundle_says_which_version_holds_it(tmp_path: Path) -> None:
    bundle, repo = affine_bundle(tmp_path / "digits", name="digits"), tmp_path / "repo"
    invoke(str(bundle), "--repo", str(repo))
    before = tree_snapshot(repo)
    result = invoke(str(bundle), "--repo", str(repo))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        f"digits 1 {repo / 'digits' / '1'} (unchanged: version 1 already holds this model.onnx)\n"
    )
    assert tree_snapshot(repo) == before
    body = json.loads(invoke(str(bundle), "--repo", str(repo), "--format", "json").stdout)
    assert (body["status"], body["version"], body["config_written"]) == ("unchanged", 1, False)


def test_json_for_a_folder_is_one_object_with_a_result_per_bundle(tmp_path: Path) -> None:
    exports, repo = two_models(tmp_path), tmp_path / "repo"
    invoke(str(exports / "b"), "--repo", str(repo))
    result = invoke(str(exports), "--repo", str(repo), "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == "2 bundles: 1 published, 1 unchanged\n"
    body = json.loads(result.stdout)
    assert set(body) == {"folder", "repository", "bundles", "published", "unchanged"}
    assert (body["folder"], body["repository"]) == (str(exports), str(repo))
    assert (body["published"], body["unchanged"]) == (1, 1)
    shape = [
        (b["bundle"], b["model"], b["version"], b["status"], b["config_written"])
        for b in body["bundles"]
    ]
    assert shape == [
        (str(exports / "a.onnx"), "a", 1, "published", True),
        (str(exports / "b"), "b", 1, "unchanged", False),
    ]
    assert set(body["bundles"][1]["files"]) == {"model.onnx", "export.json", "golden.npz"}


def test_model_with_a_folder_of_bundles_is_a_usage_error(tmp_path: Path) -> None:
    exports = two_models(tmp_path)
    result = invoke(str(exports), "--repo", str(tmp_path / "repo"), "--model", "x")
    assert result.exit_code == 2 and result.stdout == ""
    assert f"--model names one model, but {exports} is a folder of bundles" in result.stderr
    assert not (tmp_path / "repo").exists()


def test_an_empty_exports_folder_is_exit_1_saying_what_was_expected(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / ".gitkeep").write_text("")
    result = invoke(str(exports), "--repo", str(tmp_path / "repo"))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"Error: {exports} holds no export bundle. Expected <model>/ bundle folders "
        "(model.onnx, export.json, golden.npz), <model>/<name>/ bundle folders (several "
        "bundles of one model), or bare .onnx files; hidden entries such as .gitkeep are "
        "ignored.\n"
    )


def test_a_failure_part_way_keeps_what_was_published_and_says_so(tmp_path: Path) -> None:
    exports, repo = two_models(tmp_path), tmp_path / "repo"
    affine_bundle(exports / "c", name="c")
    (exports / "b" / "model.onnx").write_bytes(b"not onnx")
    result = invoke(str(exports), "--repo", str(repo))
    assert result.exit_code == 1
    assert result.stdout == f"a 1 {repo / 'a' / '1'}\n", "the bundle before is reported"
    assert result.stderr.startswith(
        f"Wrote {repo / 'a' / 'config.pbtxt'}\n"
        f"Error: Publishing {exports / 'b'} (bundle 2 of 3) failed: Export bundle {exports / 'b'}"
    )
    assert f"were not attempted: {exports / 'c'}." in result.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["a"]


# -- the shipped exports --------------------------------------------------------------------


@pytest.mark.parametrize("model", ["digits_cnn", "cancer_mlp"])
def test_the_shipped_bundles_are_the_shipped_version_1(model: str) -> None:
    bundle = read_bundle(SHIPPED_EXPORTS / model)  # every file export.json lists verifies
    assert bundle.export["model_name"] == model
    assert set(bundle.export["files"]) == {"model.onnx", "golden.npz"}
    shipped = sorted(p.name for p in (SHIPPED_EXPORTS / model).iterdir())
    assert shipped == ["export.json", "golden.npz", "model.onnx"]
    for name in shipped:
        assert (SHIPPED_EXPORTS / model / name).read_bytes() == (
            SHIPPED_REPOSITORY / model / "1" / name
        ).read_bytes(), name


def test_publishing_the_shipped_exports_into_the_shipped_repository_changes_nothing(
    tmp_path: Path,
) -> None:
    repo = shutil.copytree(
        SHIPPED_REPOSITORY, tmp_path / "model_repository", copy_function=shutil.copy2
    )
    before = tree_snapshot(repo)
    result = invoke(str(SHIPPED_EXPORTS), "--repo", str(repo))
    assert result.exit_code == 0
    held = "(unchanged: version 1 already holds this model.onnx)"
    assert result.stdout == (
        f"cancer_mlp 1 {repo / 'cancer_mlp' / '1'} {held}\n"
        f"digits_cnn 1 {repo / 'digits_cnn' / '1'} {held}\n"
    )
    assert result.stderr == "2 bundles: 0 published, 2 unchanged\n"
    assert tree_snapshot(repo) == before
