"""status against the recording runner: rollout states, and drift where no pod can be read.

The comparison of what a Ready pod's Triton has loaded runs against a real Triton in
tests/integration/test_deploy.py.
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import Completed
from orchestrator.deploy.status import environment_status
from tests.deploy.conftest import MANIFESTS, Releases
from tests.deploy.recording import RecordingRunner, deployment_json, pods_json


def test_an_environment_without_deployment_shows_absent_and_drift(releases: Releases) -> None:
    runner = RecordingRunner({"get deployment/triton": [(0, "")]})
    status = environment_status(releases.store, "staging", runner=runner, manifests=MANIFESTS)
    assert (status.rollout.state, status.template_release, status.pods) == ("absent", None, ())
    assert status.drift == (
        f"the pod template runs release none, the pointer names {releases.old}",
    )
    assert len(runner.calls) == 2  # render, get deployment: no pods to list


def test_a_pod_that_cannot_be_reached_is_drift_and_a_stuck_rollout_is_failed(
    releases: Releases,
) -> None:
    stuck = deployment_json(
        releases.new,
        4,
        updatedReplicas=1,
        readyReplicas=1,
        conditions=[
            {
                "type": "Progressing",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "triton-new" has timed out progressing.',
            }
        ],
    )
    pods = pods_json(
        ("triton-old", releases.old, True, None, 0),
        ("triton-new", releases.new, False, "CrashLoopBackOff", 7),
    )
    runner = RecordingRunner(
        {"get deployment/triton": [Completed((), 0, stuck)], "get pods": [(0, pods)]},
        forward_error="error: lost connection to pod",
    )
    result = CliRunner().invoke(
        cli,
        [
            "status",
            releases.url,
            "--env",
            "staging",
            "--manifests",
            str(MANIFESTS),
            "--format",
            "json",
        ],
        obj={"kubectl": runner},
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["rollout"] == {
        "state": "failed",
        "replicas": 2,
        "updated": 1,
        "ready": 1,
        "available": 2,
        "message": 'ReplicaSet "triton-new" has timed out progressing.',
    }
    assert [(p["name"], p["ready"], p["waiting"], p["restarts"]) for p in body["pods"]] == [
        ("triton-new", False, ["CrashLoopBackOff"], 7),
        ("triton-old", True, [], 0),
    ]
    (entry,) = body["models"]
    assert (entry["pod"], entry["drift"]) == ("triton-old", True)
    assert "error: lost connection to pod" in entry["error"]
    assert len(body["drift"]) == 3
    assert body["drift"][:2] == [
        f"the pod template runs release {releases.new}, the pointer names {releases.old}",
        f"pod triton-old runs release {releases.old}, the template {releases.new}",
    ]
    assert body["drift"][2].startswith("triton-old: could not compare (kubectl port-forward")
