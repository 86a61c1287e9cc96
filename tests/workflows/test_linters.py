"""actionlint and zizmor (offline) report nothing on .github/workflows/, and do catch a bad one.

Both come from the tools venv (``make tools``; requirements/workflow-lint.txt, pinned by
hash). A missing linter is a skip on a laptop and a failure where ``CI`` or
``ORCHESTRATOR_REQUIRE_TOOLS`` is set (``make test`` sets it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.manifests.manifests import tools_bin
from tests.support.unit_loop import UNIT_VARIABLE
from tests.workflows.rules import ROOT, WORKFLOWS

# Two classic mistakes: an expression of untrusted input inside run: (zizmor's
# template-injection, actionlint's expression check) and an action used by tag
# (zizmor's unpinned-uses); plus a typo in a key (actionlint's syntax check).
BAD_WORKFLOW = """\
name: bad
on:
  issues:
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v5
        with:
          persist-credentials: false
      - run: echo "${{ github.event.issue.title }}"
        shell: bash
        timeout-minute: 3
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def bad_repository(tmp_path: Path) -> Path:
    """A folder with .github/workflows/bad.yml."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "bad.yml").write_text(BAD_WORKFLOW)
    return tmp_path


def _workflow_files(root: Path) -> list[str]:
    # Named explicitly: actionlint's own search needs a git repository around its cwd.
    return sorted(str(p) for p in (root / ".github" / "workflows").glob("*.y*ml"))


def test_actionlint_reports_nothing() -> None:
    files = _workflow_files(ROOT)
    assert len(files) == 3
    result = _run([str(tools_bin("actionlint")), "-no-color", *files], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_catches_a_bad_workflow(bad_repository: Path) -> None:
    result = _run(
        [str(tools_bin("actionlint")), "-no-color", "-oneline", *_workflow_files(bad_repository)],
        bad_repository,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "timeout-minute"' in result.stdout
    assert "github.event.issue.title" in result.stdout


def test_zizmor_offline_reports_nothing() -> None:
    result = _run([str(tools_bin("zizmor")), "--offline", "--no-progress", str(WORKFLOWS)], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_offline_catches_a_bad_workflow(bad_repository: Path) -> None:
    result = _run(
        [
            str(tools_bin("zizmor")),
            "--offline",
            "--no-progress",
            "--format",
            "plain",
            str(bad_repository / ".github" / "workflows"),
        ],
        bad_repository,
    )
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout


def test_a_missing_linter_fails_where_tools_are_required(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TOOLS_BIN", str(tmp_path))
    monkeypatch.setenv("ORCHESTRATOR_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="actionlint is missing"):
        tools_bin("actionlint")


def test_a_missing_linter_skips_on_a_laptop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TOOLS_BIN", str(tmp_path))
    monkeypatch.delenv("ORCHESTRATOR_REQUIRE_TOOLS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(UNIT_VARIABLE, raising=False)  # make unit skips before looking
    with pytest.raises(pytest.skip.Exception, match="zizmor is missing"):
        tools_bin("zizmor")
