"""The validator agrees with the real Triton: every core corpus case is loaded in one server."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import client
from orchestrator.errors import OrchestratorError
from orchestrator.triton import TritonServer, load_models
from orchestrator.validation import validate_repository
from tests.corpus import CASES, Case

pytestmark = pytest.mark.integration

CORE_CASES = [c for c in CASES if c.core]


@pytest.mark.parametrize("case", CORE_CASES, ids=[c.id for c in CORE_CASES])
def test_triton_and_the_validator_give_the_same_verdict(
    case: Case, triton_server: TritonServer, triton_repo: Path
) -> None:
    name = "corpus_" + case.id.replace("-", "_")
    dependencies = case.build(triton_repo, name)
    folders = [triton_repo / n for n in (name, *dependencies)]
    findings = [
        f
        for f in validate_repository(triton_repo)
        if any(f.path == d or d in f.path.parents for d in folders)
    ]
    validator_loads = not any(f.is_error for f in findings)

    for dependency in dependencies:
        assert (
            load_models(triton_server.http_url, triton_repo, [dependency], cpu_override=True)[
                0
            ].state
            == "READY"
        )
    state = load_models(triton_server.http_url, triton_repo, [name], cpu_override=True)[0]
    triton_loads = state.state == "READY"
    try:
        assert triton_loads == case.loads, f"Triton: {state.state} {state.reason}"
        assert validator_loads == triton_loads, [str(f) for f in findings]
    finally:
        for model in (name, *dependencies):
            try:
                client.unload_model(triton_server.http_url, model)
            except OrchestratorError:
                pass
