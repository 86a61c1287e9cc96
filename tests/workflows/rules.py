"""The project's own rules for .github/workflows/, on top of actionlint and zizmor.

Each rule takes a workflow (its text; the YAML is parsed with PyYAML) and returns one
line per breach, so a test can show a rule failing on a bad workflow:

- every ``uses:`` is pinned to a 40-hex commit with its version in a comment (local
  ``./`` actions excepted; ``docker://`` images by ``@sha256:`` digest);
- ``permissions: {}`` at the top, and every job says its own; ``id-token: write`` only
  in a job that uses an OIDC action (cloud credentials, attestations);
- no ``${{ ... }}`` inside ``run:`` (untrusted input goes through ``env:``);
- every ``actions/checkout`` has ``persist-credentials: false``;
- no ``pull_request_target`` trigger;
- a job with an ``environment:`` (a deploy) has a ``concurrency`` group naming that
  environment with ``cancel-in-progress: false``, and no workflow-level concurrency
  cancels it;
- every ``run:`` is one make target or one ``.venv/bin/orchestrator`` command (which may
  append to ``$GITHUB_STEP_SUMMARY``), so it runs on a laptop too;
- every job has ``timeout-minutes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"

PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")
DOCKER_PINNED = re.compile(r"docker://\S+@sha256:[0-9a-f]{64}")
OIDC_ACTIONS = (
    "aws-actions/configure-aws-credentials@",
    "google-github-actions/auth@",
    "actions/attest-build-provenance@",
)
MAKE_TARGET = re.compile(r"make [A-Za-z0-9_.-]+( [A-Z][A-Z0-9_]*=[^\s;&|`$]+)*")
ORCHESTRATOR = re.compile(
    r'\.venv/bin/orchestrator( [^;&|`<>$()]+| "\$[A-Z][A-Z0-9_]*")+'
    r'( >> "\$GITHUB_STEP_SUMMARY")?'
)


@dataclass(frozen=True)
class Workflow:
    """One workflow file: its name, text and parsed document."""

    name: str
    text: str
    document: dict[Any, Any]

    @classmethod
    def parse(cls, name: str, text: str) -> Workflow:
        """Parse ``text``; PyYAML reads the key ``on`` as True, so it is renamed back."""
        document = yaml.safe_load(text)
        assert isinstance(document, dict), f"{name} is not a YAML mapping"
        if True in document:
            document["on"] = document.pop(True)
        return cls(name, text, document)

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """The jobs by id."""
        return dict(self.document.get("jobs") or {})

    def steps(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every step of every job, with its job id."""
        for job_id, job in self.jobs.items():
            for step in job.get("steps") or []:
                yield job_id, step


def load_workflows() -> list[Workflow]:
    """The repository's workflows, by file name."""
    return [
        Workflow.parse(path.name, path.read_text()) for path in sorted(WORKFLOWS.glob("*.y*ml"))
    ]


def _uses(workflow: Workflow) -> Iterator[tuple[str, str]]:
    for job_id, job in workflow.jobs.items():
        if "uses" in job:  # a reusable workflow
            yield job_id, str(job["uses"])
    for job_id, step in workflow.steps():
        if "uses" in step:
            yield job_id, str(step["uses"])


def pinned_uses(workflow: Workflow) -> list[str]:
    """Every ``uses:`` pinned to a commit (with a version comment) or a digest."""
    problems = []
    lines = workflow.text.splitlines()
    for job_id, uses in _uses(workflow):
        if uses.startswith("./"):
            continue
        if uses.startswith("docker://"):
            if not DOCKER_PINNED.fullmatch(uses):
                problems.append(f"{job_id}: {uses} is not pinned by @sha256 digest")
            continue
        if not PINNED.fullmatch(uses):
            problems.append(f"{job_id}: {uses} is not pinned to a 40-hex commit")
            continue
        line = next((li for li in lines if uses in li), "")
        if not VERSION_COMMENT.search(line.partition(uses)[2]):
            problems.append(f"{job_id}: {uses} has no version comment (# vX.Y.Z)")
    return problems


def permissions(workflow: Workflow) -> list[str]:
    """``permissions: {}`` at the top, per-job permissions, ``id-token`` only for OIDC."""
    problems = []
    if "permissions" not in workflow.document:
        problems.append("no top-level permissions")
    elif workflow.document["permissions"] not in ({}, None):
        problems.append(f"top-level permissions are {workflow.document['permissions']!r}, not {{}}")
    for job_id, job in workflow.jobs.items():
        granted = job.get("permissions")
        if granted is None:
            problems.append(f"{job_id}: no permissions of its own")
            continue
        if isinstance(granted, str):
            problems.append(f"{job_id}: permissions {granted!r} (list each scope instead)")
            continue
        uses_oidc = any(
            str(step.get("uses", "")).startswith(OIDC_ACTIONS) for step in job.get("steps") or []
        )
        if granted.get("id-token") == "write" and not uses_oidc:
            problems.append(f"{job_id}: id-token: write without an OIDC step")
    return problems


def no_expressions_in_run(workflow: Workflow) -> list[str]:
    """No ``${{ }}`` in a ``run:`` (``github.event`` above all): pass it through ``env:``."""
    return [
        f"{job_id}: run: {step['run'].strip()!r} interpolates ${{{{ }}}}"
        + (" of github.event" if "github.event" in step["run"] else "")
        for job_id, step in workflow.steps()
        if "run" in step and "${{" in str(step["run"])
    ]


def checkout_without_credentials(workflow: Workflow) -> list[str]:
    """Every ``actions/checkout`` has ``persist-credentials: false``."""
    return [
        f"{job_id}: actions/checkout without persist-credentials: false"
        for job_id, step in workflow.steps()
        if str(step.get("uses", "")).startswith("actions/checkout@")
        and (step.get("with") or {}).get("persist-credentials") is not False
    ]


def no_pull_request_target(workflow: Workflow) -> list[str]:
    """No ``pull_request_target`` trigger (it runs with the base's secrets on a fork's code)."""
    triggers = workflow.document.get("on") or {}
    names = [triggers] if isinstance(triggers, str) else list(triggers)
    return ["pull_request_target trigger"] if "pull_request_target" in names else []


def deploy_concurrency(workflow: Workflow) -> list[str]:
    """One deploy at a time per environment, never cancelling one in progress."""
    problems = []
    deploys = {job_id: job for job_id, job in workflow.jobs.items() if job.get("environment")}
    top = workflow.document.get("concurrency")
    if deploys and isinstance(top, dict) and top.get("cancel-in-progress") is not False:
        problems.append("workflow-level concurrency may cancel a deploy in progress")
    for job_id, job in deploys.items():
        environment = job["environment"]
        name = environment.get("name") if isinstance(environment, dict) else environment
        group = job.get("concurrency")
        if not isinstance(group, dict):
            problems.append(f"{job_id}: deploys to {name} without a concurrency group")
            continue
        if str(name) not in str(group.get("group", "")):
            problems.append(f"{job_id}: concurrency group {group.get('group')!r} omits {name}")
        if group.get("cancel-in-progress") is not False:
            problems.append(f"{job_id}: concurrency without cancel-in-progress: false")
    return problems


def one_command_per_run(workflow: Workflow) -> list[str]:
    """Each ``run:`` is one make target or one orchestrator command (runs on a laptop)."""
    problems = []
    for job_id, step in workflow.steps():
        if "run" not in step:
            continue
        command = str(step["run"]).strip()
        if MAKE_TARGET.fullmatch(command) or ORCHESTRATOR.fullmatch(command):
            continue
        problems.append(
            f"{job_id}: run: {command!r} is not one make target or orchestrator command"
        )
    return problems


def job_timeouts(workflow: Workflow) -> list[str]:
    """Every job has ``timeout-minutes`` (the default is six hours)."""
    return [
        f"{job_id}: no timeout-minutes"
        for job_id, job in workflow.jobs.items()
        if "uses" not in job and "timeout-minutes" not in job
    ]


RULES: dict[str, Callable[[Workflow], list[str]]] = {
    "pinned-uses": pinned_uses,
    "permissions": permissions,
    "no-expressions-in-run": no_expressions_in_run,
    "checkout-persist-credentials": checkout_without_credentials,
    "no-pull-request-target": no_pull_request_target,
    "deploy-concurrency": deploy_concurrency,
    "one-command-per-run": one_command_per_run,
    "job-timeouts": job_timeouts,
}


def orchestrator_commands(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """The orchestrator command lines of the ``run:`` steps, with their job ids."""
    for job_id, step in workflow.steps():
        command = str(step.get("run", "")).strip()
        if command.startswith(".venv/bin/orchestrator "):
            yield job_id, command


def make_targets(workflow: Workflow) -> Iterator[tuple[str, str]]:
    """The make targets the ``run:`` steps call, with their job ids."""
    for job_id, step in workflow.steps():
        command = str(step.get("run", "")).strip()
        if command.startswith("make "):
            yield job_id, command.split()[1]
