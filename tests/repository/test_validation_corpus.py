"""The validator's verdict on every corpus case: exactly the expected errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.repository.validation.validate import validate_repository
from tests.support.corpus import CASES, Case


def test_corpus_has_at_least_40_cases_with_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert sum(c.loads for c in CASES) >= 10 and sum(not c.loads for c in CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validator_reports_exactly_the_expected_errors(case: Case, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    name = case.id.replace("-", "_")
    case.build(repo, name)
    findings = validate_repository(repo, auto_complete=case.auto_complete)
    errors = {f.code for f in findings if f.is_error}
    warnings = {f.code for f in findings if not f.is_error}
    assert errors == set(case.errors), [str(f) for f in findings]
    assert set(case.warnings) <= warnings, [str(f) for f in findings]
    for finding in findings:
        assert finding.message and finding.hint
        assert finding.path == repo or repo in finding.path.parents
