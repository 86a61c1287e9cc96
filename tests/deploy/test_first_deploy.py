"""The first deploy into a cluster without the environment's namespace.

The played cluster has only the system namespaces until a Namespace is applied, as the
API server does (NamespaceLifecycle admission: a create in a namespace that does not
exist is refused with ``namespaces "NS" not found``; rehearsal/played_rules.py). deploy
then applies the manifests' own Namespace, says so, and takes the lock again; manifests
without it, and a rollback, are refused before anything is applied.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.kubectl import Completed
from orchestrator.deploy.lock import LEASE, lock_environment, release_lock
from orchestrator.errors import DeployError
from orchestrator.releases.environments import read_environment, set_environment
from rehearsal.played_cluster import PlayedCluster
from rehearsal.recording import lease_json, lock_lines
from tests.deploy.conftest import MANIFESTS, Releases, deploy_args

NS = "triton-staging"
GET_LEASE, CREATE = lock_lines(NS)
APPLY = "kubectl apply -f -"
NOT_FOUND = (
    f'Error from server (NotFound): error when creating "STDIN": namespaces "{NS}" not found'
)
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "triton", "namespace": NS},
    "spec": {"template": {"metadata": {}, "spec": {"containers": []}}},
}


def _invoke(cluster: PlayedCluster, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": cluster})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _with_namespace(tmp_path: Path) -> Path:
    """The fixture manifests, whose staging overlay also creates its namespace."""
    manifests = tmp_path / "k8s"
    shutil.copytree(MANIFESTS, manifests)
    overlay = manifests / "overlays" / "staging"
    (overlay / "namespace.yaml").write_text(
        f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n"
    )
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text().replace("resources:\n", "resources:\n  - namespace.yaml\n")
    kustomization.write_text(text)
    return manifests


# -- the played rule ---------------------------------------------------------------------------


def test_a_create_in_a_missing_namespace_fails_as_kubectl_prints_it(tmp_path: Path) -> None:
    cluster = PlayedCluster(workdir=tmp_path)
    get = ["get", f"lease/{LEASE}", "--namespace", NS, "--ignore-not-found", "-o", "json"]

    read = cluster.run(get, input_text=None, timeout_s=5)
    assert (read.returncode, read.stdout, read.stderr) == (0, "", "")
    lease = json.loads(lease_json("me"))
    created = cluster.run(["create", "-f", "-"], input_text=json.dumps(lease), timeout_s=5)
    assert (created.returncode, created.stderr) == (1, NOT_FOUND)
    applied = cluster.run(["apply", "-f", "-"], input_text=json.dumps(DEPLOYMENT), timeout_s=5)
    assert (applied.returncode, applied.stderr) == (1, NOT_FOUND)
    assert cluster.applied(NS) == 0
    assert not cluster.exists(NS)

    made = cluster.run(["apply", "-f", "-"], input_text=json.dumps(NAMESPACE), timeout_s=5)
    assert (made.returncode, made.stdout) == (0, f"namespace/{NS} created")
    assert cluster.run(["create", "-f", "-"], input_text=json.dumps(lease), timeout_s=5).ok
    again = cluster.run(["apply", "-f", "-"], input_text=json.dumps(NAMESPACE), timeout_s=5)
    assert (again.returncode, again.stdout) == (0, f"namespace/{NS} unchanged")


def test_a_seeded_namespace_exists_from_the_start(tmp_path: Path) -> None:
    cluster = PlayedCluster(workdir=tmp_path, existing_namespaces={NS})
    lease = lease_json("me")
    assert cluster.run(["create", "-f", "-"], input_text=lease, timeout_s=5).ok
    assert cluster.exists("default") and not cluster.exists("triton-production")


# -- the lock on a first deploy ----------------------------------------------------------------


def test_the_lock_creates_the_namespace_from_the_manifests_once(tmp_path: Path) -> None:
    cluster = PlayedCluster(workdir=tmp_path)
    said: list[str] = []
    objects = [NAMESPACE, DEPLOYMENT]

    held = lock_environment(
        cluster, NS, "staging", duration_s=60, objects=objects, say=said.append, holder="first"
    )

    assert cluster.lines == [GET_LEASE, CREATE, APPLY, GET_LEASE, CREATE]
    assert [json.loads(text) for text in cluster.applied_texts] == [NAMESPACE]  # only it
    assert said == [f"Created namespace {NS}: a first deploy"]
    assert cluster.namespaces[NS].leases[LEASE]["spec"]["holderIdentity"] == "first"
    assert release_lock(cluster, held) is None

    # The namespace exists now: the same calls as any deploy, no Namespace applied.
    cluster.calls.clear()
    lock_environment(cluster, NS, "staging", duration_s=60, objects=objects, say=said.append)
    assert cluster.lines == [GET_LEASE, "kubectl replace -f - -o json"]
    assert len(said) == 1


def test_manifests_without_the_namespace_are_refused_and_nothing_is_applied(
    tmp_path: Path, releases: Releases
) -> None:
    cluster = PlayedCluster(workdir=tmp_path)

    result = _invoke(cluster, deploy_args(releases, releases.new))

    assert result.exit_code == 1, result.output
    assert f"namespace {NS} does not exist in the cluster" in result.stderr
    assert NOT_FOUND in result.stderr
    assert f"kubectl create namespace {NS}" in result.stderr
    assert "add a Namespace object to the overlay" in result.stderr
    assert "Traceback" not in result.output
    assert APPLY not in cluster.lines
    assert not cluster.exists(NS)
    assert read_environment(releases.store, "staging").release_id == releases.old  # type: ignore[union-attr]


def test_a_rollback_into_a_missing_namespace_is_refused_clearly(
    tmp_path: Path, releases: Releases
) -> None:
    set_environment(releases.store, "staging", releases.new, expected_release_id=releases.old)
    cluster = PlayedCluster(workdir=tmp_path)
    args = [
        "rollback",
        releases.url,
        "--env",
        "staging",
        "--manifests",
        str(_with_namespace(tmp_path)),
    ]

    result = _invoke(cluster, args)

    assert result.exit_code == 1, result.output
    assert f"namespace {NS} does not exist in the cluster" in result.stderr
    assert "Nothing runs there to roll back" in result.stderr
    assert "orchestrator deploy STORE --env staging" in result.stderr
    assert APPLY not in cluster.lines
    assert not cluster.exists(NS)


def test_a_first_deploy_creates_the_namespace_then_locks_then_applies(
    tmp_path: Path, releases: Releases
) -> None:
    # The release's container exits (no Triton needed): the deploy fails at its rollout,
    # after the lock and the apply this test is about.
    cluster = PlayedCluster(workdir=tmp_path, crashes={releases.new: "no GPU here"})
    manifests = _with_namespace(tmp_path)
    args = deploy_args(releases, releases.new)
    args[args.index("--manifests") + 1] = str(manifests)

    result = _invoke(cluster, args)

    assert result.exit_code == 1, result.output
    assert "failed at step 'rollout'" in result.stderr
    assert f"Created namespace {NS}: a first deploy" in result.stderr
    lines = cluster.lines
    first_apply = lines.index(APPLY)
    assert lines[1 : first_apply + 3] == [GET_LEASE, CREATE, APPLY, GET_LEASE, CREATE]
    assert [json.loads(t)["kind"] for t in cluster.applied_texts[:1]] == ["Namespace"]
    assert cluster.applied(NS) == 1  # the manifests were applied after the lock
    assert "kind: Deployment" in cluster.applied_texts[1]
    assert "does not exist" not in result.stderr


def test_two_first_deploys_racing_create_the_namespace_once_and_one_gets_the_lock(
    tmp_path: Path,
) -> None:
    said: list[str] = []

    class Racing(PlayedCluster):
        """B runs its whole first lock when A is about to apply the Namespace."""

        def run(
            self, args: Sequence[str], *, input_text: str | None, timeout_s: float
        ) -> Completed:
            if args[0] == "apply" and not said:
                said.append("B starts")
                lock_environment(
                    self,
                    NS,
                    "staging",
                    duration_s=60,
                    objects=[NAMESPACE],
                    say=said.append,
                    holder="B",
                )
            return super().run(args, input_text=input_text, timeout_s=timeout_s)

    cluster = Racing(workdir=tmp_path)

    with pytest.raises(DeployError, match="being deployed by B"):
        lock_environment(
            cluster, NS, "staging", duration_s=60, objects=[NAMESPACE], say=said.append, holder="A"
        )

    assert cluster.lines.count(APPLY) == 2  # both applied it: the second is a no-op
    created = f"Created namespace {NS}: a first deploy"
    assert said == ["B starts", created, created]  # B's, then A's (its apply: unchanged)
    assert cluster.namespaces[NS].leases[LEASE]["spec"]["holderIdentity"] == "B"
