"""The validator agrees with the real Triton on the schema corpus (``tests.support.corpus_schema``).

Every case the local server can decide (``Case.core``) is loaded into the session's
server, in chunks, exactly as ``test_validation_agreement`` loads the first corpus: the
python cases run on the real python backend, the onnxruntime cases on the CPU stand-in
(see ``tests.support.corpus_schema`` for what the stand-in can and cannot show).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.serving.triton import TritonServer
from tests.integration.test_validation_agreement import Verdict, _assert_same_verdict, _verdicts
from tests.support.corpus import Case
from tests.support.corpus_schema import SCHEMA_CASES

pytestmark = pytest.mark.integration

CONFIRMED = [c for c in SCHEMA_CASES if c.core]


@pytest.fixture(scope="module")
def schema_verdicts(triton_server: TritonServer, triton_repo: Path) -> dict[str, Verdict]:
    return _verdicts(triton_server.http_url, triton_repo, CONFIRMED, auto_complete=False)


@pytest.mark.parametrize("case", CONFIRMED, ids=[c.id for c in CONFIRMED])
def test_triton_and_the_validator_agree_on_the_schema_corpus(
    case: Case, schema_verdicts: dict[str, Verdict]
) -> None:
    _assert_same_verdict(case, schema_verdicts[case.id])
