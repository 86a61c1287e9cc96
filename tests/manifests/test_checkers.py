"""The rendered manifests pass kubernetes-validate (strict) and checkov.

Both run from the tools venv (``make tools``; requirements/tools.txt), because checkov's
many dependencies must not move the project's pins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.manifests.manifests import (
    CLOUDS,
    K8S,
    OVERLAYS,
    checkov,
    kubernetes_validate,
    render,
    render_text,
    with_components,
)

# Custom resources: kubernetes-validate has only the core schemas, and the Prometheus
# operator's CRD schema is not available offline. The ServiceMonitor is checked by
# test_servicemonitor_scrapes_the_service_metrics_port below instead.
NOT_CORE = {"ServiceMonitor"}
# checkov's Kubernetes checks that the restricted Pod Security profile covers: every one
# must run and pass, and deployment/k8s/checkov.yaml may skip none of them.
RESTRICTED_CHECKS = {
    "CKV_K8S_16": "privileged",
    "CKV_K8S_17": "host PID",
    "CKV_K8S_18": "host IPC",
    "CKV_K8S_19": "host network",
    "CKV_K8S_20": "allowPrivilegeEscalation",
    "CKV_K8S_23": "root containers",
    "CKV_K8S_25": "added capabilities",
    "CKV_K8S_26": "hostPort",
    "CKV_K8S_27": "docker socket (hostPath)",
    "CKV_K8S_28": "NET_RAW",
    "CKV_K8S_31": "seccomp RuntimeDefault",
    "CKV_K8S_37": "capabilities dropped",
    "CKV_K8S_39": "SYS_ADMIN",
}


@pytest.fixture(
    scope="module",
    params=[(o, c) for o in OVERLAYS for c in CLOUDS],
    ids=[f"{o}-{c}" for o in OVERLAYS for c in CLOUDS],
)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An overlay with a cloud's component and every optional one, rendered to one file."""
    overlay, cloud = request.param
    folder = tmp_path_factory.mktemp(f"{overlay}-{cloud}")
    path = folder / f"{overlay}-{cloud}.yaml"
    path.write_text(render_text(with_components(folder, overlay, cloud)))
    return path


def _core_only(rendered: Path) -> Path:
    objects = [o for o in yaml.safe_load_all(rendered.read_text()) if o]
    kept = [o for o in objects if o["kind"] not in NOT_CORE]
    assert len(kept) == len(objects) - len(NOT_CORE)
    path = rendered.with_suffix(".core.yaml")
    path.write_text(yaml.safe_dump_all(kept))
    return path


def test_kubernetes_validate_strict_passes_every_object(rendered: Path) -> None:
    core = _core_only(rendered)
    result = kubernetes_validate(core)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in result.stdout.splitlines() if " passed for resource " in line]
    assert len(passed) == len([o for o in yaml.safe_load_all(core.read_text()) if o])


def test_kubernetes_validate_strict_refuses_an_unknown_field(tmp_path: Path) -> None:
    objects = render(K8S / "overlays" / "staging")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["startupprobe"] = {}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = kubernetes_validate(path)
    assert result.returncode != 0
    assert "startupprobe" in result.stdout + result.stderr


def test_checkov_fails_nothing_and_passes_every_restricted_profile_check(rendered: Path) -> None:
    report = checkov(rendered)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    passed_on_deployment = {
        c["check_id"]
        for c in report["results"]["passed_checks"]
        if c["resource"].startswith("Deployment.")
    }
    assert set(RESTRICTED_CHECKS) <= passed_on_deployment


def test_checkov_config_skips_no_restricted_check_and_gives_reasons() -> None:
    text = (K8S / "checkov.yaml").read_text()
    skipped = yaml.safe_load(text)["skip-check"]
    assert not set(skipped) & set(RESTRICTED_CHECKS)
    lines = text.splitlines()
    for check in skipped:
        above = lines[lines.index(f"  - {check}") - 1]
        assert above.strip().startswith("#"), f"{check} is skipped without a reason"


def test_servicemonitor_scrapes_the_service_metrics_port(rendered: Path) -> None:
    objects = [o for o in yaml.safe_load_all(rendered.read_text()) if o]
    (monitor,) = [o for o in objects if o["kind"] == "ServiceMonitor"]
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert "metrics" in ports


def test_grafana_dashboard_charts_per_model_and_version(rendered: Path) -> None:
    objects = [o for o in yaml.safe_load_all(rendered.read_text()) if o]
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["triton.json"])
    legends = [t["legendFormat"] for p in dashboard["panels"] for t in p["targets"]]
    assert legends.count("{{model}} v{{version}}") >= 5


def test_checkov_catches_a_container_that_may_escalate(tmp_path: Path) -> None:
    objects = render(K8S / "overlays" / "staging")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    context = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["allowPrivilegeEscalation"] = True
    context["readOnlyRootFilesystem"] = False
    path = tmp_path / "escalating.yaml"
    path.write_text(yaml.safe_dump(deployment))
    failed = {c["check_id"] for c in checkov(path)["results"]["failed_checks"]}
    assert {"CKV_K8S_20", "CKV_K8S_22"} <= failed
