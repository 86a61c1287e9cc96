"""promote with the real golden smoke: a real Triton serves the promoted release.

kubectl is the recording runner (rehearsal/recording.py); the Triton behind ``--url``
is real, so the deploy's golden smoke passes and production's pointer moves. A check of
the target that fails (``verify_target``, where the gate of production plugs in) rolls
production back to what ran before, with the same steps and smoke.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.gate import GateOptions, GateResult
from orchestrator.deploy.kubectl import Completed
from orchestrator.deploy.promote import promote
from orchestrator.deploy.rollout import DeployOptions, DeployReport
from orchestrator.errors import DeployError, GateError, SmokeTestError
from orchestrator.releases.environments import read_environment
from orchestrator.releases.gate_records import gate_records, latest_passing, write_gate_record
from orchestrator.releases.manifest import release_prefix
from orchestrator.serving.triton import TritonServer, load_models
from rehearsal.recording import (
    UNLOCK_LINES,
    Outcome,
    RecordingRunner,
    deployment_json,
    lock_lines,
)
from tests.deploy.conftest import MANIFESTS, Promotion, make_promotion

pytestmark = pytest.mark.integration

NS = "triton-production"
RENDER = "kubectl kustomize TMP"
GET = f"kubectl get deployment/triton --namespace {NS} --ignore-not-found --output=json"
APPLY = "kubectl apply -f -"
STATUS = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=30s"
# deployment_json's Deployment has 2 replicas: the client's deadline is 2 x --timeout-s.
WAIT = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=60s"
LOCK, UNLOCK = lock_lines(NS), UNLOCK_LINES
# A deploy over a running Deployment: lock, read it, apply, read the generation, wait,
# check the generation before the smoke, unlock.
DEPLOYED = [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, *UNLOCK]


def _promotion(
    tmp_path: Path, server: TritonServer, triton_repo: Path, model: str, *, production: bool = True
) -> Promotion:
    """Releases ``old`` (``<model>_old``) and ``new`` (``model``), both served by ``server``."""
    promotion = make_promotion(
        tmp_path, (tmp_path / "store").as_uri(), model, production=production
    )
    for name, release in ((model, promotion.new), (f"{model}_old", promotion.old)):
        stored = tmp_path / "store" / release_prefix(release) / name
        shutil.copytree(stored, triton_repo / name)
        states = load_models(server.http_url, triton_repo, [name], cpu_override=True)
        assert {s.state for s in states} == {"READY"}, states
    return promotion


def _script(running: str | None, deployed: str) -> dict[str, list[Outcome]]:
    """Production runs ``running`` (revision 3, or nothing), then ``deployed`` (revision 4)."""
    state = deployment_json(running, 3, namespace=NS) if running else ""
    return {
        "get deployment/triton": [
            Completed((), 0, state),
            Completed((), 0, deployment_json(deployed, 4, namespace=NS)),
        ],
        "apply": [(0, "deployment.apps/triton configured\n")],
        "rollout status": [(0, 'deployment "triton" successfully rolled out\n')],
    }


def _gated(promotion: Promotion, server: TritonServer, gates: Path, *extra: str) -> list[str]:
    """promote's arguments with production's gate against ``server`` (HTTP and metrics)."""
    url = ["--url", server.http_url, "--metrics-url", server.metrics_address]
    return promotion.args("--release", promotion.new, *url, "--gates", str(gates), *extra)


def _rolled_back_script(promotion: Promotion) -> dict[str, list[Outcome]]:
    """Production runs ``old`` (revision 3), then ``new`` (revision 4) until rolled back (5)."""
    script = _script(promotion.old, promotion.new)
    new = Completed((), 0, deployment_json(promotion.new, 4, namespace=NS))
    script["get deployment/triton"] = [
        Completed((), 0, deployment_json(promotion.old, 3, namespace=NS)),
        new,  # after apply
        new,  # before the smoke
        new,  # the rollback's state to return to
        Completed((), 0, deployment_json(promotion.old, 5, namespace=NS)),
    ]
    return script


def _invoke(runner: RecordingRunner, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": runner}, env={"GITHUB_ACTOR": "octo"})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_a_release_with_a_passing_record_is_deployed_to_production(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_pass")
    record = write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_script(promotion.old, promotion.new))

    gates = tmp_path / "gates.yaml"
    gates.write_text("defaults:\n  concurrency: [1]\n  window_s: 0.5\n  warmup_s: 0.2\n")

    result = _invoke(runner, _gated(promotion, triton_server, gates, "--format", "json"))

    assert result.exit_code == 0, result.output
    assert runner.lines[: len(DEPLOYED)] == DEPLOYED
    assert set(runner.lines[len(DEPLOYED) :]) <= {RENDER}  # the gate renders to learn the namespace
    rendered = runner.applied_texts[0]
    assert f"namespace: {NS}" in rendered
    assert f"triton-orchestrator/release: {promotion.new}" in rendered
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (promotion.new, promotion.old)
    body = json.loads(result.stdout)
    deploy = body.pop("deploy")
    gate = body.pop("gate")
    assert body == {
        "from": "staging",
        "to": "production",
        "release": promotion.new,
        "outcome": "promoted",
        "record": record.key,
        "forced": False,
        "target_checked": True,
    }
    # production's own gate ran on the deployed release and left its record
    assert (gate["passed"], gate["environment"], gate["release"]) == (
        True,
        "production",
        promotion.new,
    )
    stored = latest_passing(promotion.store, promotion.new, "production")
    assert stored is not None and stored.key == gate["key"]
    assert (deploy["environment"], deploy["namespace"]) == ("production", NS)
    assert (deploy["previous_release"], deploy["checked"]) == (promotion.old, ["promote_pass/1"])
    assert deploy["dry_run"] is False and "rendered" not in deploy

    # The same command again: production runs the whole unit already (the render says
    # the manifests are the same: issue 18), nothing is applied.
    again = RecordingRunner()
    result = _invoke(again, promotion.args("--release", promotion.new))
    assert result.exit_code == 0, result.output
    assert again.lines == [RENDER]
    assert "outcome      already-running" in result.stdout


def test_a_forced_promotion_is_recorded_and_deployed(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_forced")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": False})
    runner = RecordingRunner(_script(promotion.old, promotion.new))

    result = _invoke(
        runner,
        promotion.args(
            "--force", "--reason", "hotfix 42", "--url", triton_server.http_url, "--no-gate"
        ),
    )

    assert result.exit_code == 0, result.output
    assert runner.lines == DEPLOYED
    failed, forced = gate_records(promotion.store, promotion.new, "staging")
    assert not failed.passed
    assert {k: forced.body[k] for k in ("passed", "forced", "reason", "by", "promoted_to")} == {
        "passed": True,
        "forced": True,
        "reason": "hotfix 42",
        "by": "octo",
        "promoted_to": "production",
    }
    assert f"allowed by   forced record {promotion.url}/{forced.key}\n" in result.stdout
    assert "checked      promote_forced/1\n" in result.stdout
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None and pointer.release_id == promotion.new


def test_a_failed_check_of_production_rolls_it_back_to_what_ran_before(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_back")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_rolled_back_script(promotion))
    checked: list[DeployReport] = []

    def failing_gate(report: DeployReport) -> None:
        checked.append(report)
        raise GateError("p99 latency 41 ms is over the budget of 25 ms.")

    with pytest.raises(GateError) as caught:
        promote(
            promotion.store,
            "staging",
            "production",
            runner=runner,
            options=DeployOptions(MANIFESTS, triton_server.http_url, 30.0),
            release=promotion.new,
            verify_target=failing_gate,
        )

    message = str(caught.value)
    assert f"Release {promotion.new} failed its check in production and was rolled back" in message
    assert f"production runs release {promotion.old} again" in message
    assert "p99 latency 41 ms is over the budget of 25 ms." in message
    assert [(r.environment, r.release_id) for r in checked] == [("production", promotion.new)]
    assert runner.lines == DEPLOYED * 2
    assert f"triton-orchestrator/release: {promotion.old}" in runner.applied_texts[1]
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (promotion.old, promotion.new)


def test_a_failed_check_of_a_first_production_deploy_has_nothing_to_roll_back_to(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_first", production=False)
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_script(None, promotion.new))

    def failing_check(report: DeployReport) -> None:
        raise SmokeTestError("promote_first/1 answered 3.0 where 2.0 was expected.")

    options = DeployOptions(MANIFESTS, triton_server.http_url, 30.0)
    with pytest.raises(DeployError) as caught:
        promote(
            promotion.store,
            "staging",
            "production",
            runner=runner,
            options=options,
            verify_target=failing_check,
        )

    assert not isinstance(caught.value, GateError)  # the check was no gate
    assert "Nothing could be rolled back: production ran no release before" in str(caught.value)
    assert "answered 3.0 where 2.0 was expected" in str(caught.value)
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, STATUS, GET, *UNLOCK]
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (promotion.new, None)


def test_a_passing_check_of_production_is_reported(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_checked")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_script(promotion.old, promotion.new))
    checked: list[str] = []

    report = promote(
        promotion.store,
        "staging",
        "production",
        runner=runner,
        options=DeployOptions(MANIFESTS, triton_server.http_url, 30.0),
        verify_target=lambda deployed: checked.append(deployed.release_id),
    )

    assert checked == [promotion.new]
    assert (report.outcome, report.target_checked) == ("promoted", True)
    assert runner.lines == DEPLOYED


def test_a_real_failing_gate_of_production_rolls_it_back_through_the_cli(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_gate_fails")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_rolled_back_script(promotion))
    gates = tmp_path / "strict.yaml"  # no server meets a p99 under a microsecond
    gates.write_text("defaults:\n  concurrency: [1]\n  window_s: 0.5\n  p99_ms: 0.001\n")

    result = _invoke(runner, _gated(promotion, triton_server, gates))

    assert result.exit_code == 1
    assert "p99 latency" in result.stdout and "FAIL" in result.stdout  # the gate's table
    assert "rolled back" in result.stderr
    assert f"production runs release {promotion.old} again" in result.stderr
    applied = [c.input_text or "" for c in runner.calls if c.line == APPLY]
    assert [
        f"triton-orchestrator/release: {r}" in text
        for r, text in zip((promotion.new, promotion.old), applied, strict=True)
    ] == [True, True]
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (promotion.old, promotion.new)
    failed = gate_records(promotion.store, promotion.new, "production")
    assert [r.passed for r in failed] == [False]


def _gate_options(server: TritonServer, gates: Path) -> GateOptions:
    """production's gate against ``server``'s HTTP and metrics ports."""
    return GateOptions(
        gates, MANIFESTS, server.http_url, server.metrics_address, smoke_timeout_s=20.0
    )


def test_the_library_gates_the_target_itself_and_promotes_when_it_passes(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_lib_pass")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_script(promotion.old, promotion.new))

    report = promote(
        promotion.store,
        "staging",
        "production",
        runner=runner,
        options=DeployOptions(MANIFESTS, triton_server.http_url, 30.0),
        release=promotion.new,
        gate=_gate_options(triton_server, promotion.gates),
    )

    assert (report.outcome, report.target_checked) == ("promoted", True)
    assert report.gate is not None and report.gate.passed
    assert (report.gate.environment, report.gate.release_id) == ("production", promotion.new)
    stored = latest_passing(promotion.store, promotion.new, "production")
    assert stored is not None and stored.key == report.gate.key
    assert report.as_dict()["gate"] == report.gate.as_dict()
    assert runner.lines == DEPLOYED  # --url: the gate needs no kubectl
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None and pointer.release_id == promotion.new


def test_a_failing_gate_in_the_library_blocks_the_promotion_and_rolls_back(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    promotion = _promotion(tmp_path, triton_server, triton_repo, "promote_lib_fail")
    write_gate_record(promotion.store, promotion.new, "staging", {"passed": True})
    runner = RecordingRunner(_rolled_back_script(promotion))
    gates = tmp_path / "strict.yaml"  # no server meets a p99 under a microsecond
    gates.write_text("defaults:\n  concurrency: [1]\n  window_s: 0.3\n  p99_ms: 0.001\n")

    with pytest.raises(GateError) as caught:
        promote(
            promotion.store,
            "staging",
            "production",
            runner=runner,
            options=DeployOptions(MANIFESTS, triton_server.http_url, 30.0),
            gate=_gate_options(triton_server, gates),
        )

    gated = caught.value.outcome
    assert isinstance(gated, GateResult) and not gated.passed
    assert "p99 latency" in {check.name for check in gated.checks if not check.passed}
    message = str(caught.value)
    assert f"The gate of release {promotion.new} in production failed" in message
    assert f"production runs release {promotion.old} again" in message
    assert runner.lines == DEPLOYED * 2  # deployed, then rolled back
    pointer = read_environment(promotion.store, "production")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (promotion.old, promotion.new)
    assert [r.passed for r in gate_records(promotion.store, promotion.new, "production")] == [False]
