"""status has one deadline for the whole read, however slowly the cluster or a pod answers.

Before, each kubectl command and each Triton call had its own 60 s, so a cluster that
accepts connections and never answers (or pods that trickle their answers) kept
``status`` for minutes. Here the real kubectl talks to a loopback API server that never
answers, and the recording runner forwards each pod to a real server that trickles its
answer (tests/support/trickle_server.py); ``status --timeout-s N`` ends within N plus a little,
exit 1, and names what did not answer.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import SubprocessKubectl
from orchestrator.deploy.status import MAX_STATUS_TIMEOUT_S, environment_status
from orchestrator.errors import DeployError
from rehearsal.recording import RecordingRunner, deployment_json, pods_json
from tests.deploy.conftest import MANIFESTS, Releases
from tests.support.trickle_server import HEAD, trickle

pytestmark = pytest.mark.timeout(90)

silent_server = contextmanager(trickle)


def _status(releases: Releases, *extra: str) -> list[str]:
    return ["status", releases.url, "--env", "staging", "--manifests", str(MANIFESTS), *extra]


def test_a_cluster_that_never_answers_ends_status_at_its_deadline(
    releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent_server(b"", 1.0) as api_server:
        # The real kubectl, its context an API server that accepts and never answers.
        (tmp_path / "kubeconfig").write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: slow\n"
            f"clusters: [{{name: slow, cluster: {{server: 'http://{api_server}'}}}}]\n"
            "contexts: [{name: slow, context: {cluster: slow, user: nobody}}]\n"
            "users: [{name: nobody, user: {}}]\n"
        )
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        started = time.monotonic()
        result = CliRunner().invoke(
            cli, _status(releases, "--timeout-s", "3"), obj={"kubectl": SubprocessKubectl()}
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert elapsed < 3 + 3, elapsed
    assert f"pointer      {releases.old}\n" in result.stdout
    assert result.stderr == (
        "Error: No cluster reachable: kubectl did not answer within status's 3 s deadline "
        "(--timeout-s) when reading deployment/triton in namespace triton-staging. Check "
        "that the cluster answers (kubectl cluster-info), or raise --timeout-s.\n"
    )


@pytest.mark.parametrize("answer", [HEAD, b""], ids=["trickled-body", "silent"])
def test_pods_that_trickle_their_answers_end_status_at_its_deadline(
    releases: Releases, answer: bytes
) -> None:
    with silent_server(answer, 0.2) as pod_triton:
        runner = RecordingRunner(
            {
                "get deployment/triton": [(0, deployment_json(releases.old, 1))],
                "get pods": [
                    (
                        0,
                        pods_json(
                            ("triton-a", releases.old, True, None, 0),
                            ("triton-b", releases.old, True, None, 0),
                        ),
                    )
                ],
            },
            forward_to=pod_triton,
        )
        started = time.monotonic()
        result = CliRunner().invoke(
            cli, _status(releases, "--timeout-s", "2", "--format", "json"), obj={"kubectl": runner}
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert elapsed < 2 + 3, elapsed
    body = json.loads(result.stdout)
    errors = {entry["pod"]: entry["error"] for entry in body["models"]}
    assert "did not answer within status's 2 s deadline" in errors["triton-a"]
    assert errors["triton-b"] == (
        "pod triton-b (port-forward) did not answer within status's 2 s deadline"
    )
    assert result.stderr.startswith("Error: status ended at its 2 s deadline: ")
    assert "(pod triton-a)" in result.stderr and "pod triton-b (port-forward)" in result.stderr
    assert result.stderr.endswith("or raise --timeout-s.\n")


@pytest.mark.parametrize("value", ["0", "1e9", "nan", "abc"])
def test_a_status_deadline_out_of_range_is_a_usage_error(releases: Releases, value: str) -> None:
    result = CliRunner().invoke(cli, _status(releases, "--timeout-s", value))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "--timeout-s" in result.stderr


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), MAX_STATUS_TIMEOUT_S + 1])
def test_the_library_refuses_a_deadline_out_of_range_too(releases: Releases, value: float) -> None:
    with pytest.raises(DeployError, match="status deadline"):
        environment_status(
            releases.store,
            "staging",
            runner=RecordingRunner(),
            manifests=MANIFESTS,
            timeout_s=value,
        )
