"""Validation through the digest cache: an unchanged repository is validated without
parsing a graph or a golden file again (so without importing onnx or numpy), and any
change, or a link put on the way, is judged exactly as a validation without the cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.core.golden import check_golden
from orchestrator.core.onnx_signature import read_signature, signature_from_dict
from orchestrator.errors import SmokeTestError, UnsafeFileError
from orchestrator.repository.validation.validate import validate_repository
from tests.support.release_repos import settled_digests

ROOT = Path(__file__).resolve().parents[2]

# What a fresh process imports to release a repository through its digest cache.
RELEASE_SCRIPT = """
import json, sys
from pathlib import Path
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.golden import check_golden
from orchestrator.releases.manifest import build_release
repo, cache_dir = Path(sys.argv[1]), Path(sys.argv[2])
digests = DigestCache.for_repository(repo, cache_dir=cache_dir, settle_ns=0)
release = build_release(repo, digests=digests)
print(json.dumps({"id": release.id, "onnx": "onnx" in sys.modules,
                  "numpy": "numpy" in sys.modules,
                  "validated": "orchestrator.repository.validation.validate" in sys.modules}))
"""


def _warm(repo: Path, cache_dir: Path) -> list[str]:
    digests = settled_digests(repo, cache_dir)
    found = [str(f) for f in validate_repository(repo, digests=digests)]
    assert digests.save()
    return found


def _release_in_a_fresh_process(repo: Path, cache_dir: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", RELEASE_SCRIPT, str(repo), str(cache_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_a_warm_release_is_not_validated_again(shipped: Path, tmp_path: Path) -> None:
    cold = _release_in_a_fresh_process(shipped, tmp_path / "cache")
    # The first run validates, parsing every graph and golden file.
    assert cold["validated"] and cold["onnx"] and cold["numpy"]

    warm = _release_in_a_fresh_process(shipped, tmp_path / "cache")
    assert warm == {"id": cold["id"], "onnx": False, "numpy": False, "validated": False}


def test_a_remembered_signature_is_the_parsed_one(shipped: Path, tmp_path: Path) -> None:
    digests = settled_digests(shipped, tmp_path / "cache")
    for model in sorted(shipped.glob("*/1/model.onnx")):
        parsed = read_signature(model, within=shipped, digests=digests)
        assert signature_from_dict(json.loads(json.dumps(parsed.as_dict()))) == parsed
        assert read_signature(model, within=shipped, digests=digests) == parsed  # recalled
        assert parsed == read_signature(model, within=shipped)


def test_another_graph_in_place_of_a_remembered_one_is_parsed_again(
    shipped: Path, tmp_path: Path
) -> None:
    assert _warm(shipped, tmp_path / "cache") == [str(f) for f in validate_repository(shipped)]
    # Another model's graph under cancer_mlp: its config no longer matches the graph.
    shutil.copyfile(shipped / "digits_cnn/1/model.onnx", shipped / "cancer_mlp/1/model.onnx")

    warm = [
        str(f)
        for f in validate_repository(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    ]
    truth = [str(f) for f in validate_repository(shipped)]
    assert warm == truth
    assert any("cancer_mlp/1/model.onnx" in line and "error" in line for line in truth), truth


def test_a_damaged_golden_file_is_read_again(shipped: Path, tmp_path: Path) -> None:
    _warm(shipped, tmp_path / "cache")
    (shipped / "digits_cnn/1/golden.npz").write_bytes(b"not an npz archive")

    warm = validate_repository(shipped, digests=settled_digests(shipped, tmp_path / "cache"))
    assert [str(f) for f in warm] == [str(f) for f in validate_repository(shipped)]
    assert "golden-unreadable" in {f.code for f in warm if f.is_error}


def test_a_link_put_on_the_way_to_a_remembered_file_is_refused(
    shipped: Path, tmp_path: Path
) -> None:
    _warm(shipped, tmp_path / "cache")
    # The version folder moves out and a link takes its place: the files keep their
    # device, inode, size, mtime and ctime, so the cache still knows them by their path.
    outside = tmp_path / "outside"
    outside.mkdir()
    os.rename(shipped / "cancer_mlp/1", outside / "1")
    (shipped / "cancer_mlp/1").symlink_to(outside / "1")
    digests = settled_digests(shipped, tmp_path / "cache")
    assert digests.known(shipped / "cancer_mlp/1/model.onnx") is not None

    warm = validate_repository(shipped, digests=digests)
    assert [str(f) for f in warm] == [str(f) for f in validate_repository(shipped)]
    assert any(f.is_error and "cancer_mlp/1" in str(f.path) for f in warm), warm
    # Asked directly, the readers refuse the remembered files too, without reading them.
    with pytest.raises(UnsafeFileError, match="link"):
        read_signature(shipped / "cancer_mlp/1/model.onnx", within=shipped, digests=digests)
    with pytest.raises(SmokeTestError, match="link"):
        check_golden(shipped / "cancer_mlp/1/golden.npz", within=shipped, digests=digests)
