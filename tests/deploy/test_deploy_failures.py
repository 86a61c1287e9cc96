"""deploy and rollback against the recording runner: refusals, failed steps and their undo.

What needs a Triton (a passing or failing golden smoke) is in
tests/integration/test_deploy.py; here every failure comes before the smoke, so the
exact kubectl sequence, the undo and the pointer are checked without a server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import Completed
from orchestrator.errors import DeployError
from orchestrator.releases.environments import read_environment
from orchestrator.releases.manifest import release_prefix
from rehearsal.recording import RecordingRunner, deployment_json, pods_json
from tests.deploy.conftest import MANIFESTS, Releases
from tests.deploy.conftest import deploy_args as shared_deploy_args

NS = "triton-staging"
RENDER = "kubectl kustomize TMP"
GET = f"kubectl get deployment/triton --namespace {NS} --ignore-not-found --output=json"
APPLY = "kubectl apply -f -"
STATUS = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=30s"
# deployment_json's Deployment has 2 replicas: the client's deadline is 2 x --timeout-s.
WAIT = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=60s"
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"
UNDO = f"kubectl rollout undo deployment/triton --namespace {NS} --to-revision=3"
LOCK = [
    f"kubectl get lease/triton-deploy --namespace {NS} --ignore-not-found -o json",
    "kubectl create -f - -o json",
]
UNLOCK = ["kubectl replace -f - -o json"]


def invoke(runner: RecordingRunner, args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, obj={"kubectl": runner})


def deploy_args(releases: Releases, release: str, *extra: str) -> list[str]:
    # The smoke's URL answers nothing: these deploys fail before (or at) the smoke.
    return shared_deploy_args(releases, release, "--url", "127.0.0.1:1", *extra)


def assert_failed(result: Result, *parts: str) -> None:
    """Exit 1 with one ``Error:`` message on stderr (an OrchestratorError), no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("Error: ") == 1
    for part in parts:
        assert part in result.stderr


def pointer(releases: Releases) -> str | None:
    found = read_environment(releases.store, "staging")
    return found.release_id if found else None


def test_a_refused_apply_is_not_undone_when_the_pod_template_did_not_change(
    releases: Releases,
) -> None:
    before = deployment_json(releases.old, 3)
    runner = RecordingRunner(
        {
            "get deployment/triton": [Completed((), 0, before), Completed((), 0, before)],
            "apply": [(1, 'admission webhook "policy" denied the request: no GPU limit')],
        }
    )
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(
        result,
        "failed at step 'apply'",
        "denied the request: no GPU limit",
        f"still runs release {releases.old}",
    )
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, *UNLOCK]
    rendered = runner.applied_texts[0]
    assert f"triton-orchestrator/release: {releases.new}" in rendered
    assert pointer(releases) == releases.old


@pytest.mark.parametrize(
    ("pods", "says"),
    [
        (pods_json(("triton-new-1", "NEW", False, "ContainerCreating", 0)), "ContainerCreating"),
        (
            pods_json(
                ("triton-old-1", "OLD", True, None, 0),
                ("triton-new-1", "NEW", False, "CrashLoopBackOff", 4),
            ),
            "pod triton-new-1: CrashLoopBackOff (4 restarts)",
        ),
    ],
    ids=["rollout-timeout", "crash-loop"],
)
def test_a_failed_rollout_is_undone_to_the_previous_revision_and_the_pointer_stays(
    releases: Releases, pods: str, says: str
) -> None:
    runner = RecordingRunner(
        {
            "get deployment/triton": [
                Completed((), 0, deployment_json(releases.old, 3)),
                Completed((), 0, deployment_json(releases.new, 4)),
            ],
            "apply": [(0, "deployment.apps/triton configured\n")],
            "rollout status": [
                (1, 'error: deployment "triton" exceeded its progress deadline'),
                (0, 'deployment "triton" successfully rolled out\n'),
            ],
            "get pods": [(0, pods)],
            "rollout undo": [(0, "deployment.apps/triton rolled back\n")],
        }
    )
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(
        result,
        "failed at step 'rollout'",
        "exceeded its progress deadline",
        says,
        f"Rolled back: deployment/triton runs release {releases.old} again",
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
    assert pointer(releases) == releases.old
    assert "Step rollout failed; undoing" in result.stderr


def test_an_undo_that_fails_too_is_reported_with_the_first_failure(releases: Releases) -> None:
    runner = RecordingRunner(
        {
            "get deployment/triton": [
                Completed((), 0, deployment_json(releases.old, 3)),
                Completed((), 0, deployment_json(releases.new, 4)),
            ],
            "apply": [(0, "configured")],
            "rollout status": [(1, "error: timed out waiting for the condition")],
            "get pods": [(0, pods_json())],
            "rollout undo": [(1, "error: the server could not find revision 3")],
        }
    )
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(
        result,
        "failed at step 'rollout'",
        "The undo failed too",
        "could not find revision 3",
    )
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, PODS, GET, UNDO, *UNLOCK]
    assert pointer(releases) == releases.old


def test_a_first_deploy_that_fails_has_nothing_to_undo_to(releases: Releases) -> None:
    runner = RecordingRunner(
        {
            "get deployment/triton": [(0, "")],
            "apply": [(0, "created")],
            "rollout status": [(1, "error: timed out waiting for the condition")],
            "get pods": [(0, pods_json())],
        }
    )
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(result, "Nothing to undo to", "kubectl delete deployment/triton")
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, STATUS, GET, PODS, *UNLOCK]
    assert pointer(releases) == releases.old


def test_a_release_that_does_not_verify_is_refused_before_any_kubectl(
    releases: Releases, tmp_path
) -> None:
    stored = tmp_path / "store" / release_prefix(releases.new) / "deploy_ok" / "1" / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"tampered")
    runner = RecordingRunner()
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(result, f"Release {releases.new}", "does not verify", "model.onnx")
    assert runner.calls == []


def test_a_folder_without_release_json_is_refused(releases: Releases, tmp_path) -> None:
    (tmp_path / "store" / release_prefix(releases.new) / "release.json").unlink()
    runner = RecordingRunner()
    result = invoke(runner, deploy_args(releases, releases.new))
    assert_failed(result, "has no release.json", "not a complete release")
    assert runner.calls == []


def test_a_store_url_triton_would_misread_is_refused_before_any_kubectl(
    s3_server, s3_bucket: str, tmp_path
) -> None:
    from orchestrator.releases.stores import open_store
    from tests.deploy.conftest import make_release

    # sync refuses such a store too, so the release is made at a good prefix and its
    # objects copied under the bad one: deploy must refuse the URL, not a missing release.
    good = open_store(f"s3://{s3_bucket}/team-models", endpoint_url=s3_server.endpoint_url)
    release = make_release(tmp_path / "repo", good, "deploy_ok")
    url = f"s3://{s3_bucket}/team+models"
    bad = open_store(url, endpoint_url=s3_server.endpoint_url)
    for item in good.list_objects(""):
        versioned = good.read(item.key)
        assert versioned is not None
        bad.create(item.key, versioned.data)
    runner = RecordingRunner()
    result = invoke(
        runner,
        [
            "deploy",
            url,
            "--env",
            "staging",
            "--release",
            release,
            "--endpoint-url",
            s3_server.endpoint_url,
            "--manifests",
            str(MANIFESTS),
        ],
    )
    assert_failed(result, "'team+models'", "[0-9a-zA-Z._-]")
    assert runner.calls == []


def test_dry_run_prints_the_manifests_and_commands_and_changes_nothing(releases: Releases) -> None:
    runner = RecordingRunner()
    result = invoke(runner, deploy_args(releases, "latest", "--dry-run"))
    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER]
    # latest is the newest complete release: the one synced last.
    assert f"triton-orchestrator/release: {releases.new}" in result.stdout
    assert f"value: {releases.new}" not in result.stdout
    assert f"/releases/{releases.new}" in result.stdout
    assert f"# would run: {APPLY} (the manifests below)" in result.stdout
    assert f"# would run: {STATUS}" in result.stdout
    assert "--to-revision=CURRENT" in result.stdout
    assert pointer(releases) == releases.old


def test_dry_run_of_the_shipped_overlay_warns_about_its_placeholder_image(
    releases: Releases,
) -> None:
    shipped = Path(__file__).parents[2] / "deployment" / "k8s"
    args = deploy_args(releases, "latest", "--dry-run")
    args[args.index(str(MANIFESTS))] = str(shipped)
    result = invoke(RecordingRunner(), args)
    assert result.exception is None, result.output
    assert (
        "Warning: the manifests use the placeholder image "
        "ghcr.io/your-org/triton-orchestrator-triton:24.10; the pods cannot pull it. Set your "
        f"registry (images: newName, and a digest) in {shipped}/overlays/staging/"
        "kustomization.yaml.\n"
    ) in result.stderr
    # the fixture overlay names a real-looking registry: no warning
    plain = invoke(RecordingRunner(), deploy_args(releases, "latest", "--dry-run"))
    assert plain.exception is None and "placeholder" not in plain.stderr


def test_rollback_without_a_previous_release_asks_for_to(releases: Releases) -> None:
    runner = RecordingRunner()
    result = invoke(
        runner,
        ["rollback", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)],
    )
    assert_failed(result, "records no previous release", "--to ID")
    assert runner.calls == []


def test_rollback_of_an_environment_without_pointer_is_refused(releases: Releases) -> None:
    runner = RecordingRunner()
    result = invoke(
        runner,
        ["rollback", releases.url, "--env", "production", "--manifests", str(MANIFESTS)],
    )
    assert_failed(result, "'production' has no pointer")
    assert runner.calls == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["deploy", "file:///s", "--release", "latest"], "Missing option '--env'"),
        (["deploy", "file:///s", "--env", "staging"], "Missing option '--release'"),
        (
            ["deploy", "file:///s", "--env", "staging", "--release", "x", "--url", "a:b"],
            "--url",
        ),
        (["status", "--env", "staging"], "Missing argument 'STORE'"),
        (
            ["rollback", "file:///s", "--env", "staging", "--manifests", "/no/such/dir"],
            "'/no/such/dir' does not exist",
        ),
    ],
    ids=["no-env", "no-release", "bad-url", "no-store", "no-manifests"],
)
def test_usage_errors_exit_2_without_kubectl(args: list[str], says: str) -> None:
    runner = RecordingRunner()
    result = invoke(runner, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert says in result.stderr
    assert runner.calls == []


def test_golden_data_changed_after_the_check_is_refused(releases: Releases, tmp_path) -> None:
    from orchestrator.deploy.release_files import checked_release, fetch_probe_files

    release = checked_release(releases.store, releases.new)
    golden = tmp_path / "store" / release_prefix(releases.new) / "deploy_ok" / "1" / "golden.npz"
    golden.write_bytes(b"not the golden data")
    with pytest.raises(DeployError, match="golden.npz is changed since release.json"):
        fetch_probe_files(releases.store, release, tmp_path / "probe")


def test_deploy_json_of_a_dry_run_carries_the_plan(releases: Releases) -> None:
    runner = RecordingRunner()
    result = invoke(runner, deploy_args(releases, releases.new, "--dry-run", "--format", "json"))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {k: body[k] for k in ("environment", "release", "namespace", "previous_release")} == {
        "environment": "staging",
        "release": releases.new,
        "namespace": NS,
        "previous_release": releases.old,
    }
    assert body["dry_run"] is True
    assert body["model_repository"].endswith(f"/releases/{releases.new}")
    assert f"triton-orchestrator/release: {releases.new}" in body["rendered"]
    assert "is a local store: the pods must see" in result.stderr
