"""deploy on the played cluster as Kubernetes runs it: replicas, surge, terminating pods, GPUs.

The cluster is ``rehearsal/played_cluster.py`` (kubectl answered by Kubernetes' rules on
played time); the pods that must answer are real local Tritons serving the release from
the store; the manifests are the shipped ``deployment/k8s`` (GPU requests, preStop 15 s,
minReadySeconds 30), copied so a test can set the replica count and the rollout strategy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.watch import new_pod_target
from orchestrator.errors import DeployError
from orchestrator.releases.environments import read_environment
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store, open_store
from orchestrator.releases.sync import sync_release
from rehearsal.played_cluster import PlayedCluster
from tests.support.golden_versions import write_affine_version

pytestmark = pytest.mark.integration

NS = "triton-staging"
K8S = Path(__file__).resolve().parents[2] / "deployment" / "k8s"
RESOURCE_AWARE = "components:\n  - ../../components/resource-aware-rollout\n"


def _manifests(tmp_path: Path, replicas: int, *, extra: str = "") -> Path:
    """deployment/k8s with staging's HPA holding ``replicas`` pods (and ``extra`` lines)."""
    folder = tmp_path / "k8s"
    shutil.copytree(K8S, folder)
    overlay = folder / "overlays" / "staging" / "kustomization.yaml"
    text = overlay.read_text()
    for path in ("minReplicas", "maxReplicas"):
        before = f"path: /spec/{path}\n        value: "
        start = text.index(before) + len(before)
        end = text.index("\n", start)
        text = text[:start] + str(replicas) + text[end:]
    overlay.write_text(text + extra)
    return folder


def _release(tmp_path: Path, store: Store, version: int) -> str:
    """A release serving model ``served`` at ``version`` only (its own golden data)."""
    repo = tmp_path / f"repo-{version}"
    write_affine_version(repo, "served", version, offset=float(version))
    release = build_release(repo)
    sync_release(release, store)
    return release.id


def _deploy(
    cluster: PlayedCluster, store: Store, manifests: Path, release: str, *extra: str
) -> Result:
    args = [
        "deploy",
        store.url,
        "--env",
        "staging",
        "--release",
        release,
        "--manifests",
        str(manifests),
        *extra,
    ]
    result = CliRunner().invoke(
        cli, args, obj={"kubectl": cluster}, env={"GITHUB_RUN_ID": "4242", "GITHUB_JOB": "deploy"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _old_running(
    cluster: PlayedCluster, store: Store, tmp_path: Path, replicas: int
) -> tuple[Path, str, str]:
    """Staging's ``replicas`` pods run release ``old``; ``new`` is in the store too.

    Returns the manifests, ``old`` and ``new``.
    """
    manifests = _manifests(tmp_path, replicas)
    old, new = _release(tmp_path, store, 1), _release(tmp_path, store, 2)
    first = _deploy(cluster, store, manifests, old)
    assert first.exit_code == 0, first.output
    return manifests, old, new


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store((tmp_path / "store").as_uri())


@pytest.fixture
def cluster(tritonserver, store: Store, tmp_path: Path) -> Iterator[PlayedCluster]:
    played = PlayedCluster(store=store, workdir=tmp_path)
    try:
        yield played
    finally:
        played.stop()


def _running(cluster: PlayedCluster) -> list[tuple[str, bool, bool]]:
    """(release, Ready, terminating) of every pod in staging."""
    space = cluster.namespaces[NS]
    return sorted((p.release, space.ready(p), not p.active) for p in space.pods)


def test_the_smoke_reaches_only_new_pods_while_an_old_one_terminates_ready(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 3)
    assert _running(cluster) == [(old, True, False)] * 3

    seen: list[list[tuple[str, bool, bool]]] = []

    def watch(played: PlayedCluster) -> None:
        seen.append(_running(played))

    cluster.on_tick = watch
    cluster.calls.clear()
    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 0, result.output
    # The cluster did what broke today's smoke: when rollout status returned, an old pod
    # was still terminating and Ready, and port-forward svc/ would have picked it.
    assert any((old, True, True) in state and (old, True, False) not in state for state in seen)
    forwards = [c.line for c in cluster.calls if c.args[0] == "port-forward"]
    assert len(forwards) == 3
    assert all("pod/triton-" in line and "svc/" not in line for line in forwards)
    assert "checked      served/2\n" in result.stdout
    assert _running(cluster) == [(new, True, False)] * 3
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == new
    # The gate's helper names a new pod too (svc/ would not, see below).
    assert new_pod_target(cluster, NS, new, timeout_s=60).startswith("pod/triton-")


def test_svc_port_forward_picks_a_terminating_old_pod_as_kubectl_does(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 2)
    cluster.run(
        ["apply", "-f", "-"],
        input_text=cluster.applied_texts[-1].replace(old, new),
        timeout_s=10,
    )
    done = cluster.run(
        ["rollout", "status", "deployment/triton", "--namespace", NS, "--timeout=600s"],
        input_text=None,
        timeout_s=10,
    )
    assert done.ok, done.stderr
    space = cluster.namespaces[NS]
    terminating = [p for p in space.pods if not p.active and space.ready(p)]
    assert [p.release for p in terminating] == [old]
    from rehearsal.played_cluster import _first_pod

    chosen = _first_pod(space)
    assert chosen is not None and chosen.release == old  # GetFirstPod: Ready longest


def test_no_free_gpu_fails_fast_naming_the_scheduler_and_undoes(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    cluster.nodes = 3
    manifests, old, new = _old_running(cluster, store, tmp_path, 3)
    started = cluster.played_s

    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 1, result.output
    assert cluster.played_s - started < 300  # within 5 played minutes, not 20
    assert "failed at step 'rollout'" in result.stderr
    assert "0/3 nodes are available: 3 Insufficient nvidia.com/gpu" in result.stderr
    assert "resource-aware" in result.stderr
    assert f"Rolled back: deployment/triton runs release {old} again" in result.stderr
    assert cluster.release_in(NS) == old
    assert _running(cluster) == [(old, True, False)] * 3
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == old

    # The same cluster, the resource-aware strategy: no spare GPU needed.
    aware = _manifests(tmp_path / "aware", 3, extra=RESOURCE_AWARE)
    result = _deploy(cluster, store, aware, new)
    assert result.exit_code == 0, result.output
    assert _running(cluster) == [(new, True, False)] * 3


def test_an_image_that_cannot_be_pulled_fails_fast_naming_it(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 1)
    cluster.unpullable = ("ghcr.io/your-org/",)
    started = cluster.played_s

    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 1, result.output
    assert cluster.played_s - started <= 120
    assert "cannot pull its image (ErrImagePull" in result.stderr or "ImagePullBackOff" in (
        result.stderr
    )
    assert "ghcr.io/your-org" in result.stderr
    assert cluster.release_in(NS) == old


def test_ctrl_c_mid_deploy_undoes_and_says_so(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 2)
    fired: list[float] = []

    def ctrl_c(played: PlayedCluster) -> None:
        space = played.namespaces[NS]
        if not fired and any(p.release == new and space.ready(p) for p in space.pods):
            fired.append(played.played_s)
            os.kill(os.getpid(), signal.SIGINT)

    cluster.on_tick = ctrl_c
    result = _deploy(cluster, store, manifests, new)

    assert fired, "the rollout never reached a Ready new pod"
    assert result.exit_code == 1, result.output
    assert "was interrupted at step 'rollout'" in result.stderr
    assert "SIGINT received" in result.stderr
    assert f"Rolled back: deployment/triton runs release {old} again, and it is ready" in (
        result.stderr
    )
    assert cluster.release_in(NS) == old
    assert {r for r, _, active in _running(cluster) if not active} == {old}
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == old
    # The lock was given back: the next deploy goes ahead.
    cluster.on_tick = None
    assert _deploy(cluster, store, manifests, new).exit_code == 0


def test_a_second_deploy_meanwhile_is_refused_naming_the_holder(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 1)
    refused: list[str] = []

    def second_deploy(played: PlayedCluster) -> None:
        if refused:
            return
        from orchestrator.deploy.rollout import DeployOptions, deploy

        try:
            deploy(store, "staging", old, runner=played, options=DeployOptions(manifests))
        except DeployError as exc:
            refused.append(str(exc))

    cluster.on_tick = second_deploy
    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 0, result.output
    assert len(refused) == 1
    assert "Environment staging is being deployed by github-actions" in refused[0]
    assert "run 4242 (deploy)" in refused[0]
    assert "held since 20" in refused[0]
    assert "--break-lock" in refused[0]
    assert cluster.release_in(NS) == new


def test_a_release_that_cannot_load_crash_loops_and_fails_fast(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 2)
    # What Triton prints when a model cannot load on the GPU, then exits (--exit-on-error).
    cluster.crashes[new] = "failed to load 'served' version 2: CUDA out of memory"
    started = cluster.played_s

    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 1, result.output
    assert cluster.played_s - started < 180
    assert re.search(
        rf"of release {new} crash-loops \(\d restarts?, last exit Error\)", result.stderr
    )
    assert "Back-off restarting failed container triton: failed to load 'served'" in (result.stderr)
    assert "kubectl logs --previous" in result.stderr
    assert cluster.release_in(NS) == old


def test_a_startup_probe_that_fails_its_budget_is_named_from_the_events(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    manifests, old, new = _old_running(cluster, store, tmp_path, 1)
    cluster.probe_failures[new] = "served/2: output 'y' differs from golden.npz"
    started = cluster.played_s

    result = _deploy(cluster, store, manifests, new)

    assert result.exit_code == 1, result.output
    # The probe's whole budget (90 x 10 s) once, not the 1200 s progress deadline.
    assert cluster.played_s - started < 1100
    assert "was restarted after its startup probe failed: Startup probe failed: served/2: " in (
        result.stderr
    )
    assert cluster.release_in(NS) == old


def test_the_first_deploy_creates_the_namespace_once_then_locks_then_applies(
    cluster: PlayedCluster, store: Store, tmp_path: Path
) -> None:
    # A fresh cluster has no triton-staging: Kubernetes refuses the Lease there until the
    # overlay's Namespace is applied (rehearsal/played_rules.py, refused_create).
    lease = f"kubectl get lease/triton-deploy --namespace {NS} --ignore-not-found -o json"
    create, apply = "kubectl create -f - -o json", "kubectl apply -f -"

    manifests, old, new = _old_running(cluster, store, tmp_path, 1)

    lines = cluster.lines
    assert lines[1:6] == [lease, create, apply, lease, create]
    assert lines.count(apply) == 2  # the Namespace alone, then the manifests
    namespace, manifests_text = cluster.applied_texts
    assert json.loads(namespace)["kind"] == "Namespace"
    assert "kind: Deployment" in manifests_text
    assert _running(cluster) == [(old, True, False)]

    cluster.calls.clear()
    second = _deploy(cluster, store, manifests, new)

    assert second.exit_code == 0, second.output
    assert "Created namespace" not in second.stderr
    assert cluster.lines[1:3] == [lease, "kubectl replace -f - -o json"]
    assert len(cluster.applied_texts) == 1
    pointer = read_environment(store, "staging")
    assert pointer is not None and pointer.release_id == new
