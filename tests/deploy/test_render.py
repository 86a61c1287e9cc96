"""Rendering an overlay for a release with the real ``kubectl kustomize`` (no cluster needed)."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator.deploy.kubectl import SubprocessKubectl
from orchestrator.deploy.render import Rendered, release_of, render
from orchestrator.errors import DeployError
from tests.deploy.conftest import MANIFESTS

URL = "s3://127.0.0.1:9000/models/prod/releases/3f1c"


def _container(rendered: Rendered) -> Any:
    (container,) = rendered.deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_release_layer_sets_the_env_and_annotation_and_keeps_the_rest(
    environment: str, tmp_path: Path
) -> None:
    manifests = shutil.copytree(MANIFESTS, tmp_path / "k8s")
    rendered = render(
        SubprocessKubectl(), manifests, environment, release_id="3f1c", model_repository=URL
    )
    assert rendered.namespace == f"triton-{environment}"
    assert release_of(rendered.deployment) == "3f1c"
    # A strategic merge by name: the other variables stay (kustomize may reorder them).
    assert sorted(_container(rendered)["env"], key=lambda e: e["name"]) == [
        {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
        {"name": "MODEL_REPOSITORY", "value": URL},
    ]
    assert [o["kind"] for o in rendered.objects] == ["Service", "Deployment"]
    # The tracked manifests are never edited: the layer lives in a temporary copy.
    comparison = filecmp.dircmp(MANIFESTS, manifests)
    assert comparison.diff_files == comparison.left_only == comparison.right_only == []
    assert sorted(p.name for p in manifests.rglob("*")) == sorted(
        p.name for p in MANIFESTS.rglob("*")
    )


def test_without_a_release_the_overlay_renders_as_it_is() -> None:
    rendered = render(SubprocessKubectl(), MANIFESTS, "staging")
    assert release_of(rendered.deployment) == "unset"
    assert rendered.namespace == "triton-staging"


def test_an_environment_without_overlay_names_the_ones_there() -> None:
    with pytest.raises(DeployError, match=r"No overlay for environment 'qa'.*production, staging"):
        render(SubprocessKubectl(), MANIFESTS, "qa")


def test_an_invalid_environment_name_is_refused() -> None:
    with pytest.raises(DeployError, match="Invalid environment name '../base'"):
        render(SubprocessKubectl(), MANIFESTS, "../base")


def test_an_overlay_without_namespace_is_refused(tmp_path: Path) -> None:
    manifests = shutil.copytree(MANIFESTS, tmp_path / "k8s")
    kustomization = manifests / "overlays" / "staging" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("namespace: triton-staging\n", ""))
    with pytest.raises(DeployError, match="expected exactly one, set on the Deployment"):
        render(SubprocessKubectl(), manifests, "staging", release_id="3f1c", model_repository=URL)


def test_an_overlay_kustomize_refuses_fails_as_the_render_step(tmp_path: Path) -> None:
    manifests = shutil.copytree(MANIFESTS, tmp_path / "k8s")
    (manifests / "base" / "service.yaml").unlink()
    with pytest.raises(DeployError, match=r"Step 'render' failed: kubectl kustomize .* exited 1"):
        render(SubprocessKubectl(), manifests, "staging")


def test_a_deployment_without_the_triton_container_is_refused(tmp_path: Path) -> None:
    manifests = shutil.copytree(MANIFESTS, tmp_path / "k8s")
    deployment = manifests / "base" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("- name: triton\n", "- name: server\n"))
    with pytest.raises(DeployError, match="has no container named 'triton'"):
        render(SubprocessKubectl(), manifests, "staging")


SECRET = "aws_secret_access_key = hunter2\n"


def _link_out(manifests: Path, tmp_path: Path) -> str:
    secret = tmp_path / "credentials"
    secret.write_text(SECRET)
    (manifests / "overlays" / "staging" / "secret.yaml").symlink_to(secret)
    return "secret.yaml is a symbolic link"


def _link_in(manifests: Path, tmp_path: Path) -> str:
    (manifests / "overlays" / "staging" / "base-link").symlink_to(manifests / "base")
    return "base-link is a symbolic link"


def _fifo(manifests: Path, tmp_path: Path) -> str:
    import os

    os.mkfifo(manifests / "overlays" / "staging" / "patch.yaml")
    return "FIFO, socket or device"


def _device(manifests: Path, tmp_path: Path) -> str:
    (manifests / "base" / "zero.yaml").symlink_to("/dev/zero")
    return "zero.yaml is a symbolic link"


def _huge(manifests: Path, tmp_path: Path) -> str:
    with (manifests / "base" / "big.yaml").open("wb") as handle:
        handle.truncate(1 << 30)  # sparse
    return "over the 1048576 byte limit"


def _deep(manifests: Path, tmp_path: Path) -> str:
    (manifests / "/".join(["d"] * 20)).mkdir(parents=True)
    return "nested deeper than"


@pytest.mark.parametrize(
    "plant",
    [_link_out, _link_in, _fifo, _device, _huge, _deep],
    ids=["link-out", "link-in", "fifo", "device-link", "huge", "deep"],
)
def test_render_copies_only_regular_files_inside_the_manifests(plant: Any, tmp_path: Path) -> None:
    manifests = shutil.copytree(MANIFESTS, tmp_path / "k8s")
    expected = plant(manifests, tmp_path)
    with pytest.raises(DeployError, match=expected) as caught:
        render(SubprocessKubectl(), manifests, "staging", release_id="3f1c", model_repository=URL)
    assert SECRET not in str(caught.value)
    assert "Refusing to render" in str(caught.value)
