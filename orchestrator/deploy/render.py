"""Render an environment's kustomize overlay for one release, without touching tracked files.

The manifests folder (``deployment/k8s`` by default) holds ``base/`` and one overlay per
environment (``overlays/<env>``). A release reaches the pods in two places of the
Deployment's pod template, so a new release is a new template (a rollout) and
``kubectl rollout undo`` returns to the previous one:

- the ``triton`` container's ``MODEL_REPOSITORY`` environment variable (what Triton's
  ``--model-repository`` gets), and
- the annotation ``triton-orchestrator/release: <id>``.

``render`` copies the manifests into a temporary folder, adds one kustomization layer on
top of the overlay with a strategic-merge patch setting both, and runs
``kubectl kustomize`` on it through the runner. The rendered objects are parsed (this
module is the only importer of PyYAML) and checked: a ``triton`` Deployment with a
``triton`` container, the release set, and one namespace.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.deploy.kubectl import KubectlRunner, check
from orchestrator.deploy.yaml_text import load_documents
from orchestrator.errors import ConfigError, DeployError, StorageError, UnsafeFileError
from orchestrator.releases.environments import environment_key

__all__ = [
    "template_annotations",
    "CONTAINER",
    "DEFAULT_MANIFESTS",
    "DEPLOYMENT",
    "POD_SELECTOR",
    "RELEASE_ANNOTATION",
    "REPOSITORY_ENV",
    "Rendered",
    "SERVICE",
    "PLACEHOLDER_REGISTRY",
    "overlay_dir",
    "placeholder_image",
    "release_of",
    "render",
]

logger = logging.getLogger(__name__)

DEFAULT_MANIFESTS = Path("deployment/k8s")
DEPLOYMENT = "triton"
CONTAINER = "triton"
SERVICE = "triton"
POD_SELECTOR = "app.kubernetes.io/name=triton"
RELEASE_ANNOTATION = "triton-orchestrator/release"
REPOSITORY_ENV = "MODEL_REPOSITORY"
_RENDER_TIMEOUT_S = 120.0
MANIFEST_MAX_BYTES = 1 << 20
"""One manifest file: the shipped ones are under 8 KiB."""
MANIFESTS_MAX_BYTES = 16 << 20
"""The whole manifests folder."""

# The registry the shipped overlays name until a user sets theirs (images: newName).
PLACEHOLDER_REGISTRY = "ghcr.io/your-org/"


@dataclass(frozen=True)
class Rendered:
    """An overlay rendered by ``kubectl kustomize``: the text, its objects and namespace."""

    environment: str
    text: str
    objects: tuple[Mapping[str, Any], ...]
    namespace: str

    @property
    def deployment(self) -> Mapping[str, Any]:
        """The ``triton`` Deployment among the objects."""
        for obj in self.objects:
            if (
                obj.get("kind") == "Deployment"
                and obj.get("metadata", {}).get("name") == DEPLOYMENT
            ):
                return obj
        raise DeployError(
            f"The rendered {self.environment} overlay has no Deployment {DEPLOYMENT!r}."
        )


def overlay_dir(manifests: Path, environment: str) -> Path:
    """``manifests/overlays/<environment>``, checked to be there.

    Raises:
        DeployError: the environment name is invalid or has no overlay.

    Example:
        >>> overlay_dir(Path("deployment/k8s"), "staging")  # doctest: +SKIP
        PosixPath('deployment/k8s/overlays/staging')
    """
    try:
        environment_key(environment)
    except StorageError as exc:
        raise DeployError(str(exc)) from exc
    overlay = manifests / "overlays" / environment
    if not (overlay / "kustomization.yaml").is_file():
        found = sorted(p.name for p in (manifests / "overlays").glob("*") if p.is_dir())
        raise DeployError(
            f"No overlay for environment {environment!r}: {overlay}/kustomization.yaml is "
            f"missing. Overlays in {manifests}: {', '.join(found) or 'none'}. Pass --env one "
            "of them, or --manifests the folder that holds base/ and overlays/."
        )
    return overlay


def render(
    runner: KubectlRunner,
    manifests: Path,
    environment: str,
    *,
    release_id: str | None = None,
    model_repository: str | None = None,
) -> Rendered:
    """Render ``overlays/<environment>``, for ``release_id`` served from ``model_repository``.

    Args:
        runner: the kubectl runner (``kubectl kustomize`` works without a cluster).
        manifests: the folder with ``base/`` and ``overlays/``.
        environment: the overlay's name.
        release_id: the release the pod template gets (None: the overlay as it is).
        model_repository: Triton's ``--model-repository`` for that release.

    Returns:
        The rendered text and objects, with the namespace they go to.

    Raises:
        DeployError: no such overlay, kustomize refused it, or the result has no ``triton``
            Deployment and container, or not exactly one namespace.

    Example:
        >>> render(SubprocessKubectl(), Path("deployment/k8s"), "staging",
        ...        release_id="3f1c", model_repository="s3://models/releases/3f1c")
        ... # doctest: +SKIP
    """
    overlay = overlay_dir(manifests, environment)
    with tempfile.TemporaryDirectory(prefix="orchestrator-render-") as temp:
        copy = Path(temp) / "manifests"
        copy_manifests(manifests, copy)
        target = copy / overlay.relative_to(manifests)
        if release_id is not None and model_repository is not None:
            target = _release_layer(Path(temp) / "release", target, release_id, model_repository)
        result = runner.run(
            ["kustomize", str(target)], input_text=None, timeout_s=_RENDER_TIMEOUT_S
        )
        text = check(
            result,
            "render",
            f"Check the overlay with: kubectl kustomize {overlay}",
        ).stdout
    objects = _parse(text, overlay)
    rendered = Rendered(environment, text, objects, _namespace(objects, overlay))
    container = _container(rendered.deployment, overlay)
    if release_id is not None:
        found = (release_of(rendered.deployment), _env_value(container))
        if found != (release_id, model_repository):
            raise DeployError(
                f"The rendered {overlay} sets release {found[0]!r} and {REPOSITORY_ENV} "
                f"{found[1]!r}, not {release_id!r} and {model_repository!r}: a patch in the "
                "overlay overrides them. Remove it; deploy sets both."
            )
    logger.info("Rendered %s: %d object(s) in %s", overlay, len(objects), rendered.namespace)
    return rendered


def copy_manifests(manifests: Path, target: Path) -> None:
    """Copy the manifests folder under the untrusted-input rule (``core.untrusted``).

    Regular files and folders only: a symbolic link (kustomize's own guard refuses files
    not in or below the kustomization; a link would smuggle any file of this machine into
    the rendered objects), a FIFO or a device is refused by name, nothing is read through
    it. Each file is at most ``MANIFEST_MAX_BYTES``, all together ``MANIFESTS_MAX_BYTES``,
    and the tree at most ``untrusted.MAX_DEPTH`` deep.

    Raises:
        DeployError: a link, special file, or a file or tree over the limits.

    Example:
        >>> copy_manifests(Path("deployment/k8s"), Path("/tmp/render/manifests"))  # doctest: +SKIP
    """
    try:
        found = untrusted.walk(manifests)
        total = 0
        target.mkdir(parents=True)
        for entry in found:
            if entry.kind == "folder":
                (target / entry.name).mkdir()
                continue
            untrusted.require_kind(manifests, entry, "file")
            data = untrusted.read_bytes(manifests, entry.name, max_bytes=MANIFEST_MAX_BYTES)
            total += len(data)
            if total > MANIFESTS_MAX_BYTES:
                raise DeployError(
                    f"{manifests} holds over {MANIFESTS_MAX_BYTES} bytes of files; a manifests "
                    "folder is a few KiB of YAML. Point --manifests at the folder with base/ "
                    "and overlays/ only."
                )
            (target / entry.name).write_bytes(data)
    except UnsafeFileError as exc:
        raise DeployError(
            f"Refusing to render {manifests}: {exc} Manifests are read as regular files "
            "inside the folder only (as kustomize's own 'not in or below' rule)."
        ) from exc


def placeholder_image(rendered: Rendered) -> str | None:
    """The Triton container's image when it is still the shipped placeholder, else None.

    Example:
        >>> placeholder_image(render(runner, Path("deployment/k8s"), "staging"))  # doctest: +SKIP
        'ghcr.io/your-org/triton-orchestrator-triton:24.10'
    """
    containers = rendered.deployment.get("spec", {}).get("template", {}).get("spec", {})
    for container in containers.get("containers") or []:
        image = container.get("image")
        if container.get("name") == CONTAINER and str(image).startswith(PLACEHOLDER_REGISTRY):
            return str(image)
    return None


def release_of(deployment: Mapping[str, Any]) -> str | None:
    """The release a Deployment's pod template carries (its annotation), if any.

    Example:
        >>> release_of({"spec": {"template": {"metadata": {"annotations": {
        ...     "triton-orchestrator/release": "3f1c"}}}}})
        '3f1c'
    """
    value = template_annotations(deployment).get(RELEASE_ANNOTATION)
    return value if isinstance(value, str) and value else None


def template_annotations(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod template's annotations; ``{}`` where any level is not an object.

    What kubectl prints is untrusted (issue 23): a ``spec`` that is a string, or
    annotations that are a list, read as absent rather than as a traceback.

    Example:
        >>> template_annotations({"spec": "x"})
        {}
    """
    node: Any = deployment
    for key in ("spec", "template", "metadata", "annotations"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _release_layer(folder: Path, overlay: Path, release_id: str, model_repository: str) -> Path:
    # JSON is YAML: the layer is written without a YAML emitter, and quoting is exact.
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT},
        "spec": {
            "template": {
                "metadata": {"annotations": {RELEASE_ANNOTATION: release_id}},
                "spec": {
                    "containers": [
                        {
                            "name": CONTAINER,
                            "env": [{"name": REPOSITORY_ENV, "value": model_repository}],
                        }
                    ]
                },
            }
        },
    }
    folder.mkdir()
    (folder / "release-patch.yaml").write_text(json.dumps(patch, indent=2) + "\n")
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [str(Path("..") / overlay.relative_to(folder.parent))],
        "patches": [{"path": "release-patch.yaml"}],
    }
    (folder / "kustomization.yaml").write_text(json.dumps(kustomization, indent=2) + "\n")
    return folder


def _parse(text: str, overlay: Path) -> tuple[Mapping[str, Any], ...]:
    try:
        documents = load_documents(text, what=f"What kubectl kustomize {overlay} printed")
    except ConfigError as exc:
        raise DeployError(str(exc)) from exc
    if not all(isinstance(d, dict) for d in documents):
        raise DeployError(f"kubectl kustomize {overlay} printed something other than objects.")
    return tuple(documents)


def _namespace(objects: Sequence[Mapping[str, Any]], overlay: Path) -> str:
    namespaces = {
        str(obj.get("metadata", {}).get("namespace"))
        for obj in objects
        if obj.get("kind") != "Namespace" and obj.get("metadata", {}).get("namespace")
    }
    deployment_ns = next(
        (
            obj.get("metadata", {}).get("namespace")
            for obj in objects
            if obj.get("kind") == "Deployment" and obj.get("metadata", {}).get("name") == DEPLOYMENT
        ),
        None,
    )
    if not deployment_ns or len(namespaces) != 1:
        raise DeployError(
            f"The objects of {overlay} go to namespace(s) {sorted(namespaces) or 'none'}; "
            "expected exactly one, set on the Deployment. Set `namespace:` in the overlay's "
            "kustomization.yaml."
        )
    return str(deployment_ns)


def _container(deployment: Mapping[str, Any], overlay: Path) -> Mapping[str, Any]:
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    for container in containers or []:
        if container.get("name") == CONTAINER:
            return dict(container)
    raise DeployError(
        f"Deployment {DEPLOYMENT!r} of {overlay} has no container named {CONTAINER!r}; "
        "deploy sets that container's MODEL_REPOSITORY. Name the Triton container triton."
    )


def _env_value(container: Mapping[str, Any]) -> str | None:
    for entry in container.get("env") or []:
        if entry.get("name") == REPOSITORY_ENV:
            value = entry.get("value")
            return str(value) if value is not None else None
    return None
