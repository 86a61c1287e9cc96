"""The validator's verdict on every case of the schema corpus: exactly the expected errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.repository.validation.validate import validate_repository
from tests.support.corpus import CASES, Case
from tests.support.corpus_schema import AREAS, SCHEMA_CASES, area_of


def test_schema_corpus_has_40_cases_both_verdicts_in_every_area() -> None:
    ids = [c.id for c in SCHEMA_CASES]
    assert len(ids) == len(set(ids)) and not set(ids) & {c.id for c in CASES}
    confirmed = [c for c in SCHEMA_CASES if c.core]
    assert len(confirmed) >= 40
    for area in AREAS:
        verdicts = {c.loads for c in confirmed if area_of(c) == area}
        assert verdicts == {True, False}, area


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[c.id for c in SCHEMA_CASES])
def test_validator_reports_exactly_the_expected_errors(case: Case, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    name = case.id.replace("-", "_")
    case.build(repo, name)
    findings = validate_repository(repo)
    errors = {f.code for f in findings if f.is_error}
    warnings = {f.code for f in findings if not f.is_error}
    assert errors == set(case.errors), [str(f) for f in findings]
    assert set(case.warnings) <= warnings, [str(f) for f in findings]
    for finding in findings:
        assert finding.message and finding.hint
        assert finding.path == repo or repo in finding.path.parents
