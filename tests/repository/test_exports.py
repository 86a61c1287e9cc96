"""publish_exports: every bundle of a folder, in byte order, idempotent, untrusted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError, RepositoryError, UnsafeFileError
from orchestrator.repository.exports import find_bundles, is_bundle, publish_exports
from orchestrator.repository.layout import version_numbers
from tests.repository.test_publish_idempotent import affine_bundle
from tests.support.onnx_models import make_affine_onnx
from tests.support.snapshots import tree_snapshot


def exports_folder(root: Path) -> Path:
    """Bundles of every accepted kind, plus hidden entries, written in scrambled order."""
    exports = root / "exports"
    affine_bundle(exports / "zeta", name="zeta")
    affine_bundle(exports / "mid" / "2026-12-02", name="mid", variant="second")
    affine_bundle(exports / "mid" / "2026-12-01", name="mid", variant="first")
    make_affine_onnx(exports / "alpha.onnx")
    affine_bundle(exports / "Beta", name="Beta")  # "B" sorts before "a" as a byte
    (exports / ".gitkeep").write_text("")
    (exports / "mid" / ".DS_Store").write_bytes(b"\0\1")
    (exports / ".git-stuff").mkdir()
    (exports / ".git-stuff" / "garbage").write_text("not a bundle")
    return exports


def test_every_bundle_is_published_in_byte_order_of_its_path(tmp_path: Path) -> None:
    exports = exports_folder(tmp_path)
    report = publish_exports(exports, tmp_path / "repo")
    done = [
        (r.bundle.relative_to(exports).as_posix(), r.result.model, r.result.version)
        for r in report.results
    ]
    assert done == [
        ("Beta", "Beta", 1),
        ("alpha.onnx", "alpha", 1),
        ("mid/2026-12-01", "mid", 1),
        ("mid/2026-12-02", "mid", 2),
        ("zeta", "zeta", 1),
    ]
    assert [r.result.status for r in report.results] == ["published"] * 5
    assert report.summary() == "5 bundles: 5 published, 0 unchanged"
    mid = tmp_path / "repo" / "mid"
    assert (mid / "1" / "model.onnx").read_bytes() == (
        exports / "mid" / "2026-12-01" / "model.onnx"
    ).read_bytes()


def test_a_second_run_publishes_nothing_and_writes_nothing(tmp_path: Path) -> None:
    exports = exports_folder(tmp_path)
    repo = tmp_path / "repo"
    publish_exports(exports, repo)
    before = tree_snapshot(repo)
    again = publish_exports(exports, repo)
    assert [r.result.status for r in again.results] == ["unchanged"] * 5
    assert again.summary() == "5 bundles: 0 published, 5 unchanged"
    assert tree_snapshot(repo) == before


def test_new_version_publishes_every_bundle_again(tmp_path: Path) -> None:
    exports = exports_folder(tmp_path)
    repo = tmp_path / "repo"
    publish_exports(exports, repo)
    report = publish_exports(exports, repo, new_version=True)
    assert report.published == 5
    assert version_numbers(repo / "mid") == [1, 2, 3, 4]


def test_two_identical_bundles_of_one_model_publish_once(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "m" / "a", name="m")
    shutil.copytree(exports / "m" / "a", exports / "m" / "b")
    report = publish_exports(exports, tmp_path / "repo")
    assert [(r.result.status, r.result.version) for r in report.results] == [
        ("published", 1),
        ("unchanged", 1),
    ]


def test_a_changed_bundle_becomes_the_next_version(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "m", name="m")
    repo = tmp_path / "repo"
    publish_exports(exports, repo)
    shutil.rmtree(exports / "m")
    affine_bundle(exports / "m", name="m", variant="retrained")
    [done] = publish_exports(exports, repo).results
    assert (done.result.status, done.result.version) == ("published", 2)


@pytest.mark.parametrize("where", ["top", "model folder"])
def test_a_link_in_the_exports_folder_is_refused_before_anything_is_published(
    tmp_path: Path, where: str
) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "a", name="a")
    real = affine_bundle(tmp_path / "elsewhere", name="b")
    link = exports / "b" if where == "top" else exports / "b" / "2026"
    link.parent.mkdir(exist_ok=True)
    os.symlink(real, link)
    with pytest.raises(UnsafeFileError, match=f"{link} is a symbolic link") as caught:
        publish_exports(exports, tmp_path / "repo")
    assert caught.value.reason == "link"
    assert not (tmp_path / "repo").exists()


def test_a_linked_file_inside_a_bundle_stops_at_that_bundle(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "a", name="a")
    affine_bundle(exports / "b", name="b")
    (exports / "b" / "golden.npz").unlink()
    os.symlink(exports / "a" / "golden.npz", exports / "b" / "golden.npz")
    with pytest.raises(RepositoryError, match="bundle 2 of 2") as caught:
        publish_exports(exports, tmp_path / "repo")
    assert isinstance(caught.value.__cause__, UnsafeFileError)
    assert caught.value.__cause__.reason == "link"
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["a"]


@pytest.mark.parametrize(
    "hidden",
    [[], [".gitkeep"], [".DS_Store", ".gitattributes"]],
    ids=["empty", "gitkeep", "dotfiles"],
)
def test_a_folder_without_bundles_is_one_clear_error(tmp_path: Path, hidden: list[str]) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in hidden:
        (exports / name).write_text("")
    with pytest.raises(ConfigError, match=f"{exports} holds no export bundle. Expected <model>/"):
        publish_exports(exports, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (["README.md"], "README.md is neither an export bundle folder nor a .onnx file"),
        (["m/"], "m is neither an export bundle .* nor a folder of bundles .it is empty"),
        (["m/notes.txt"], "m/notes.txt is not a bundle folder, and .*/m has no model.onnx"),
        (["m/2026/"], "m/2026 has no model.onnx: .*/m is neither an export bundle nor a folder"),
        (["m/2026/x/model.onnx"], "m/2026 has no model.onnx"),
        (
            ["has space/model.onnx"],
            "has space would be published as model 'has space', which is not a model name",
        ),
    ],
    ids=[
        "stray-file",
        "empty-model-folder",
        "file-in-model-folder",
        "empty-bundle",
        "too-deep",
        "bad-name",
    ],
)
def test_what_is_neither_a_bundle_nor_a_folder_of_bundles_is_refused_before_publishing(
    tmp_path: Path, layout: list[str], message: str
) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "a", name="a")  # a good bundle first: still nothing is published
    for entry in layout:
        path = exports / entry
        if entry.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    with pytest.raises(ConfigError, match=message):
        publish_exports(exports, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_a_bundle_filed_under_another_model_is_refused(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "digits", name="fraud")
    with pytest.raises(
        ConfigError,
        match="in the folder of model 'digits', but its export.json says model_name 'fraud'",
    ):
        find_bundles(exports)


def test_a_failing_bundle_names_itself_and_what_was_and_was_not_done(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    for name in ("a", "b", "c"):
        affine_bundle(exports / name, name=name)
    with (exports / "b" / "golden.npz").open("ab") as handle:
        handle.write(b"\0")
    repo = tmp_path / "repo"
    with pytest.raises(RepositoryError) as caught:
        publish_exports(exports, repo)
    message = str(caught.value)
    assert message.startswith(f"Publishing {exports / 'b'} (bundle 2 of 3) failed: Export bundle")
    assert "The 1 bundle(s) before it are done (a 1)." in message
    assert f"The other 1 bundle(s) were not attempted: {exports / 'c'}." in message
    assert message.endswith("bundles already published are recognised as unchanged.")
    assert isinstance(caught.value.__cause__, ConfigError)
    assert sorted(p.name for p in repo.iterdir()) == ["a"]
    # fixed and run again: a is unchanged, b and c are published
    shutil.rmtree(exports / "b")
    affine_bundle(exports / "b", name="b")
    report = publish_exports(exports, repo)
    assert [r.result.status for r in report.results] == ["unchanged", "published", "published"]


def test_is_bundle_tells_one_bundle_from_a_folder_of_them(tmp_path: Path) -> None:
    exports = exports_folder(tmp_path)
    assert is_bundle(exports / "zeta") and is_bundle(exports / "alpha.onnx")
    assert not is_bundle(exports) and not is_bundle(exports / "mid")


def test_on_result_reports_each_bundle_as_it_is_done(tmp_path: Path) -> None:
    exports = exports_folder(tmp_path)
    seen: list[str] = []
    report = publish_exports(
        exports, tmp_path / "repo", on_result=lambda r: seen.append(r.bundle.name)
    )
    assert seen == [r.bundle.name for r in report.results] and len(seen) == 5


def test_a_fifo_named_like_a_model_is_refused_never_read(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    affine_bundle(exports / "a", name="a")
    os.mkfifo(exports / "pipe.onnx")
    with pytest.raises(UnsafeFileError, match="pipe.onnx is a FIFO, socket or device") as caught:
        publish_exports(exports, tmp_path / "repo")
    assert caught.value.reason == "special"
    assert not (tmp_path / "repo").exists()
