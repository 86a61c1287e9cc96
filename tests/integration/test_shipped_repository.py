"""The shipped model_repository/ loads unchanged on the real Triton and passes its smoke tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.client.endpoints import Endpoints
from orchestrator.repository.layout import model_names, version_numbers
from orchestrator.repository.validation.validate import validate_repository
from orchestrator.serving.smoke import smoke
from orchestrator.serving.triton import TritonServer, load_models

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "model_repository"
MODELS = ["cancer_mlp", "digits_cnn"]


def test_the_shipped_repository_holds_both_models_with_golden_data() -> None:
    assert model_names(SHIPPED) == MODELS
    for name in MODELS:
        versions = version_numbers(SHIPPED / name)
        assert versions, name
        for version in versions:
            folder = SHIPPED / name / str(version)
            assert {"model.onnx", "export.json", "golden.npz", "manifest.json"} <= {
                p.name for p in folder.iterdir()
            }


def test_the_shipped_repository_validates_without_findings() -> None:
    assert validate_repository(SHIPPED) == []


def test_every_shipped_model_loads_with_its_production_config_and_passes_smoke(
    triton_server: TritonServer, triton_repo: Path
) -> None:
    for name in MODELS:
        shutil.copytree(SHIPPED / name, triton_repo / name)
    states = load_models(triton_server.http_url, triton_repo, MODELS, cpu_override=True)
    assert {(s.name, s.state) for s in states} == {(name, "READY") for name in MODELS}

    report = smoke(
        Endpoints(triton_server.http_url, triton_server.grpc_url), triton_repo, models=MODELS
    )
    assert len(report.results) == 2 * sum(1 for s in states if s.state == "READY")
    report.raise_for_failures()
