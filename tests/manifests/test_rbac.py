"""deployment/k8s/rbac: the CI deploy identity may apply what the overlays render and run
what deploy, rollback, promote, gate and status run, in its namespace, and nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.manifests import (
    CLOUDS,
    K8S,
    OVERLAYS,
    checkov,
    find,
    kubernetes_validate,
    render,
    render_text,
    with_components,
)

# kubectl apply reads each object, then creates or patches it.
APPLY = {"get", "create", "patch"}
# The kubectl calls of orchestrator/deploy (rollout status / undo, get pods, port-forward)
# and the environment lock's Lease (issue 19), by (group, resource): the verbs each needs.
COMMANDS = {
    ("apps", "deployments"): {"get", "list", "watch", "patch"},
    ("apps", "replicasets"): {"get", "list", "watch"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/portforward"): {"create"},
    ("", "events"): {"list"},
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
}
PLURAL = {
    "Deployment": ("apps", "deployments"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
    "ConfigMap": ("", "configmaps"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors"),
}


@pytest.fixture(scope="module")
def rbac() -> list[dict[str, Any]]:
    return render(K8S / "rbac")


def _granted(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_the_role_may_apply_every_namespaced_kind_each_combination_renders(
    rbac: list[dict[str, Any]], tmp_path: Path
) -> None:
    granted = _granted(find(rbac, "Role", "triton-deployer"))
    for overlay in OVERLAYS:
        for cloud in CLOUDS:
            folder = tmp_path / f"{overlay}-{cloud}"
            folder.mkdir()
            for obj in render(with_components(folder, overlay, cloud)):
                if obj["kind"] == "Namespace":
                    continue
                key = PLURAL[obj["kind"]]
                assert APPLY <= granted.get(key, set()), f"{overlay}/{cloud}: {key}"


def test_the_role_covers_the_commands_and_nothing_broad(rbac: list[dict[str, Any]]) -> None:
    role = find(rbac, "Role", "triton-deployer")
    granted = _granted(role)
    for key, verbs in COMMANDS.items():
        assert verbs <= granted.get(key, set()), key
    text = yaml.safe_dump(role)
    assert "'*'" not in text and "secrets" not in text
    assert {"escalate", "bind", "impersonate"}.isdisjoint(v for vs in granted.values() for v in vs)
    deleting = [key for key, verbs in granted.items() if "delete" in verbs]
    assert deleting == [("coordination.k8s.io", "leases")], "delete only the lock's own Lease"
    binding = find(rbac, "RoleBinding", "triton-deployer")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "triton-deployer",
    }
    assert not any("namespace" in o["metadata"] for o in rbac), "applied with --namespace"


def test_cluster_scope_is_get_and_patch_of_the_overlays_namespaces_only(
    rbac: list[dict[str, Any]],
) -> None:
    (cluster_role,) = [o for o in rbac if o["kind"] == "ClusterRole"]
    (rule,) = cluster_role["rules"]
    namespaces = {
        o["metadata"]["name"]
        for overlay in OVERLAYS
        for o in render(K8S / "overlays" / overlay)
        if o["kind"] == "Namespace"
    }
    assert rule == {
        "apiGroups": [""],
        "resources": ["namespaces"],
        "resourceNames": sorted(namespaces, key=lambda n: rule["resourceNames"].index(n)),
        "verbs": ["get", "patch"],
    }
    (cluster_binding,) = [o for o in rbac if o["kind"] == "ClusterRoleBinding"]
    assert cluster_binding["roleRef"]["name"] == cluster_role["metadata"]["name"]
    assert cluster_binding["subjects"] == find(rbac, "RoleBinding", "triton-deployer")["subjects"]


def test_rbac_passes_kubernetes_validate_and_checkov(tmp_path: Path) -> None:
    # In the namespace `kubectl apply --namespace triton-staging` puts it.
    objects = list(yaml.safe_load_all(render_text(K8S / "rbac")))
    for obj in objects:
        if obj["kind"] in ("Role", "RoleBinding"):
            obj["metadata"]["namespace"] = "triton-staging"
    path = tmp_path / "rbac.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    result = kubernetes_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = checkov(path)
    assert report["results"]["failed_checks"] == []
