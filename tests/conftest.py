"""Shared fixtures: small real ONNX graphs and repositories built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.onnx_models import make_affine_onnx


@pytest.fixture
def affine_onnx(tmp_path: Path) -> Path:
    return make_affine_onnx(tmp_path / "affine.onnx")


@pytest.fixture
def write_model() -> Callable[..., Path]:
    """Write ``<repo>/<name>/config.pbtxt`` and ``<repo>/<name>/1/model.onnx``."""

    def write(repo: Path, name: str, config: str, build: Callable[[Path], Path]) -> Path:
        model_dir = repo / name
        build(model_dir / "1" / "model.onnx")
        (model_dir / "config.pbtxt").write_text(config)
        return model_dir

    return write
