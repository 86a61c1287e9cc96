"""Fail closed when a GitHub environment has no required reviewers.

The production job of promote.yml runs this first (``make require-reviewers
ENVIRONMENT=production``). GitHub honours *Required reviewers* only on public
repositories and on GitHub Enterprise plans; anywhere else a job with ``environment:
production`` starts at once, unapproved and without a word. This asks GitHub's REST API
(``GET /repos/{owner}/{repo}/environments/{name}``, docs: "REST API endpoints for
deployment environments") whether the environment has a ``required_reviewers`` rule
naming at least one reviewer, and exits 1 when it has not, before any credential is
minted or any cluster touched.

To deploy without reviewers on purpose, set the repository variable
``PRODUCTION_WITHOUT_REVIEWERS`` to ``allowed`` (the workflow passes it as
``ALLOW_WITHOUT_REVIEWERS``): the run then says so in its log instead of failing.

Environment: ``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_TOKEN`` (the job's token, with
``actions: read``), ``GITHUB_API_URL`` (set by GitHub; https://api.github.com by default).
Standard library only: it runs before any install. Exit 0 when reviewers are required
(or the opt-out is set), 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

OPT_OUT = "allowed"
TIMEOUT_S = 30


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"require-reviewers: {message}\n")
    return code


def reviewers(document: Any) -> list[str]:
    """The reviewers' names of the environment's ``required_reviewers`` rules (untrusted JSON)."""
    if not isinstance(document, dict):
        return []
    names: list[str] = []
    for rule in document.get("protection_rules") or []:
        if not isinstance(rule, dict) or rule.get("type") != "required_reviewers":
            continue
        for reviewer in rule.get("reviewers") or []:
            who = reviewer.get("reviewer") if isinstance(reviewer, dict) else None
            if isinstance(who, dict):
                name = who.get("login") or who.get("slug") or who.get("name")
                names.append(str(name)[:100] if name else "?")
    return names


def main(argv: list[str]) -> int:
    """Check the environment named in ``argv``; print why it fails."""
    if len(argv) != 1 or not argv[0]:
        return _fail("usage: require_reviewers.py ENVIRONMENT (e.g. production)", 2)
    environment = argv[0]
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    token = os.environ.get("GITHUB_TOKEN", "")
    if repository.count("/") != 1 or not token:
        return _fail("set GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN (actions: read)", 2)
    api = os.environ.get("GITHUB_API_URL") or "https://api.github.com"
    url = (
        f"{api.rstrip('/')}/repos/{repository}/environments/"
        f"{urllib.parse.quote(environment, safe='')}"
    )
    request = urllib.request.Request(
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {token}",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    allowed = os.environ.get("ALLOW_WITHOUT_REVIEWERS", "").strip() == OPT_OUT
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            document = json.loads(response.read(1_000_000))
        names = reviewers(document)
    except urllib.error.HTTPError as error:
        return _fail(
            f"GitHub answered {error.code} for environment {environment!r} ({url}): "
            "the job cannot tell whether a reviewer approved it, so it stops. Check that the "
            "environment exists and the job has `permissions: actions: read`."
        )
    except (urllib.error.URLError, OSError, ValueError) as error:
        return _fail(f"could not read environment {environment!r} from {url}: {error}")
    if names:
        sys.stdout.write(f"{environment} requires approval by one of: {', '.join(names)}\n")
        return 0
    if allowed:
        sys.stdout.write(
            f"WARNING: {environment} has no required reviewers; deploying anyway because "
            f"PRODUCTION_WITHOUT_REVIEWERS is {OPT_OUT!r}.\n"
        )
        return 0
    return _fail(
        f"environment {environment!r} has no required reviewers, so this job would deploy "
        "without anyone's approval. Add reviewers (Settings, Environments, "
        f"{environment}, Required reviewers); private repositories need a plan that "
        "offers them (GitHub Enterprise; public repositories have them on every plan). To "
        f"deploy unreviewed on purpose, set the repository variable "
        f"PRODUCTION_WITHOUT_REVIEWERS={OPT_OUT}."
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
