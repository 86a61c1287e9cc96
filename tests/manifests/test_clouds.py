"""Each overlay with each cloud's component (README, "Deploy to GKE or EKS"), the node size
setting and the autoscaler's metric chain (ServiceMonitor -> prometheus-adapter -> HPA)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.core.model_config import load_config
from tests.manifests.manifests import (
    CLOUDS,
    K8S,
    OVERLAYS,
    ROOT,
    find,
    overlay_components,
    render,
    triton_container,
    with_components,
)

# GKE's metadata server (Workload Identity's token endpoint on port 80, the Cloud DNS
# resolver on 53) and its Dataplane V1 address (port 988). GKE docs: "Workload Identity
# Federation for GKE", "Restrictions" (the NetworkPolicy egress rules it names).
GKE_METADATA = {
    ("169.254.169.254/32", 80, "TCP"),
    ("169.254.169.254/32", 53, "UDP"),
    ("169.254.169.254/32", 53, "TCP"),
    ("169.254.169.252/32", 988, "TCP"),
}
# The EKS Pod Identity agent (EKS docs: "Set up the Amazon EKS Pod Identity Agent").
EKS_POD_IDENTITY = {("169.254.170.23/32", 80, "TCP"), ("fd00:ec2::23/128", 80, "TCP")}


@pytest.fixture(
    scope="module",
    params=[(o, c) for o in OVERLAYS for c in CLOUDS],
    ids=[f"{o}-{c}" for o in OVERLAYS for c in CLOUDS],
)
def combination(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str, list[dict[str, Any]]]:
    overlay, cloud = request.param
    folder = tmp_path_factory.mktemp(f"{overlay}-{cloud}")
    return overlay, cloud, render(with_components(folder, overlay, cloud))


def _egress(objects: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    """(CIDR, port, protocol) for every ipBlock egress rule of the policy ``triton``."""
    policy = find(objects, "NetworkPolicy", "triton")["spec"]
    return {
        (peer["ipBlock"]["cidr"], port["port"], port["protocol"])
        for rule in policy["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
        for port in rule["ports"]
    }


def test_each_cloud_opens_its_identity_endpoints_and_only_its_own(combination: Any) -> None:
    _, cloud, objects = combination
    egress = _egress(objects)
    base = {("0.0.0.0/0", 443, "TCP")}
    if cloud == "gke":
        assert egress == base | GKE_METADATA
    else:
        assert egress == base | EKS_POD_IDENTITY | {("::/0", 443, "TCP")}
    for cidr, _, _ in egress:
        ipaddress.ip_network(cidr)  # each one a valid network


def test_no_cloud_selects_gpu_feature_discovery_labels(combination: Any) -> None:
    _, _, objects = combination
    pod = find(objects, "Deployment", "triton")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu.present" not in yaml.safe_dump(objects)
    assert "nodeSelector" not in pod
    assert triton_container(objects)["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_the_shipped_overlays_name_no_cloud_and_comment_both() -> None:
    for overlay in OVERLAYS:
        assert not set(overlay_components(overlay)) & set(CLOUDS)
        text = (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        for cloud in CLOUDS:
            assert f"#   - ../../components/{cloud}" in text or (
                f"# - ../../components/{cloud}" in text
            )


def test_base_sets_no_region_and_no_cloud_annotation() -> None:
    objects = render(K8S / "base")
    env = {e["name"] for e in triton_container(objects)["env"]}
    assert not {"AWS_DEFAULT_REGION", "AWS_REGION"} & env
    account = find(objects, "ServiceAccount", "triton")
    assert not account["metadata"].get("annotations")


# -- node size: an overlay setting -------------------------------------------------------


def _size(overlay: str) -> dict[str, Any]:
    patch = yaml.safe_load((K8S / "overlays" / overlay / "size.yaml").read_text())
    return dict(patch["spec"]["template"]["spec"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_size_yaml_is_what_the_overlay_renders(overlay: str, tmp_path: Path) -> None:
    size = _size(overlay)
    objects = render(K8S / "overlays" / overlay)
    (wanted,) = size["containers"]
    resources = triton_container(objects)["resources"]
    for kind in ("requests", "limits"):
        assert wanted["resources"][kind].items() <= resources[kind].items()
    volumes = find(objects, "Deployment", "triton")["spec"]["template"]["spec"]["volumes"]
    (release,) = [v for v in volumes if v["name"] == "release"]
    assert release["emptyDir"] == size["volumes"][0]["emptyDir"]
    # Changing the setting changes the pod (a copy of the manifests, edited).
    copy = tmp_path / "k8s"
    _copy_tree(K8S, copy)
    path = copy / "overlays" / overlay / "size.yaml"
    path.write_text(path.read_text().replace('cpu: "4"', 'cpu: "3"'))
    resized = triton_container(render(copy / "overlays" / overlay))["resources"]
    assert resized["requests"]["cpu"] == resized["limits"]["cpu"] == "3"


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())


def test_the_release_copy_fits_the_ephemeral_storage() -> None:
    for overlay in OVERLAYS:
        size = _size(overlay)
        storage = size["containers"][0]["resources"]["limits"]["ephemeral-storage"]
        release = size["volumes"][0]["emptyDir"]["sizeLimit"]
        assert _gib(release) + 2 <= _gib(storage), "the release copy and /tmp must fit"


def _gib(quantity: str) -> float:
    match = re.fullmatch(r"(\d+)Gi", quantity)
    assert match, f"{quantity!r} is not in Gi"
    return float(match.group(1))


# -- autoscaling: ServiceMonitor -> Prometheus -> prometheus-adapter -> HPA --------------


def _adapter() -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text()))


@pytest.mark.parametrize("cloud", CLOUDS)
def test_production_scales_on_the_metric_the_adapter_serves(cloud: str, tmp_path: Path) -> None:
    objects = render(with_components(tmp_path, "production", cloud))
    (metric,) = find(objects, "HorizontalPodAutoscaler", "triton")["spec"]["metrics"]
    (rule,) = _adapter()["rules"]["custom"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
    # The adapter's rule reads a series the ServiceMonitor's port exposes (Triton's).
    series = re.match(r"'?(\w+)\{", rule["seriesQuery"])
    assert series is not None and re.fullmatch(rule["name"]["matches"], series.group(1))
    monitor = find(objects, "ServiceMonitor", "triton")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]


def test_production_servicemonitor_carries_its_prometheus_selector_label() -> None:
    objects = render(K8S / "overlays" / "production")
    setting = yaml.safe_load((K8S / "overlays" / "production" / "prometheus.yaml").read_text())
    labels = find(objects, "ServiceMonitor", "triton")["metadata"]["labels"]
    assert setting["metadata"]["labels"].items() <= labels.items()
    assert labels["release"]


def test_adapter_names_its_prometheus() -> None:
    prometheus = _adapter()["prometheus"]
    assert re.fullmatch(r"https?://[\w.-]+", prometheus["url"])
    assert int(prometheus["port"]) > 0


def _max_queue_delays_us() -> list[int]:
    """The queue delay of every dynamic batcher in model_repository (0 for ``{ }``)."""
    return [
        config.dynamic_batching.max_queue_delay_microseconds
        for config in map(load_config, sorted((ROOT / "model_repository").glob("*/config.pbtxt")))
        if config.HasField("dynamic_batching")
    ]


def test_the_metric_stays_quiet_at_trickle_load() -> None:
    """At a trickle each request waits at most the batcher's delay: the target is far above."""
    hpa = find(render(K8S / "base"), "HorizontalPodAutoscaler", "triton")
    (metric,) = hpa["spec"]["metrics"]
    (rule,) = _adapter()["rules"]["custom"]
    assert "nv_inference_queue_duration_us" in rule["metricsQuery"]
    assert "nv_inference_request_success" in rule["metricsQuery"]  # per request
    target_us = float(metric["pods"]["target"]["averageValue"])
    delays = _max_queue_delays_us()
    assert delays, "no dynamic batcher in model_repository to compare with"
    assert target_us >= 10 * max(delays)
