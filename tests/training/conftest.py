"""Fixtures for training tests: each model trained and exported once per session."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.unit_loop import skip_in_unit_loop

if TYPE_CHECKING:
    from training import ExportResult


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    """Both models trained with their default settings and exported, by model name."""
    skip_in_unit_loop("model training")
    pytest.importorskip("torch")
    from training import MODEL_NAMES, train_and_export

    root: Path = tmp_path_factory.mktemp("exports")
    return {name: train_and_export(name, root / name) for name in MODEL_NAMES}
