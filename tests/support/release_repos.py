"""Small, valid model repositories for release and sync tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx

from orchestrator.core.digest_cache import DigestCache
from orchestrator.repository.layout import version_manifest, write_manifest
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx


def write_version(model_dir: Path, version: int, onnx_source: Path, note: str = "") -> Path:
    folder = model_dir / str(version)
    folder.mkdir(parents=True)
    shutil.copyfile(onnx_source, folder / "model.onnx")
    (folder / "notes.txt").write_text(note or f"{model_dir.name} version {version}\n")
    write_manifest(folder, version_manifest(folder))
    return folder


def make_repository(
    root: Path,
    models: dict[str, list[int]],
    *,
    policy: str = "",
    onnx_cache: Path | None = None,
) -> Path:
    """``root/<model>/config.pbtxt`` and numbered versions, each with an affine model."""
    root.mkdir(parents=True, exist_ok=True)
    onnx_source = onnx_cache or make_affine_onnx(root.parent / f".{root.name}-affine.onnx")
    for name, versions in models.items():
        model_dir = root / name
        model_dir.mkdir()
        config = AFFINE_CONFIG.format(name=name, max_batch_size=8, delay_us=100)
        (model_dir / "config.pbtxt").write_text(config + policy)
        for version in versions:
            write_version(model_dir, version, onnx_source)
    return root


def rewrite(path: Path, text: str) -> Path:
    """Replace a file's text; inside a version folder, refresh its manifest as publish would."""
    path.write_text(text)
    if (path.parent / "manifest.json").is_file():
        write_manifest(path.parent, version_manifest(path.parent))
    return path


def variant_onnx(source: Path, target: Path, tag: str) -> Path:
    """The same graph with another doc_string: a valid model with other bytes."""
    model = onnx.load(source)
    model.doc_string = tag
    onnx.save(model, target)
    return target


def settled_digests(repo: Path, cache_dir: Path, settle_ns: int | None = 0) -> DigestCache:
    """The digest cache of ``repo`` in ``cache_dir``, remembering files as soon as written.

    ``settle_ns=0``: a test's files were written a moment ago, and the default only
    remembers what last changed 2 s before it was read (None: that default).
    """
    return DigestCache.for_repository(repo, cache_dir=cache_dir, settle_ns=settle_ns)
