"""status against the recording runner: rollout states, and drift where no pod can be read.

The comparison of what a Ready pod's Triton has loaded runs against a real Triton in
tests/integration/test_deploy.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import Completed, SubprocessKubectl
from orchestrator.deploy.status import environment_status
from rehearsal.recording import RecordingRunner, deployment_json, pods_json
from tests.deploy.conftest import MANIFESTS, Releases


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


def _unreachable_kubeconfig(path: Path) -> Path:
    # A context whose API server is a closed loopback port: the real kubectl fails the
    # way it does without a cluster (several memcache.go lines, then "refused").
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "contexts: [{name: gone, context: {cluster: gone, user: nobody}}]\n"
        "users: [{name: nobody, user: {}}]\n"
    )
    return path


def test_status_without_a_cluster_shows_the_pointer_then_one_line(
    releases: Releases,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(_unreachable_kubeconfig(tmp_path / "kubeconfig")))
    caplog.set_level(logging.INFO, logger="orchestrator.deploy.status")  # what -v shows
    result = CliRunner().invoke(
        cli,
        ["status", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)],
        obj={"kubectl": SubprocessKubectl()},
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stdout == (
        "environment  staging (namespace triton-staging)\n"
        f"pointer      {releases.old}\n"
        "previous     none\n"
    )
    assert result.stderr == (
        "Error: No cluster reachable: kubectl could not read deployment/triton in namespace "
        "triton-staging. Check the kube context (kubectl config current-context), or add -v "
        "(orchestrator -v status ...) to see kubectl's own output.\n"
    )
    # kubectl's own lines are in the log (INFO: shown under -v), not on the terminal
    assert "connection refused" in caplog.text and "connection refused" not in result.output


def test_status_json_without_a_cluster_still_has_the_pointer(
    releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(_unreachable_kubeconfig(tmp_path / "kubeconfig")))
    result = CliRunner().invoke(
        cli,
        ["status", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)]
        + ["--format", "json"],
        obj={"kubectl": SubprocessKubectl()},
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    body = json.loads(result.stdout)
    assert body["pointer_release"] == releases.old
    assert body["rollout"]["state"] == "unknown" and body["pods"] == []
    assert body["cluster_error"].startswith("No cluster reachable: ")
    assert result.stderr == f"Error: {body['cluster_error']}\n"
