"""The validator's verdict on every case of both corpora: exactly the expected errors.

The corpus (tests/support/corpus.py) and the schema corpus (tests/support/corpus_schema.py,
a case per config field area, each both ways) are judged by the same rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.repository.validation.validate import validate_repository
from tests.support.corpus import CASES, Case
from tests.support.corpus_schema import AREAS, SCHEMA_CASES, area_of

ALL_CASES = [*CASES, *SCHEMA_CASES]


def test_corpus_has_at_least_40_cases_with_unique_ids() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert sum(c.loads for c in CASES) >= 10 and sum(not c.loads for c in CASES) >= 30


def test_schema_corpus_has_40_cases_both_verdicts_in_every_area() -> None:
    ids = [c.id for c in SCHEMA_CASES]
    assert len(ids) == len(set(ids)) and not set(ids) & {c.id for c in CASES}
    confirmed = [c for c in SCHEMA_CASES if c.core]
    assert len(confirmed) >= 40
    for area in AREAS:
        verdicts = {c.loads for c in confirmed if area_of(c) == area}
        assert verdicts == {True, False}, area


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
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
