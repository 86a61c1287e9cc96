"""make require-reviewers: the production job fails closed without required reviewers.

GitHub's REST API is played by a loopback HTTP server answering
``GET /repos/{owner}/{repo}/environments/{name}`` with the documented response shape
(docs.github.com, "REST API endpoints for deployment environments", "Get an
environment": ``protection_rules`` items with ``type`` ``required_reviewers`` and
``reviewers: [{"type": "User", "reviewer": {"login": ...}}]``, or ``wait_timer``, or
``branch_policy``; 404 for an environment that does not exist). The script itself runs
for real, as the workflow runs it (``make require-reviewers``).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.workflows.rules import ROOT, load_workflows

REVIEWED = {
    "id": 1,
    "name": "production",
    "protection_rules": [
        {"id": 3, "type": "wait_timer", "wait_timer": 0},
        {
            "id": 4,
            "type": "required_reviewers",
            "prevent_self_review": True,
            "reviewers": [
                {"type": "User", "reviewer": {"login": "octocat", "id": 1}},
                {"type": "Team", "reviewer": {"slug": "release-approvers", "id": 2}},
            ],
        },
    ],
}
UNREVIEWED = {
    "id": 1,
    "name": "production",
    "protection_rules": [{"id": 5, "type": "branch_policy"}],
}


class _GitHub(BaseHTTPRequestHandler):
    environments: dict[str, Any] = {}
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append((self.path, self.headers.get("Authorization", "")))
        body = self.environments.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            self.wfile.write(b'{"message": "Not Found"}')
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHub)
    _GitHub.environments = {}
    _GitHub.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(api: str, document: Any, **env: str) -> subprocess.CompletedProcess[str]:
    if document is not None:
        _GitHub.environments["/repos/acme/models/environments/production"] = document
    return subprocess.run(
        ["make", "--no-print-directory", "require-reviewers", "ENVIRONMENT=production"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "GITHUB_REPOSITORY": "acme/models",
            "GITHUB_TOKEN": "t0ken",
            "GITHUB_API_URL": api,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_passes_when_a_reviewer_is_required(github: str) -> None:
    result = _run(github, REVIEWED)
    assert result.returncode == 0, result.stderr
    assert "octocat, release-approvers" in result.stdout
    assert _GitHub.seen == [("/repos/acme/models/environments/production", "Bearer t0ken")]


def test_fails_closed_without_required_reviewers(github: str) -> None:
    result = _run(github, UNREVIEWED)
    assert result.returncode != 0
    assert "has no required reviewers" in result.stderr
    assert "PRODUCTION_WITHOUT_REVIEWERS=allowed" in result.stderr
    # An empty reviewers list is no reviewer either.
    empty = {"protection_rules": [{"type": "required_reviewers", "reviewers": []}]}
    assert _run(github, empty).returncode != 0


def test_the_opt_out_deploys_with_a_warning(github: str) -> None:
    result = _run(github, UNREVIEWED, ALLOW_WITHOUT_REVIEWERS="allowed")
    assert result.returncode == 0, result.stderr
    assert "WARNING: production has no required reviewers" in result.stdout
    assert _run(github, UNREVIEWED, ALLOW_WITHOUT_REVIEWERS="yes").returncode != 0


@pytest.mark.parametrize(
    ("document", "expected"),
    [(None, "GitHub answered 404"), (b"<html>", "could not read environment")],
    ids=["missing-environment", "not-json"],
)
def test_an_unreadable_answer_fails_closed(github: str, document: Any, expected: str) -> None:
    result = _run(github, document)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_the_production_job_checks_first_with_actions_read() -> None:
    (promote,) = [w for w in load_workflows() if w.name == "promote.yml"]
    job = promote.jobs["production"]
    assert job["permissions"]["actions"] == "read"
    runs = [str(s.get("run", "")) for s in job["steps"]]
    check = runs.index("make require-reviewers ENVIRONMENT=production")
    assert check < min(i for i, r in enumerate(runs) if r and r != runs[check])
    credentials = [i for i, s in enumerate(job["steps"]) if "uses" in s and "auth" in s["uses"]]
    assert check < min(credentials)
