"""publish: immutable versions, atomic under concurrency and kill -9, bundles verified."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from orchestrator.core.model_config import load_config
from orchestrator.errors import ConfigError
from orchestrator.repository.layout import (
    STAGING_PREFIX,
    read_manifest,
    version_manifest,
    version_numbers,
)
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from tests.support.forks import fork_call
from tests.support.onnx_models import make_affine_onnx, make_bundle


def assert_versions_complete(model_dir: Path) -> None:
    """Every visible version holds exactly the files its manifest lists, unchanged."""
    for version in version_numbers(model_dir):
        folder = model_dir / str(version)
        manifest = read_manifest(folder)
        assert manifest is not None, f"{folder} has no manifest"
        assert version_manifest(folder) == manifest, folder


def test_bare_onnx_becomes_version_1_with_a_generated_config(tmp_path: Path) -> None:
    source = make_affine_onnx(tmp_path / "src" / "affine.onnx")
    result = publish(source, tmp_path / "repo")
    assert (result.model, result.version) == ("affine", 1)
    assert result.path == tmp_path / "repo" / "affine" / "1"
    assert sorted(p.name for p in result.path.iterdir()) == ["manifest.json", "model.onnx"]
    assert (result.path / "model.onnx").read_bytes() == source.read_bytes()
    assert result.config_written
    assert load_config(result.config_path).max_batch_size == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "src"], "no staging debris"


def test_next_publish_takes_the_next_number_and_never_touches_older_versions(
    tmp_path: Path,
) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    repo = tmp_path / "repo"
    first = publish(source, repo)
    before = version_manifest(first.path)
    config_before = first.config_path.read_bytes()
    second = publish(source, repo, new_version=True)
    assert second.version == 2 and not second.config_written
    assert version_manifest(first.path) == before
    assert first.config_path.read_bytes() == config_before


def test_bundle_is_copied_whole_and_named_from_export_json(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", name="digits")
    result = publish(bundle, tmp_path / "repo")
    assert result.model == "digits"
    assert sorted(result.files) == ["export.json", "golden.npz", "model.onnx"]
    assert validate_repository(tmp_path / "repo") == []


def test_bundle_whose_file_changed_after_export_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    with (bundle / "golden.npz").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ConfigError, match=r"golden.npz has sha256 .* but export.json expects"):
        publish(bundle, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_config_that_does_not_fit_the_new_graph_shows_the_difference(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    publish(make_affine_onnx(tmp_path / "a4.onnx", features=4), repo, "affine")
    wider = make_affine_onnx(tmp_path / "a6.onnx", features=6)
    with pytest.raises(ConfigError) as info:
        publish(wider, repo, "affine")
    message = str(info.value)
    assert "tensor 'x'" in message and "--update-config" in message
    assert "-  dims: 4\n" in message and "+  dims: 6\n" in message
    assert version_numbers(repo / "affine") == [1]

    result = publish(wider, repo, "affine", update_config=True)
    assert result.version == 2 and result.config_written
    assert list(load_config(result.config_path).input[0].dims) == [6]
    assert [f.code for f in validate_repository(repo) if f.is_error] == []


def test_graph_too_new_for_production_onnx_runtime_is_refused(tmp_path: Path) -> None:
    from tests.support.corpus import raw_model

    source = raw_model(tmp_path / "new.onnx", ir_version=11)
    with pytest.raises(ConfigError, match="IR version 11.*loads IR version 10 at most"):
        publish(source, tmp_path / "repo")


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("../evil", "not usable"), ("123", "not usable"), (".hidden", "not usable")],
)
def test_unusable_model_names_are_refused(tmp_path: Path, name: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        publish(make_affine_onnx(tmp_path / "a.onnx"), tmp_path / "repo", name)


@pytest.mark.parametrize("content", [b"", b"garbage\xff", None], ids=["empty", "garbage", "dir"])
def test_unreadable_sources_are_one_clear_error(tmp_path: Path, content: bytes | None) -> None:
    source = tmp_path / "model.onnx"
    if content is None:
        source.mkdir()
        (source / "x").write_text("")
    else:
        source.write_bytes(content)
    with pytest.raises(ConfigError):
        publish(source, tmp_path / "repo")
    assert not (tmp_path / "repo" / "model").exists()


def test_concurrent_publishes_never_share_a_number(tmp_path: Path) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    repo = tmp_path / "repo"
    publish(source, repo)
    pids = [fork_call(lambda: publish(source, repo, new_version=True)) for _ in range(8)]
    codes = [os.waitpid(pid, 0)[1] for pid in pids]
    assert codes == [0] * 8
    assert version_numbers(repo / "affine") == list(range(1, 10))
    assert_versions_complete(repo / "affine")


def test_concurrent_first_publishes_of_a_new_model_agree(tmp_path: Path) -> None:
    source = make_affine_onnx(tmp_path / "affine.onnx")
    repo = tmp_path / "repo"
    pids = [fork_call(lambda: publish(source, repo, new_version=True)) for _ in range(6)]
    assert [os.waitpid(pid, 0)[1] for pid in pids] == [0] * 6
    assert version_numbers(repo / "affine") == list(range(1, 7))
    assert [f for f in validate_repository(repo) if f.is_error] == []


def _forked_publish_s(bundle: Path, repo: Path) -> float:
    started = time.monotonic()
    pid = fork_call(lambda: publish(bundle, repo, new_version=True))
    os.waitpid(pid, 0)
    return time.monotonic() - started


def test_publish_killed_at_random_points_never_leaves_a_partial_version(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    repo = tmp_path / "repo"
    # Calibrate on forked publishes (warm, like the killed ones), so the random kill times
    # cover the whole publish whatever the machine's load.
    duration_s = sorted(_forked_publish_s(bundle, tmp_path / "timing-repo") for _ in range(3))[1]
    rng = random.Random(4)
    trials = killed_before_done = 0
    while trials < 50 or (killed_before_done < 20 and trials < 300):
        trials += 1
        pid = fork_call(lambda: publish(bundle, repo, new_version=True))
        time.sleep(rng.uniform(0, duration_s))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed_before_done += os.WIFSIGNALED(status)
        if (repo / "affine").exists():
            assert (repo / "affine" / "config.pbtxt").is_file(), "a model without its config"
            assert_versions_complete(repo / "affine")
    assert killed_before_done >= 20, f"only {killed_before_done} of {trials} kills landed inside"
    result = publish(bundle, repo)
    leftovers = [p.name for p in (repo / "affine").iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert leftovers == []
    assert [p.name for p in tmp_path.iterdir() if ".publish-" in p.name] == []
    assert result.version == max(version_numbers(repo / "affine"))
    assert validate_repository(repo) == []


def test_external_weights_travel_with_the_model(tmp_path: Path) -> None:
    from tests.support.corpus import external_weights_model

    source = external_weights_model(tmp_path / "src" / "big.onnx")
    result = publish(source, tmp_path / "repo")
    assert sorted(result.files) == ["model.onnx", "weights.bin"]
    assert (result.path / "weights.bin").read_bytes() == (
        source.parent / "weights.bin"
    ).read_bytes()
    assert validate_repository(tmp_path / "repo") == []


def test_missing_external_weights_are_refused(tmp_path: Path) -> None:
    from tests.support.corpus import external_weights_model

    source = external_weights_model(tmp_path / "src" / "big.onnx")
    (source.parent / "weights.bin").unlink()
    with pytest.raises(ConfigError, match="keeps weights in 'weights.bin'.*is missing"):
        publish(source, tmp_path / "repo")
