"""The kustomize overlays: rendered with the pinned kubectl and held to issue 13's list."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml

from orchestrator.serving.triton.flags import PRODUCTION_FLAGS, PRODUCTION_PORTS, production_args
from tests.manifests.manifests import (
    K8S,
    OVERLAYS,
    ROOT,
    container_port,
    find,
    kustomization,
    render,
    triton_container,
)

PROBE_PATH = "/opt/triton-orchestrator/golden_probe"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(K8S / "overlays" / request.param)


def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(find(objects, "Deployment", "triton")["spec"]["template"]["spec"])


def _startup_budget_s(container: dict[str, Any]) -> int:
    probe = container["startupProbe"]
    return int(
        probe.get("initialDelaySeconds", 0) + probe["failureThreshold"] * probe["periodSeconds"]
    )


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container["env"]}


def _flag_value(args: list[str], name: str) -> str:
    return next(a.split("=", 1)[1] for a in args if a.startswith(name + "="))


def test_each_overlay_renders_the_names_deploy_codes_against(overlay: Any) -> None:
    name, objects = overlay
    namespace = f"triton-{name}"
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    # Production enables the ServiceMonitor the autoscaler's metric needs.
    monitor = [("ServiceMonitor", "triton")] if name == "production" else []
    assert kinds == [
        ("Deployment", "triton"),
        ("HorizontalPodAutoscaler", "triton"),
        ("Namespace", namespace),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "triton"),
        ("PodDisruptionBudget", "triton"),
        ("Service", "triton"),
        ("ServiceAccount", "triton"),
        *monitor,
    ]
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        namespace
    }
    deployment = find(objects, "Deployment", "triton")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "triton"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "triton"}
    assert (
        "triton-orchestrator/release" in deployment["spec"]["template"]["metadata"]["annotations"]
    )
    assert _pod(objects)["serviceAccountName"] == "triton"
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    namespace_labels = find(objects, "Namespace", namespace)["metadata"]["labels"]
    assert namespace_labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_container_runs_exactly_the_production_flags(overlay: Any) -> None:
    _, objects = overlay
    container = triton_container(objects)
    assert container["command"] == ["tritonserver"]
    assert container["args"] == production_args("$(MODEL_REPOSITORY)")
    assert "MODEL_REPOSITORY" in _env(container)
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == PRODUCTION_PORTS
    for name, port in PRODUCTION_PORTS.items():
        assert _flag_value(container["args"], f"--{name}-port") == str(port)
    service = find(objects, "Service", "triton")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        name: (port, name) for name, port in PRODUCTION_PORTS.items()
    }
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "triton"}


def test_probes_name_triton_health_paths_and_the_golden_probe(overlay: Any) -> None:
    _, objects = overlay
    container = triton_container(objects)
    http = PRODUCTION_PORTS["http"]
    for probe, path in (
        ("readinessProbe", "/v2/health/ready"),
        ("livenessProbe", "/v2/health/live"),
    ):
        get = container[probe]["httpGet"]
        assert (get["path"], container_port(container, get["port"])) == (path, http)
    startup = container["startupProbe"]
    command = startup["exec"]["command"]
    assert command[:2] == ["python3", PROBE_PATH]
    assert command[command.index("--url") + 1] == f"127.0.0.1:{http}"
    # The probe's own budget ends before the kubelet's timeout kills it.
    assert float(command[command.index("--timeout-s") + 1]) < startup["timeoutSeconds"]
    assert startup["timeoutSeconds"] <= startup["periodSeconds"]


def test_rollout_never_drops_capacity_and_outlasts_the_startup_budget(overlay: Any) -> None:
    _, objects = overlay
    spec = find(objects, "Deployment", "triton")["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert spec["minReadySeconds"] > 0
    assert spec["revisionHistoryLimit"] >= 2, "rollout undo needs the previous template"
    budget = _startup_budget_s(triton_container(objects))
    assert spec["progressDeadlineSeconds"] > budget + spec["minReadySeconds"]


def test_grace_period_covers_the_pause_and_triton_drain(overlay: Any) -> None:
    _, objects = overlay
    container = triton_container(objects)
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 10 <= pause <= 15
    exit_timeout = int(_flag_value(container["args"], "--exit-timeout-secs"))
    assert _pod(objects)["terminationGracePeriodSeconds"] >= pause + exit_timeout + 10


def test_gpu_scheduling_and_requests_equal_to_limits(overlay: Any) -> None:
    _, objects = overlay
    pod = _pod(objects)
    resources = triton_container(objects)["resources"]
    assert resources["requests"] == resources["limits"]
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert {"cpu", "memory", "ephemeral-storage"} <= set(resources["limits"])
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    # The GPU request selects GPU nodes; nvidia.com/gpu.present exists only where GPU
    # feature discovery runs (not on GKE's managed drivers or EKS's accelerated AMIs).
    assert "nodeSelector" not in pod


def test_replicas_spread_over_nodes_and_zones(overlay: Any) -> None:
    _, objects = overlay
    spread = {c["topologyKey"]: c for c in _pod(objects)["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for constraint in spread.values():
        assert constraint["labelSelector"] == {"matchLabels": {"app.kubernetes.io/name": "triton"}}
        assert constraint["maxSkew"] == 1
        # No node selector: GPU-less nodes are empty domains, so a hard rule would
        # leave a second replica Pending.
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"


def test_a_tag_is_pulled_always_and_only_a_digest_may_be_cached(overlay: Any) -> None:
    _, objects = overlay
    container = triton_container(objects)
    if "@sha256:" not in container["image"]:
        assert container["imagePullPolicy"] == "Always", container["image"]


def test_restricted_pod_security_with_a_read_only_root(overlay: Any) -> None:
    _, objects = overlay
    pod = _pod(objects)
    context = triton_container(objects)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsUser"] == 1000 and context["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False


def test_writable_paths_are_size_limited_emptydirs(overlay: Any) -> None:
    _, objects = overlay
    pod = _pod(objects)
    container = triton_container(objects)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    assert mounts["/dev/shm"]["emptyDir"]["medium"] == "Memory"
    env = _env(container)
    # Triton copies the release into folders it creates under the mount directory, which
    # must already exist: the emptyDir's own mount point.
    copies = {env["TRITON_AWS_MOUNT_DIRECTORY"], env["TRITON_GCS_MOUNT_DIRECTORY"]}
    assert copies == {"/var/lib/triton/release"}
    assert set(mounts) == {"/dev/shm", "/tmp", *copies}
    assert all("sizeLimit" in v["emptyDir"] for v in mounts.values())
    # EKS's pod identity webhook injects the region; a value here would override it.
    assert not {"AWS_DEFAULT_REGION", "AWS_REGION"} & set(env)


def test_no_static_credentials_in_the_manifests(overlay: Any) -> None:
    _, objects = overlay
    container = triton_container(objects)
    assert not [o for o in objects if o["kind"] == "Secret"]
    names = {e["name"] for e in container["env"]}
    assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    (source,) = container["envFrom"]
    assert source["secretRef"]["optional"] is True


def test_network_policy_denies_by_default_and_opens_serving_metrics_dns_storage(
    overlay: Any,
) -> None:
    _, objects = overlay
    deny = find(objects, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    policy = find(objects, "NetworkPolicy", "triton")["spec"]
    ingress = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress == set(PRODUCTION_PORTS)
    egress = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (443, "TCP")}


def test_disruption_budget_and_autoscaler(overlay: Any) -> None:
    _, objects = overlay
    pdb = find(objects, "PodDisruptionBudget", "triton")["spec"]
    assert pdb == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "triton"}},
    }
    hpa = find(objects, "HorizontalPodAutoscaler", "triton")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "triton"
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert hpa["minReplicas"] <= hpa["maxReplicas"]
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    (rule,) = adapter["rules"]["custom"]
    (metric,) = hpa["metrics"]
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    assert "nv_inference_queue_duration_us" in rule["metricsQuery"]
    assert "nv_inference_request_success" in rule["metricsQuery"]


# -- Dockerfile.triton runs the same list ------------------------------------------------
def _dockerfile() -> dict[str, list[str]]:
    text = (ROOT / "Dockerfile.triton").read_text()
    text = re.sub(r"\\\n", " ", text)
    instructions: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def test_dockerfile_runs_the_manifests_flags_as_uid_1000() -> None:
    docker = _dockerfile()
    assert docker["FROM"] == ["nvcr.io/nvidia/tritonserver:24.10-py3"]
    assert docker["USER"] == ["1000"]
    (cmd,) = docker["CMD"]
    assert tuple(json.loads(cmd)) == PRODUCTION_FLAGS
    (entrypoint,) = docker["ENTRYPOINT"]
    shell = json.loads(entrypoint)
    assert shell[:2] == ["/bin/sh", "-c"]
    assert shlex.split(shell[2]) == [
        "exec",
        "tritonserver",
        "--model-repository=$MODEL_REPOSITORY",
        "$@",
    ]
    (expose,) = docker["EXPOSE"]
    assert sorted(map(int, expose.split())) == sorted(PRODUCTION_PORTS.values())
    copies = [c.split() for c in docker["COPY"]]
    assert ["--chown=1000:1000", "orchestrator/serving/golden_probe/", f"{PROBE_PATH}/"] in copies
    assert any(c[-1].rstrip("/") == "/opt/triton-orchestrator/release" for c in copies)
    assert "MODEL_REPOSITORY=/opt/triton-orchestrator/release" in docker["ENV"]
    assert any(a.startswith("RELEASE=") for a in docker["ARG"])


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :].count("!orchestrator/serving/golden_probe/") == 1
    assert "!deployment/empty-release/" in ignore
    assert (ROOT / "deployment" / "empty-release").is_dir()


@pytest.mark.parametrize("environment", OVERLAYS)
def test_the_resource_aware_component_replaces_pods_down_first_and_keeps_the_pdb(
    environment: str, tmp_path: Any
) -> None:
    objects = render(kustomization(tmp_path / "aware", environment, ["resource-aware-rollout"]))
    assert find(objects, "Deployment", "triton")["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": 0,
        "maxUnavailable": 1,
    }
    # A drain during a rollout cannot take a second pod down.
    assert find(objects, "PodDisruptionBudget", "triton")["spec"]["maxUnavailable"] == 1
