"""orchestrator gate without a Triton: refusals before measuring, and an unreachable server.

The measured gates (passing, and failing on each budget) are in
tests/integration/test_gate.py against a real Triton.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.releases.environments import set_environment
from orchestrator.releases.gate_records import gate_records
from rehearsal.recording import RecordingRunner, pods_json
from tests.conftest import Dest
from tests.deploy.conftest import Releases, make_release
from tests.deploy.gates import GATES, REPOSITORY, gate_args, write_gates

NS = "triton-staging"
RENDER = "kubectl kustomize TMP"
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"
FORWARD = f"kubectl port-forward --namespace {NS} pod/triton-new PORT:8000 PORT:8002"


def cluster_running(release: str) -> RecordingRunner:
    """One Ready pod of ``release`` and no other: what the gate port-forwards to, by name."""
    return RecordingRunner({"get pods": [(0, pods_json(("triton-new", release, True, None, 0)))]})


def invoke(runner: RecordingRunner, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": runner})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_an_environment_without_a_pointer_has_nothing_to_gate(
    releases: Releases, tmp_path: Path
) -> None:
    runner = RecordingRunner()
    args = gate_args(releases.url, write_gates(tmp_path))
    args[args.index("staging")] = "production"

    result = invoke(runner, args)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Environment 'production' has no pointer in {releases.url}: nothing was "
        "deployed there, so there is nothing to gate. Deploy first: orchestrator deploy "
        f"{releases.url} --env production --release ID.\n"
    )
    assert runner.calls == []


def test_a_release_other_than_the_pointer_names_is_refused(
    releases: Releases, tmp_path: Path
) -> None:
    runner = RecordingRunner()

    result = invoke(
        runner, gate_args(releases.url, write_gates(tmp_path), "--release", releases.new)
    )

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: --release {releases.new} is not what staging runs: its pointer in "
        f"{releases.url} names {releases.old}. Deploy {releases.new} first, or gate the "
        "release the environment runs (leave out --release).\n"
    )
    assert gate_records(releases.store, releases.old, "staging") == []


def test_url_without_metrics_url_is_a_usage_error(releases: Releases, tmp_path: Path) -> None:
    result = invoke(
        RecordingRunner(), gate_args(releases.url, write_gates(tmp_path), "--url", "127.0.0.1:1")
    )

    assert result.exit_code == 2
    assert "--url and --metrics-url go together" in result.stderr


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("models:\n  deploy_nope:\n    p99_ms: 5\n", "models.deploy_nope names a model"),
        ("defaults:\n  p99_ms: -3\n", "defaults.p99_ms is -3; expected milliseconds above 0"),
        ("defaults:\n  budget: 3\n", "unknown key defaults.budget."),
        ("defaults:\n  window_s: soon\n", "defaults.window_s is 'soon'"),
    ],
    ids=["unknown-model", "negative-budget", "unknown-key", "bad-type"],
)
def test_a_bad_gates_file_fails_before_anything_is_measured_or_recorded(
    releases: Releases, tmp_path: Path, text: str, key: str
) -> None:
    gates = write_gates(tmp_path, text)
    runner = RecordingRunner()

    result = invoke(runner, gate_args(releases.url, gates))

    # A configuration error (exit 2), not a failed gate (exit 1: CI rolls back for that).
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {gates}: ")
    assert key in result.stderr
    assert result.stderr.endswith("(a configuration error: nothing was gated)\n")
    assert runner.calls == []
    assert gate_records(releases.store, releases.old, "staging") == []


def test_a_triton_that_cannot_be_reached_fails_the_gate_and_is_recorded(
    releases: Releases, tmp_path: Path
) -> None:
    # No forward_to: the port-forward exits at once, as kubectl does without a pod.
    runner = cluster_running(releases.old)

    result = invoke(runner, gate_args(releases.url, write_gates(tmp_path), "--format", "json"))

    assert result.exit_code == 1
    # ONE port-forward carries both ports: the load and the counters from the same pod.
    assert runner.lines == [RENDER, PODS, FORWARD]
    body = json.loads(result.stdout)
    assert body["passed"] is False
    assert [(c["name"], c["passed"]) for c in body["checks"]] == [("endpoint", False)]
    assert "pod not running" in body["checks"][0]["detail"]
    records = gate_records(releases.store, releases.old, "staging")
    assert [(r.key, r.passed) for r in records] == [(body["key"], False)]
    assert result.stderr.endswith(
        f"Error: the gate of release {releases.old} in staging failed (1 of 1 checks: "
        f"endpoint); the record is {body['key']}.\n"
        f"staging now runs release {releases.old}, which failed its gate; it is the first "
        "release there, so there is nothing to roll back to. Fix the release and deploy the "
        f"next one (orchestrator deploy {releases.url} --env staging --release ID, with an ID "
        f"from orchestrator releases list {releases.url}); until then staging serves "
        f"{releases.old}.\n"
    )


def test_check_config_passes_the_committed_gates_file_against_the_committed_models() -> None:
    runner = RecordingRunner()

    result = invoke(
        runner, ["gate", "--check-config", "--gates", str(GATES), "--repo", str(REPOSITORY)]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{GATES}: OK\ndefaults     concurrency 1, 4;")
    assert "models       cancer_mlp, digits_cnn: the load takes 42 s at most" in result.stdout
    assert runner.calls == []


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("defaults:\n  p99: 5\n", "unknown key defaults.p99."),
        ("models:\n  not_served:\n    p99_ms: 5\n", "models.not_served names a model"),
        (
            "defaults:\n  concurrency: [1, 2, 3, 4, 5]\n  window_s: 50\n  throughput_attempts: 2\n",
            "up to 3070 s (2 model(s)",
        ),
    ],
    ids=["wrong-key", "unknown-model", "absurd-time"],
)
def test_check_config_finds_a_bad_gates_file_as_a_configuration_error(
    tmp_path: Path, text: str, says: str
) -> None:
    gates = write_gates(tmp_path, text)

    result = invoke(
        RecordingRunner(),
        ["gate", "--check-config", "--gates", str(gates), "--repo", str(REPOSITORY)],
    )

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"Error: {gates}: ")
    assert says in result.stderr


def test_a_misspelled_gates_path_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(
        RecordingRunner(), ["gate", "--check-config", "--gates", str(tmp_path / "gaets.yaml")]
    )

    assert result.exit_code == 2
    assert "Invalid value for '--gates'" in result.stderr


def test_gate_without_store_or_check_config_is_a_usage_error() -> None:
    result = invoke(RecordingRunner(), ["gate", "--env", "staging"])

    assert result.exit_code == 2
    assert "Give STORE and --env ENV" in result.stderr


@pytest.mark.parametrize("dest", ["file", "s3"], indirect=True)
def test_the_hints_after_a_failed_gate_run_as_printed(dest: Dest, tmp_path: Path) -> None:
    store = dest.open()
    old = make_release(tmp_path / "old", store, "hint_old")
    new = make_release(tmp_path / "new", store, "hint_new")
    set_environment(store, "staging", old)
    set_environment(store, "staging", new, expected_release_id=old)
    endpoint = ("--endpoint-url", dest.endpoint_url) if dest.endpoint_url else ()

    # No forward_to: Triton cannot be reached, the gate fails.
    result = invoke(cluster_running(new), gate_args(dest.url, write_gates(tmp_path), *endpoint))

    assert result.exit_code == 1, result.output
    hint = result.stderr.splitlines()[-1]
    command = f"orchestrator rollback {shlex.join([dest.url, *endpoint])} --env staging"
    assert hint == (
        f"staging still runs release {new}. To return it to release {old}, which it "
        f"replaced: {command}"
    )
    # It runs as printed: the very line, pasted (the recording runner plays kubectl).
    cluster = RecordingRunner({"get deployment/triton": [(1, "connection refused")]})
    pasted = invoke(cluster, shlex.split(command)[1:])
    assert pasted.exit_code == 1, pasted.output
    assert "connection refused" in pasted.stderr  # it got as far as the cluster


def test_the_verdict_file_gets_a_failed_verdict_only_when_the_gate_judged(
    releases: Releases, tmp_path: Path
) -> None:
    # CI rolls staging back on verdict=failed; a usage error must write nothing.
    verdict = tmp_path / "github_output"
    verdict.write_text("release=abc\n")
    bad_gates = tmp_path / "bad.yaml"
    bad_gates.write_text("defaults: {no_such_key: 1}\n")

    usage = invoke(
        RecordingRunner(), gate_args(releases.url, bad_gates, "--verdict-file", str(verdict))
    )
    assert usage.exit_code == 2, usage.output
    assert verdict.read_text() == "release=abc\n"

    judged = invoke(
        cluster_running(releases.old),
        gate_args(releases.url, write_gates(tmp_path), "--verdict-file", str(verdict)),
    )
    assert judged.exit_code == 1, judged.output
    assert verdict.read_text() == "release=abc\nverdict=failed\n"


def test_the_gate_waits_out_old_pods_and_forwards_to_a_new_pod_by_name(
    releases: Releases, tmp_path: Path
) -> None:
    # An old-release pod still terminating (and Ready, through its preStop) would be what
    # `port-forward svc/triton` picks (GetFirstPod: Ready longest first); the gate waits
    # until it is gone and measures a pod of the gated release by name.
    both = pods_json(
        ("triton-old", releases.new, True, None, 0), ("triton-new", releases.old, True, None, 0)
    )
    only_new = pods_json(("triton-new", releases.old, True, None, 0))
    runner = RecordingRunner({"get pods": [(0, both), (0, only_new)]})

    result = invoke(runner, gate_args(releases.url, write_gates(tmp_path), "--format", "json"))

    assert result.exit_code == 1, result.output  # no forward_to: Triton is not reachable
    # The old pod was listed first, then gone: the forward names the new pod.
    assert runner.lines == [RENDER, PODS, PODS, FORWARD]


def test_an_absurd_smoke_timeout_is_a_usage_error(releases: Releases, tmp_path: Path) -> None:
    runner = RecordingRunner()
    args = gate_args(releases.url, write_gates(tmp_path))
    args[args.index("--smoke-timeout-s") + 1] = "1e300"

    result = invoke(runner, args)

    assert result.exit_code == 2, result.output
    assert "Invalid value for '--smoke-timeout-s'" in result.stderr
    assert runner.calls == []
