"""deploy and status with the real golden smoke: a real Triton serves the release.

kubectl is the recording runner (rehearsal/recording.py, the one fake of
Kubernetes); the Triton behind ``--url``, or behind its scripted port-forward, is real,
so the post-rollout golden probe really runs: it passes for a good release (and the
pointer moves), and fails for a release whose golden answers are wrong (and the
rollout is undone, the pointer stays).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.deploy.kubectl import Completed
from orchestrator.releases.environments import read_environment, set_environment
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import Store, open_store
from orchestrator.releases.sync import sync_release
from orchestrator.serving.triton import TritonServer, load_models
from rehearsal.recording import (
    UNLOCK_LINES,
    RecordingRunner,
    deployment_json,
    lock_lines,
    pods_json,
)
from tests.deploy.conftest import MANIFESTS, Releases, deploy_args, make_release, rolled
from tests.support.golden_versions import GOLDEN_X, write_affine_version

pytestmark = pytest.mark.integration

NS = "triton-staging"
RENDER = "kubectl kustomize TMP"
GET = f"kubectl get deployment/triton --namespace {NS} --ignore-not-found --output=json"
APPLY = "kubectl apply -f -"
STATUS = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=30s"
UNDO = f"kubectl rollout undo deployment/triton --namespace {NS} --to-revision=3"
WAIT = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=60s"
LOCK, UNLOCK = lock_lines(NS), UNLOCK_LINES
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"


def _invoke(runner: RecordingRunner, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": runner})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _releases(tmp_path: Path, model: str, *, wrong: bool = False) -> Releases:
    """``old`` (any release) and ``new`` serving ``model``; staging points at ``old``."""
    url = (tmp_path / "store").as_uri()
    store = open_store(url)
    old = make_release(tmp_path / "old", store, f"{model}_old")
    repo = tmp_path / "new"
    if wrong:
        # Loads and answers, but y = 2x + 1.5 where its golden data says 2x + 1.
        write_affine_version(repo, model, 1, offset=1.5, golden=False)
        expected = {"y": GOLDEN_X * 2 + 1, "s": GOLDEN_X.sum(axis=1, keepdims=True)}
        write_golden(golden_path(repo / model / "1"), {"x": GOLDEN_X}, expected)
    else:
        write_affine_version(repo, model, 1)
    release = build_release(repo)
    sync_release(release, store)
    set_environment(store, "staging", old)
    return Releases(url, store, old, release.id)


def _serve_from_store(
    server: TritonServer, triton_repo: Path, releases: Releases, model: str, release: str = ""
) -> None:
    source = Path(releases.store.url.removeprefix("file://")) / release_prefix(
        release or releases.new
    )
    shutil.copytree(source / model, triton_repo / model)
    states = load_models(server.http_url, triton_repo, [model], cpu_override=True)
    assert {s.state for s in states} == {"READY"}, states


def test_a_release_that_passes_the_golden_smoke_moves_the_pointer_and_rolls_back(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "deploy_good")
    _serve_from_store(triton_server, triton_repo, releases, "deploy_good")
    _serve_from_store(triton_server, triton_repo, releases, "deploy_good_old", releases.old)
    runner = RecordingRunner(rolled(releases))

    result = _invoke(runner, deploy_args(releases, releases.new, "--url", triton_server.http_url))

    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, *UNLOCK]
    assert "checked      deploy_good/1\n" in result.stdout
    pointer = read_environment(releases.store, "staging")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (releases.new, releases.old)

    # rollback: back to the pointer's previous release, with the same steps and smoke.
    back = RecordingRunner(
        {
            **rolled(releases),
            "get deployment/triton": [
                (0, deployment_json(releases.new, 4)),
                (0, deployment_json(releases.old, 5)),
            ],
        }
    )
    args = ["rollback", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)]
    result = _invoke(back, [*args, "--timeout-s", "30", "--url", triton_server.http_url])
    assert result.exit_code == 0, result.output
    assert back.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, *UNLOCK]
    assert f"triton-orchestrator/release: {releases.old}" in back.applied_texts[0]
    assert "checked      deploy_good_old/1\n" in result.stdout
    pointer = read_environment(releases.store, "staging")
    assert pointer is not None
    assert (pointer.release_id, pointer.previous_release_id) == (releases.old, releases.new)


def test_a_release_with_wrong_golden_answers_is_undone_and_the_pointer_stays(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "deploy_wrong", wrong=True)
    _serve_from_store(triton_server, triton_repo, releases, "deploy_wrong")
    runner = RecordingRunner(rolled(releases))

    result = _invoke(runner, deploy_args(releases, releases.new, "--url", triton_server.http_url))

    assert result.exit_code == 1, result.output
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, GET, UNDO, WAIT, *UNLOCK]
    assert "failed at step 'smoke'" in result.stderr
    assert "deploy_wrong/1: output 'y'" in result.stderr
    assert f"runs release {releases.old} again" in result.stderr
    pointer = read_environment(releases.store, "staging")
    assert pointer is not None and pointer.release_id == releases.old


def test_a_pointer_moved_by_someone_else_meanwhile_is_not_overwritten(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "deploy_race")
    _serve_from_store(triton_server, triton_repo, releases, "deploy_race")
    other = make_release(tmp_path / "other", releases.store, "deploy_race_other")

    def someone_else_deploys() -> tuple[int, str]:
        set_environment(releases.store, "staging", other, expected_release_id=releases.old)
        return 0, 'deployment "triton" successfully rolled out\n'

    runner = RecordingRunner({**rolled(releases), "rollout status": [someone_else_deploys]})
    result = _invoke(runner, deploy_args(releases, releases.new, "--url", triton_server.http_url))

    assert result.exit_code == 1, result.output
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, *UNLOCK]
    assert f"Release {releases.new} is rolled out to staging, but its pointer" in result.stderr
    assert f"points at {other}, not {releases.old}" in result.stderr
    pointer = read_environment(releases.store, "staging")
    assert pointer is not None and pointer.release_id == other


def test_deploy_and_status_reach_triton_through_port_forward(
    serve_stored_release: Callable[[Store, str, str], TritonServer], tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "deploy_forward")
    server = serve_stored_release(releases.store, releases.new, "deploy_forward")
    new_pods = pods_json(
        ("triton-a", releases.new, True, None, 0), ("triton-b", releases.new, True, None, 0)
    )
    runner = RecordingRunner(
        {**rolled(releases), "get pods": [(0, new_pods)]}, forward_to=server.http_url
    )

    result = _invoke(runner, deploy_args(releases, releases.new))

    assert result.exit_code == 0, result.output
    # Every new pod, each by name: never svc/, which may pick a terminating old pod.
    assert runner.lines == [
        RENDER,
        *LOCK,
        GET,
        APPLY,
        GET,
        WAIT,
        GET,
        PODS,
        f"kubectl port-forward --namespace {NS} pod/triton-a PORT:8000",
        f"kubectl port-forward --namespace {NS} pod/triton-b PORT:8000",
        *UNLOCK,
    ]
    pointer = read_environment(releases.store, "staging")
    assert pointer is not None and pointer.release_id == releases.new

    pods = pods_json(
        ("triton-a", releases.new, True, None, 0),
        ("triton-b", releases.new, True, None, 0),
        ("triton-c", releases.new, False, "CrashLoopBackOff", 3),
    )
    status = RecordingRunner(
        {
            "get deployment/triton": [Completed((), 0, deployment_json(releases.new, 4))],
            "get pods": [(0, pods)],
        },
        forward_to=server.http_url,
    )
    args = ["status", releases.url, "--env", "staging", "--manifests", str(MANIFESTS)]
    shown = _invoke(status, [*args, "--format", "json"])

    assert shown.exit_code == 0, shown.output
    assert status.lines == [
        RENDER,
        GET,
        PODS,
        f"kubectl port-forward --namespace {NS} pod/triton-a PORT:8000",
        f"kubectl port-forward --namespace {NS} pod/triton-b PORT:8000",
    ]
    body = json.loads(shown.stdout)
    assert (body["pointer_release"], body["template_release"]) == (releases.new, releases.new)
    assert body["rollout"]["state"] == "complete"
    assert [(m["pod"], m["loaded"], m["drift"]) for m in body["models"]] == [
        ("triton-a", ["deploy_forward/1"], False),
        ("triton-b", ["deploy_forward/1"], False),
    ]
    assert body["drift"] == []

    # --url: the one endpoint given (the Service) instead of a port-forward per pod.
    direct = RecordingRunner(
        {
            "get deployment/triton": [Completed((), 0, deployment_json(releases.new, 4))],
            "get pods": [(0, pods)],
        }
    )
    shown = _invoke(direct, [*args, "--url", server.http_url, "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert direct.lines == [RENDER, GET, PODS]
    body = json.loads(shown.stdout)
    assert [(m["pod"], m["loaded"], m["drift"]) for m in body["models"]] == [
        (server.http_url, ["deploy_forward/1"], False)
    ]

    # Someone rolled the Deployment back by hand: the template no longer matches.
    status = RecordingRunner(
        {
            "get deployment/triton": [Completed((), 0, deployment_json(releases.old, 5))],
            "get pods": [(0, pods_json(("triton-d", releases.old, True, None, 0)))],
        },
        forward_to=server.http_url,
    )
    shown = _invoke(status, args)
    assert shown.exit_code == 0, shown.output
    assert (
        f"DRIFT        the pod template runs release {releases.old}, the pointer names "
        f"{releases.new}\n"
    ) in shown.stdout
    assert "DRIFT        triton-d: not loaded: deploy_forward_old/1\n" in shown.stdout
    assert "DRIFT        triton-d: loaded beyond its release: deploy_forward/1\n" in shown.stdout
