"""The validator agrees with the real Triton: every core corpus case is loaded in one server.

Cases for a server with auto-complete on (``Case.auto_complete``) are loaded into a second
server started without ``--disable-auto-complete-config`` and judged with
``validate_repository(..., auto_complete=True)``.

Cases are loaded in chunks into the session's server and unloaded chunk by chunk, waiting
until Triton has finished: Triton 2.51's python backend can abort the whole server (boost
``lock_exception`` in ``ModelInstanceFinalize``) when an unload is still finishing while
the next model loads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator import client
from orchestrator.errors import OrchestratorError
from orchestrator.repository.validation.validate import Finding, validate_repository
from orchestrator.serving.triton import ServerOptions, TritonInstall, TritonServer, load_models
from tests.support.corpus import CASES, Case

pytestmark = pytest.mark.integration

CORE_CASES = [c for c in CASES if c.core and not c.auto_complete]
AUTO_CASES = [c for c in CASES if c.core and c.auto_complete]
CHUNK = 8
_BUSY = {"READY", "LOADING", "UNLOADING"}


@dataclass(frozen=True)
class Verdict:
    dependencies_ready: bool
    state: str
    reason: str
    findings: list[Finding]


def _model_name(case: Case) -> str:
    return "corpus_" + case.id.replace("-", "_")


@pytest.fixture(scope="module")
def verdicts(triton_server: TritonServer, triton_repo: Path) -> dict[str, Verdict]:
    return _verdicts(triton_server.http_url, triton_repo, CORE_CASES, auto_complete=False)


@pytest.fixture(scope="module")
def auto_verdicts(
    tritonserver: TritonInstall, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Verdict]]:
    repo = tmp_path_factory.mktemp("auto-complete-repository")
    options = ServerOptions(
        repo, workdir=tmp_path_factory.mktemp("triton-auto-work"), strict_model_config=False
    )
    with TritonServer(options) as server:
        yield _verdicts(server.http_url, repo, AUTO_CASES, auto_complete=True)


def _verdicts(url: str, repo: Path, cases: list[Case], auto_complete: bool) -> dict[str, Verdict]:
    triton_repo = repo
    loaded: dict[str, tuple[list[str], bool, client.ModelState]] = {}
    for start in range(0, len(cases), CHUNK):
        chunk_models: list[str] = []
        for case in cases[start : start + CHUNK]:
            name = _model_name(case)
            dependencies = case.build(triton_repo, name)
            states = [
                load_models(url, triton_repo, [d], cpu_override=True)[0] for d in dependencies
            ]
            state = load_models(url, triton_repo, [name], cpu_override=True)[0]
            loaded[case.id] = (dependencies, all(s.state == "READY" for s in states), state)
            chunk_models += [name, *dependencies]
        _unload_and_wait(url, chunk_models)
    findings = validate_repository(triton_repo, auto_complete=auto_complete)
    verdicts = {}
    for case in cases:
        dependencies, dependencies_ready, state = loaded[case.id]
        folders = [triton_repo / n for n in (_model_name(case), *dependencies)]
        mine = [f for f in findings if any(f.path == d or d in f.path.parents for d in folders)]
        verdicts[case.id] = Verdict(dependencies_ready, state.state, state.reason, mine)
    return verdicts


def _unload_and_wait(url: str, names: list[str], timeout_s: float = 120.0) -> None:
    for model in names:
        try:
            client.unload_model(url, model)
        except OrchestratorError:
            pass
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [
            r.name for r in client.repository_index(url) if r.name in names and r.state in _BUSY
        ]
        if not busy:
            return
        assert time.monotonic() < deadline, f"Triton did not finish unloading {busy}"
        time.sleep(0.05)


@pytest.mark.parametrize("case", CORE_CASES, ids=[c.id for c in CORE_CASES])
def test_triton_and_the_validator_give_the_same_verdict(
    case: Case, verdicts: dict[str, Verdict]
) -> None:
    _assert_same_verdict(case, verdicts[case.id])


@pytest.mark.parametrize("case", AUTO_CASES, ids=[c.id for c in AUTO_CASES])
def test_auto_complete_server_and_the_validator_give_the_same_verdict(
    case: Case, auto_verdicts: dict[str, Verdict]
) -> None:
    _assert_same_verdict(case, auto_verdicts[case.id])


def _assert_same_verdict(case: Case, verdict: Verdict) -> None:
    assert verdict.dependencies_ready
    triton_loads = verdict.state == "READY"
    validator_loads = not any(f.is_error for f in verdict.findings)
    assert triton_loads == case.loads, f"Triton: {verdict.state} {verdict.reason}"
    assert validator_loads == triton_loads, [str(f) for f in verdict.findings]
