"""The project's workflow rules pass on .github/workflows/ and each fails on a bad workflow."""

from __future__ import annotations

import shlex

import click
import pytest

from tests.support.command_lines import parse_orchestrator
from tests.workflows.rules import (
    ROOT,
    RULES,
    Workflow,
    load_workflows,
    make_targets,
    orchestrator_commands,
)

CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8"
SUMMARY = '>> "$GITHUB_STEP_SUMMARY"'
AWS = "aws-actions/configure-aws-credentials@a03048d87541d1d9fcf2ecf528a4a65ba9bd7838"

# A workflow every rule accepts; each bad fixture below changes one thing in it.
GOOD = f"""
name: good
on:
  push:
    branches: [main]
permissions: {{}}
jobs:
  deploy:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    environment: staging
    permissions:
      contents: read
      id-token: write
    concurrency:
      group: deploy-staging
      cancel-in-progress: false
    env:
      RELEASE: ${{{{ github.sha }}}}
    steps:
      - uses: {CHECKOUT} # v5.0.0
        with:
          persist-credentials: false
      - uses: {AWS} # v5.0.0
        with:
          role-to-assume: ${{{{ vars.AWS_ROLE_ARN }}}}
          aws-region: eu-west-1
      - run: make venv
      - run: .venv/bin/orchestrator deploy "$STORE" --env staging --release "$RELEASE"
      - run: .venv/bin/orchestrator gate "$STORE" --env staging --format markdown {SUMMARY}
"""

BAD = {
    "pinned-uses": [
        (
            f"uses: {CHECKOUT} # v5.0.0",
            "uses: actions/checkout@v5 # v5.0.0",
            "deploy: actions/checkout@v5 is not pinned to a 40-hex commit",
        ),
        (
            f"uses: {CHECKOUT} # v5.0.0",
            f"uses: {CHECKOUT[:-1]} # v5.0.0",
            f"deploy: {CHECKOUT[:-1]} is not pinned to a 40-hex commit",
        ),
        (
            f"uses: {CHECKOUT} # v5.0.0",
            f"uses: {CHECKOUT}",
            f"deploy: {CHECKOUT} has no version comment (# vX.Y.Z)",
        ),
        (
            f"uses: {CHECKOUT} # v5.0.0",
            "uses: docker://alpine:3.20",
            "deploy: docker://alpine:3.20 is not pinned by @sha256 digest",
        ),
    ],
    "permissions": [
        ("permissions: {}\n", "", "no top-level permissions"),
        (
            "permissions: {}\n",
            "permissions: write-all\n",
            "top-level permissions are 'write-all', not {}",
        ),
        (
            "    permissions:\n      contents: read\n      id-token: write\n",
            "",
            "deploy: no permissions of its own",
        ),
        (
            f"      - uses: {AWS} # v5.0.0\n        with:\n"
            "          role-to-assume: ${{ vars.AWS_ROLE_ARN }}\n          aws-region: eu-west-1\n",
            "",
            "deploy: id-token: write without an OIDC step",
        ),
    ],
    "no-expressions-in-run": [
        (
            "      - run: make venv\n",
            '      - run: echo "${{ github.event.head_commit.message }}"\n',
            "deploy: run: 'echo \"${{ github.event.head_commit.message }}\"' interpolates "
            "${{ }} of github.event",
        ),
        (
            '--release "$RELEASE"',
            "--release ${{ github.sha }}",
            'deploy: run: \'.venv/bin/orchestrator deploy "$STORE" --env staging --release '
            "${{ github.sha }}' interpolates ${{ }}",
        ),
    ],
    "checkout-persist-credentials": [
        (
            "          persist-credentials: false\n",
            "          fetch-depth: 1\n",
            "deploy: actions/checkout without persist-credentials: false",
        ),
    ],
    "no-pull-request-target": [
        (
            "  push:\n    branches: [main]\n",
            "  pull_request_target:\n",
            "pull_request_target trigger",
        ),
    ],
    "deploy-concurrency": [
        (
            "    concurrency:\n      group: deploy-staging\n      cancel-in-progress: false\n",
            "",
            "deploy: deploys to staging without a concurrency group",
        ),
        (
            "      cancel-in-progress: false\n",
            "      cancel-in-progress: true\n",
            "deploy: concurrency without cancel-in-progress: false",
        ),
        (
            "      group: deploy-staging\n",
            "      group: deploy\n",
            "deploy: concurrency group 'deploy' omits staging",
        ),
        (
            "permissions: {}\n",
            "permissions: {}\nconcurrency:\n  group: all\n  cancel-in-progress: true\n",
            "workflow-level concurrency may cancel a deploy in progress",
        ),
    ],
    "one-command-per-run": [
        (
            "      - run: make venv\n",
            "      - run: make venv && make test\n",
            "deploy: run: 'make venv && make test' is not one make target or orchestrator command",
        ),
        (
            "      - run: make venv\n",
            "      - run: |\n          pip install -e .\n          orchestrator sync\n",
            "deploy: run: 'pip install -e .\\norchestrator sync' is not one make target or "
            "orchestrator command",
        ),
        (
            "      - run: make venv\n",
            "      - run: .venv/bin/orchestrator release --format id | tee out\n",
            "deploy: run: '.venv/bin/orchestrator release --format id | tee out' is not one "
            "make target or orchestrator command",
        ),
        (
            "      - run: make venv\n",
            "      - run: curl -sSf https://example.invalid/install.sh\n",
            "deploy: run: 'curl -sSf https://example.invalid/install.sh' is not one make "
            "target or orchestrator command",
        ),
    ],
    "job-timeouts": [
        ("    timeout-minutes: 30\n", "", "deploy: no timeout-minutes"),
    ],
}


def _bad_cases() -> list[tuple[str, str, str, str]]:
    return [
        (rule, old, new, expected) for rule, cases in BAD.items() for old, new, expected in cases
    ]


@pytest.mark.parametrize("workflow", load_workflows(), ids=lambda w: w.name)
@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_workflow_follows_the_rule(workflow: Workflow, rule: str) -> None:
    assert RULES[rule](workflow) == []


def test_the_three_workflows_are_there() -> None:
    assert [w.name for w in load_workflows()] == ["ci.yml", "image.yml", "promote.yml"]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_the_good_fixture_follows_the_rule(rule: str) -> None:
    assert RULES[rule](Workflow.parse("good.yml", GOOD)) == []


@pytest.mark.parametrize(
    ("rule", "old", "new", "expected"),
    _bad_cases(),
    ids=[f"{rule}-{i}" for rule, cases in BAD.items() for i in range(len(cases))],
)
def test_a_bad_workflow_breaks_the_rule(rule: str, old: str, new: str, expected: str) -> None:
    assert GOOD.count(old) == 1, f"the fixture change {old!r} is ambiguous"
    bad = Workflow.parse("bad.yml", GOOD.replace(old, new))

    assert RULES[rule](bad) == [expected]


def test_every_rule_has_a_bad_fixture() -> None:
    assert set(BAD) == set(RULES)


# --- the commands the workflows run exist, with these options ---------------------------

PLACEHOLDERS = {
    "$STORE": "s3://bucket/prefix",
    "$RELEASE": "0123456789abcdef0123456789abcdef",
    "$GITHUB_OUTPUT": "/tmp/github_output",
}


def _parse(command: str) -> click.Context:
    """Parse an orchestrator command line against the real CLI, without running it.

    Unknown options, missing required ones, paths that must exist: all fail here as
    they would on the runner (tests/support/command_lines.py, shared with the docs tests).
    """
    words = shlex.split(command.partition(">>")[0])
    assert words[0] == ".venv/bin/orchestrator"
    args = [PLACEHOLDERS.get(w, w) for w in words[1:]]
    assert not [w for w in args if w.startswith("$")], f"unknown variable in {command}"
    return parse_orchestrator(args, command)


COMMANDS = [
    (w.name, job, command) for w in load_workflows() for job, command in orchestrator_commands(w)
]


@pytest.mark.parametrize(
    ("workflow", "job", "command"),
    COMMANDS,
    ids=[f"{w}-{j}-{c.split()[1]}" for w, j, c in COMMANDS],
)
def test_every_orchestrator_command_parses_against_the_cli(
    workflow: str, job: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # paths such as models/exports are checked as the runner sees them
    ctx = _parse(command)
    assert ctx.command.name is not None


def test_a_misspelt_option_fails_the_parse_check() -> None:
    with pytest.raises(click.NoSuchOption):
        _parse('.venv/bin/orchestrator deploy "$STORE" --environment staging --release "$RELEASE"')


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {
        line.split(":", 1)[0]
        for line in text.splitlines()
        if line and not line[0].isspace() and ":" in line and "=" not in line.split(":", 1)[0]
    }


def test_every_make_target_the_workflows_run_exists() -> None:
    targets = _makefile_targets()
    used = {target for w in load_workflows() for _, target in make_targets(w)}
    assert used, "the workflows run no make target"
    assert used <= targets, f"missing in the Makefile: {sorted(used - targets)}"
    assert "no-such-target" not in targets
