"""Fixtures of the repository tests: a writable copy of the shipped repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the shipped repository: ONNX models with golden data in every version."""
    return Path(shutil.copytree(ROOT / "model_repository", tmp_path / "repo", symlinks=True))
