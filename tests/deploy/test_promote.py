"""promote against the recording runner: what it refuses, forced records, failed deploys.

Every case here stops before a golden smoke passes (a refusal, a dry run, a failed
step), so it runs without a Triton; a promotion that succeeds, and the rollback after
a failed check of the target, are in tests/integration/test_promote.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.gate import GateOptions
from orchestrator.deploy.kubectl import Completed
from orchestrator.deploy.promote import promote
from orchestrator.deploy.rollout import DeployOptions
from orchestrator.deploy.unit import planned_unit
from orchestrator.errors import ConfigError, DeployError
from orchestrator.releases.environments import (
    EnvironmentPointer,
    read_environment,
    set_environment,
)
from orchestrator.releases.gate_records import gate_records, write_gate_record
from rehearsal.recording import (
    UNLOCK_LINES,
    RecordingRunner,
    deployment_json,
    lock_lines,
    pods_json,
)
from tests.conftest import Dest
from tests.deploy.conftest import MANIFESTS, Promotion, make_promotion

NS = "triton-production"
RENDER = "kubectl kustomize TMP"
GET = f"kubectl get deployment/triton --namespace {NS} --ignore-not-found --output=json"
APPLY = "kubectl apply -f -"
STATUS = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=30s"
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"
UNDO = f"kubectl rollout undo deployment/triton --namespace {NS} --to-revision=3"
WAIT = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=60s"
LOCK, UNLOCK = lock_lines(NS), UNLOCK_LINES
ACTOR = "octo-lead"


def invoke(runner: RecordingRunner, args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, obj={"kubectl": runner}, env={"GITHUB_ACTOR": ACTOR})


def assert_failed(result: Result, *parts: str, exit_code: int = 1) -> None:
    """One ``Error:`` message on stderr with ``parts``, the exit status, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("Error: ") == 1
    for part in parts:
        assert part in result.stderr, result.stderr


def pointer(promotion: Promotion, environment: str = "production") -> EnvironmentPointer | None:
    return read_environment(promotion.store, environment)


def passed(promotion: Promotion, release: str, environment: str = "staging") -> str:
    return write_gate_record(promotion.store, release, environment, {"passed": True}).key


@pytest.fixture
def promotion(tmp_path: Path) -> Promotion:
    """A file:// store: staging runs ``new``, production ``old``, no gate record."""
    return make_promotion(tmp_path, (tmp_path / "store").as_uri(), "promote_unit")


def test_only_failing_records_refuse_the_promotion_before_any_kubectl(
    dest: Dest, tmp_path: Path
) -> None:
    promotion = make_promotion(tmp_path, dest.url, "promote_unit", endpoint_url=dest.endpoint_url)
    before = pointer(promotion)
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": False})
    newest = write_gate_record(promotion.store, promotion.new, "staging", {"passed": False})
    endpoint = f" --endpoint-url {dest.endpoint_url}" if dest.endpoint_url else ""
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--url", "127.0.0.1:1", "--no-gate"))

    assert_failed(
        result,
        f"Release {promotion.new} has no passing gate record in staging",
        f"its 2 record(s) under {dest.url}/gates/{promotion.new}/staging/ all failed",
        newest.key,
        "Nothing was done to production",
        # The hint runs as printed: the store's endpoint goes with it.
        f"orchestrator gate {dest.url}{endpoint} --env staging",
        "--force --reason TEXT",
    )
    assert runner.calls == []
    assert pointer(promotion) == before


@pytest.mark.parametrize(
    "record",
    ["none", "for-production", "for-another-release"],
    ids=["no-record", "record-of-another-environment", "record-of-another-release"],
)
def test_only_a_passing_record_of_this_release_in_staging_counts(
    promotion: Promotion, record: str
) -> None:
    before = pointer(promotion)
    if record == "for-production":
        passed(promotion, promotion.new, "production")
    elif record == "for-another-release":
        passed(promotion, promotion.old, "staging")
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--url", "127.0.0.1:1", "--no-gate"))

    assert_failed(
        result,
        f"Release {promotion.new} has no passing gate record in staging: there is no "
        f"record under {promotion.url}/gates/{promotion.new}/staging/",
        f"orchestrator gate {promotion.url} --env staging",
    )
    assert runner.calls == []
    assert pointer(promotion) == before


def test_a_release_other_than_the_one_staging_runs_is_refused(promotion: Promotion) -> None:
    passed(promotion, promotion.new)
    passed(promotion, promotion.old)
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--release", promotion.old))

    assert_failed(
        result,
        f"staging runs release {promotion.new}, not {promotion.old} as expected",
        f"--release {promotion.new}",
    )
    assert runner.calls == []


def test_an_environment_without_pointer_has_nothing_to_promote(tmp_path: Path) -> None:
    promotion = make_promotion(tmp_path, (tmp_path / "store").as_uri(), "promote_unit")
    (tmp_path / "store" / "environments" / "staging.json").unlink()
    runner = RecordingRunner()

    result = invoke(runner, promotion.args())

    assert_failed(result, "Environment 'staging' has no pointer", "orchestrator deploy")
    assert runner.calls == []


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--force"], "--force needs --reason TEXT"),
        (["--force", "--reason", ""], "--force needs --reason TEXT"),
        (["--force", "--reason", " \t "], "--force needs --reason TEXT"),
        (["--reason", "the gate host is down"], "--reason goes with --force only"),
    ],
    ids=["force-without-reason", "empty-reason", "blank-reason", "reason-without-force"],
)
def test_force_and_reason_go_together_or_it_is_a_usage_error(
    promotion: Promotion, extra: list[str], says: str
) -> None:
    runner = RecordingRunner()
    result = invoke(runner, promotion.args(*extra))
    assert_failed(result, says, exit_code=2)
    assert runner.calls == []
    assert gate_records(promotion.store, promotion.new, "staging") == []


def test_promoting_an_environment_to_itself_is_a_usage_error(promotion: Promotion) -> None:
    runner = RecordingRunner()
    args = ["promote", promotion.url, "--from", "staging", "--to", "staging"]
    result = invoke(runner, args)
    assert_failed(result, "--from and --to are both 'staging'", exit_code=2)
    assert runner.calls == []


def test_a_failed_forced_promotion_records_the_attempt_and_authorizes_nothing(
    dest: Dest, tmp_path: Path
) -> None:
    promotion = make_promotion(tmp_path, dest.url, "promote_unit", endpoint_url=dest.endpoint_url)
    before = pointer(promotion)
    state = Completed((), 0, deployment_json(promotion.old, 3, namespace=NS))
    runner = RecordingRunner(
        {
            "get deployment/triton": [state, state],
            "apply": [(1, 'admission webhook "policy" denied the request: no GPU limit')],
        }
    )

    result = invoke(
        runner,
        promotion.args(
            "--force", "--reason", " gate host down ", "--url", "127.0.0.1:1", "--no-gate"
        ),
    )

    assert_failed(
        result,
        f"Deploying release {promotion.new} to production failed at step 'apply'",
        "no GPU limit",
        f"still runs release {promotion.old}",
    )
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, *UNLOCK]
    rendered = runner.applied_texts[0]
    assert f"namespace: {NS}" in rendered
    assert f"triton-orchestrator/release: {promotion.new}" in rendered
    assert pointer(promotion) == before
    # The attempt is recorded, after the target was tried, as a failure that says forced.
    [record] = gate_records(promotion.store, promotion.new, "staging")
    assert record.key.startswith(f"gates/{promotion.new}/staging/")
    assert (record.passed, record.forced) == (False, True)
    body = dict(record.body)
    assert body.pop("created")
    assert "no GPU limit" in body.pop("error")
    assert body == {
        "format": 1,
        "release": promotion.new,
        "environment": "staging",
        "passed": False,
        "forced": True,
        "reason": "gate host down",
        "by": ACTOR,
        "promoted_to": "production",
        "target_checked": False,
    }
    assert gate_records(promotion.store, promotion.new, "production") == []

    # A later promotion without --force is refused before any kubectl call.
    later = RecordingRunner()
    result = invoke(later, promotion.args("--url", "127.0.0.1:1", "--no-gate"))
    assert_failed(result, f"Release {promotion.new} has no passing gate record in staging")
    assert later.calls == []


def test_a_passing_forced_record_never_authorizes_an_unforced_promotion(
    promotion: Promotion,
) -> None:
    # What a forced promotion to another environment that succeeded leaves behind.
    body = {"passed": True, "forced": True, "reason": "hotfix", "promoted_to": "canary"}
    forced = write_gate_record(promotion.store, promotion.new, "staging", body)
    before = pointer(promotion)
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--url", "127.0.0.1:1", "--no-gate"))

    assert_failed(
        result,
        f"Release {promotion.new} has no passing gate record in staging",
        f"(the newest: {forced.key}); 1 of them forced: a forced record (promote --force) "
        "authorizes only the promotion that wrote it, never a later one",
    )
    assert runner.calls == []
    assert pointer(promotion) == before


def test_a_failed_rollout_is_undone_and_production_keeps_its_pointer(
    promotion: Promotion,
) -> None:
    passed(promotion, promotion.new)
    before = pointer(promotion)
    runner = RecordingRunner(
        {
            "get deployment/triton": [
                Completed((), 0, deployment_json(promotion.old, 3, namespace=NS)),
                Completed((), 0, deployment_json(promotion.new, 4, namespace=NS)),
            ],
            "apply": [(0, "deployment.apps/triton configured\n")],
            "rollout status": [
                (1, 'error: deployment "triton" exceeded its progress deadline'),
                (0, 'deployment "triton" successfully rolled out\n'),
            ],
            "get pods": [(0, pods_json(("triton-new-1", "NEW", False, "CrashLoopBackOff", 4)))],
            "rollout undo": [(0, "deployment.apps/triton rolled back\n")],
        }
    )

    result = invoke(
        runner, promotion.args("--release", promotion.new, "--url", "127.0.0.1:1", "--no-gate")
    )

    assert_failed(
        result,
        "failed at step 'rollout'",
        "CrashLoopBackOff (4 restarts)",
        f"Rolled back: deployment/triton runs release {promotion.old} again",
    )
    assert runner.lines == [
        RENDER,
        *LOCK,
        GET,
        APPLY,
        GET,
        WAIT,
        GET,
        PODS,
        GET,
        UNDO,
        WAIT,
        *UNLOCK,
    ]
    assert pointer(promotion) == before
    assert read_environment(promotion.store, "staging") is not None


def test_a_release_production_already_runs_is_not_deployed_again(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    promotion = make_promotion(tmp_path, url, "promote_unit", production=False)
    unit = planned_unit(
        promotion.store, "production", promotion.new, runner=RecordingRunner(), manifests=MANIFESTS
    )
    set_environment(promotion.store, "production", promotion.new, unit=unit)
    key = passed(promotion, promotion.new)
    before = pointer(promotion)
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--format", "json"))

    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER]  # the unit a deploy would apply now: the same
    assert pointer(promotion) == before
    assert f"production already runs release {promotion.new}" in result.stderr
    assert json.loads(result.stdout) == {
        "from": "staging",
        "to": "production",
        "release": promotion.new,
        "outcome": "already-running",
        "record": key,
        "forced": False,
        "target_checked": False,
        "deploy": None,
        "gate": None,
    }

    # --redeploy goes on to the deploy (a dry run here: only the render runs).
    again = RecordingRunner()
    result = invoke(again, promotion.args("--redeploy", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert again.lines == [RENDER]
    assert "# outcome      dry-run" in result.stdout


def test_a_release_already_running_still_needs_its_passing_record(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    promotion = make_promotion(tmp_path, url, "promote_unit", production=False)
    set_environment(promotion.store, "production", promotion.new)
    runner = RecordingRunner()
    result = invoke(runner, promotion.args())
    assert_failed(result, "has no passing gate record in staging")
    assert runner.calls == []


def test_dry_run_shows_the_release_its_record_and_the_plan_and_changes_nothing(
    promotion: Promotion,
) -> None:
    key = passed(promotion, promotion.new)
    before = pointer(promotion)
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--dry-run"))

    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER]
    assert result.stdout.startswith(
        "# promote      staging -> production\n"
        f"# release      {promotion.new}\n"
        f"# allowed by   gate record {promotion.url}/{key}\n"
        "# outcome      dry-run\n"
        f"# would run: kubectl kustomize {MANIFESTS}/overlays/production (+ the release layer)\n"
    )
    assert f"# would run: {APPLY} (the manifests below)" in result.stdout
    assert f"# would run: {STATUS}" in result.stdout
    assert f"namespace: {NS}" in result.stdout
    assert f"triton-orchestrator/release: {promotion.new}" in result.stdout
    assert pointer(promotion) == before
    assert [r.key for r in gate_records(promotion.store, promotion.new, "staging")] == [key]


def test_a_forced_dry_run_writes_no_record(promotion: Promotion) -> None:
    runner = RecordingRunner()
    result = invoke(runner, promotion.args("--force", "--reason", "hotfix", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER]
    assert (
        "# allowed by   --force: a forced record in staging (not written: dry run)" in result.stdout
    )
    assert gate_records(promotion.store, promotion.new, "staging") == []


def test_promote_json_of_a_dry_run(promotion: Promotion) -> None:
    key = passed(promotion, promotion.new)
    runner = RecordingRunner()
    result = invoke(runner, promotion.args("--dry-run", "--format", "json"))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    deploy = body.pop("deploy")
    assert body == {
        "from": "staging",
        "to": "production",
        "release": promotion.new,
        "outcome": "dry-run",
        "record": key,
        "forced": False,
        "target_checked": False,
        "gate": None,
    }
    assert {k: deploy[k] for k in ("environment", "release", "namespace", "previous_release")} == {
        "environment": "production",
        "release": promotion.new,
        "namespace": NS,
        "previous_release": promotion.old,
    }
    assert deploy["dry_run"] is True
    assert f"triton-orchestrator/release: {promotion.new}" in deploy["rendered"]


@pytest.mark.parametrize(
    ("force", "reason", "says"),
    [(True, None, "needs a reason"), (True, "  ", "needs a reason"), (False, "x", "--force")],
    ids=["force-without-reason", "blank-reason", "reason-without-force"],
)
def test_the_library_refuses_a_force_without_reason_too(
    promotion: Promotion, force: bool, reason: str | None, says: str
) -> None:
    runner = RecordingRunner()
    with pytest.raises(DeployError, match=says):
        promote(
            promotion.store,
            "staging",
            "production",
            runner=runner,
            options=DeployOptions(MANIFESTS),
            force=force,
            reason=reason,
        )
    assert runner.calls == []
    assert gate_records(promotion.store, promotion.new, "staging") == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("defaults:\n  p99: 5\n", "unknown key defaults.p99."),
        ("models:\n  not_served:\n    p99_ms: 5\n", "models.not_served names a model that"),
    ],
    ids=["wrong-key", "model-the-release-does-not-serve"],
)
def test_a_bad_gates_file_is_a_configuration_error_before_anything_deploys(
    promotion: Promotion, tmp_path: Path, text: str, says: str
) -> None:
    passed(promotion, promotion.new)
    before = pointer(promotion)
    gates = tmp_path / "gates.yaml"
    gates.write_text(text)
    runner = RecordingRunner()

    result = invoke(
        runner,
        promotion.args(
            "--gates", str(gates), "--url", "127.0.0.1:1", "--metrics-url", "127.0.0.1:2"
        ),
    )

    assert_failed(result, says, "(a configuration error: nothing was gated)", exit_code=2)
    assert runner.calls == []
    assert pointer(promotion) == before


@pytest.mark.parametrize(
    "recorded",
    ["other manifests", "no unit (a format-1 pointer)"],
)
def test_the_same_release_with_other_manifests_is_promoted(tmp_path: Path, recorded: str) -> None:
    # issue 18: a push that changes only deployment/** keeps the release id; promote
    # compares the whole unit, so it deploys (a dry run here shows it would).
    url = (tmp_path / "store").as_uri()
    promotion = make_promotion(tmp_path, url, "promote_unit", production=False)
    unit = "0" * 64 if recorded == "other manifests" else None
    set_environment(promotion.store, "production", promotion.new, unit=unit)
    passed(promotion, promotion.new)
    runner = RecordingRunner()

    result = invoke(runner, promotion.args("--dry-run"))

    assert result.exit_code == 0, result.output
    assert "already runs" not in result.stderr
    assert "# outcome      dry-run" in result.stdout
    assert "triton-orchestrator/unit: " in result.stdout


def test_the_library_checks_the_gates_file_of_its_gate_before_any_kubectl(
    promotion: Promotion, tmp_path: Path
) -> None:
    passed(promotion, promotion.new)
    before = pointer(promotion)
    gates = tmp_path / "gates.yaml"
    gates.write_text("models:\n  not_served:\n    p99_ms: 5\n")
    runner = RecordingRunner()

    with pytest.raises(ConfigError, match="models.not_served names a model that"):
        promote(
            promotion.store,
            "staging",
            "production",
            runner=runner,
            options=DeployOptions(MANIFESTS),
            gate=GateOptions(gates, MANIFESTS),
        )

    assert runner.calls == []
    assert pointer(promotion) == before
    assert gate_records(promotion.store, promotion.new, "production") == []


def test_a_gated_dry_run_gates_nothing(promotion: Promotion) -> None:
    passed(promotion, promotion.new)
    runner = RecordingRunner()

    report = promote(
        promotion.store,
        "staging",
        "production",
        runner=runner,
        options=DeployOptions(MANIFESTS, dry_run=True),
        gate=GateOptions(promotion.gates, MANIFESTS),
    )

    assert (report.outcome, report.gate, report.target_checked) == ("dry-run", None, False)
    assert gate_records(promotion.store, promotion.new, "production") == []
    assert report.as_dict()["gate"] is None
