"""What an environment runs: its pointer, its pod template, its rollout, and each pod's models.

``status`` puts side by side

- the release the environment pointer names (what ``deploy`` last finished),
- the release in the Deployment's pod template (its ``triton-orchestrator/release``
  annotation: what the cluster is rolling out or runs),
- the deployed units beside them: the pointer's ``unit`` and the template's
  ``triton-orchestrator/unit`` (the digest of the manifests applied: ``deploy.unit``),
- the rollout state (``complete``, ``progressing``, ``failed`` or ``absent``), and
- for every Ready pod, the models and versions its Triton has loaded (its repository
  index, through ``kubectl port-forward`` to that pod, or the one ``url`` given) against
  the manifest of the pod's own release.

Every disagreement is one line in ``drift``; none means the environment runs what its
pointer says, everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator import client
from orchestrator.core.jsonform import plain
from orchestrator.deploy import render as render_mod
from orchestrator.deploy import unit as unit_mod
from orchestrator.deploy.cluster import Pod, deployment_state, list_pods
from orchestrator.deploy.kubectl import KubectlRunner, port_forward
from orchestrator.errors import DeployError, OrchestratorError
from orchestrator.releases.environments import EnvironmentPointer, read_environment
from orchestrator.releases.manifest import RELEASE_FILENAME, parse_release_document, release_prefix
from orchestrator.releases.stores.base import Store
from orchestrator.serving.triton.flags import PRODUCTION_PORTS

__all__ = ["EnvironmentStatus", "PodModels", "Rollout", "environment_status"]

logger = logging.getLogger(__name__)

_FORWARD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Rollout:
    """The Deployment's rollout, as ``kubectl rollout status`` would judge it."""

    state: str
    replicas: int
    updated: int
    ready: int
    available: int
    message: str


@dataclass(frozen=True)
class PodModels:
    """One Ready pod (or the ``url`` given): its release and the versions its Triton loaded."""

    pod: str
    release: str | None
    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    error: str | None = None

    @property
    def drift(self) -> bool:
        """Whether the pod serves other than its release says (or could not be read)."""
        return bool(self.missing or self.unexpected or self.error)


@dataclass(frozen=True)
class EnvironmentStatus:
    """An environment's pointer, pod template, rollout and pods; ``drift`` lists what differs."""

    environment: str
    namespace: str
    pointer_release: str | None
    previous_release: str | None
    template_release: str | None
    rollout: Rollout
    pods: tuple[Pod, ...]
    models: tuple[PodModels, ...]
    drift: tuple[str, ...]
    pointer_unit: str | None = None
    previous_unit: str | None = None
    template_unit: str | None = None
    # Set when kubectl could not read the cluster: the pointer above is still the store's.
    cluster_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field, tuples as lists, each pod's ``drift`` added."""
        body: dict[str, Any] = plain(asdict(self))
        for entry, models in zip(body["models"], self.models, strict=True):
            entry["drift"] = models.drift
        return body


def environment_status(
    store: Store,
    environment: str,
    *,
    runner: KubectlRunner,
    manifests: Path = render_mod.DEFAULT_MANIFESTS,
    url: str | None = None,
) -> EnvironmentStatus:
    """Read what ``environment`` runs, from the store and the cluster, and mark any drift.

    Args:
        store: the store with the environment pointer and the releases.
        environment: the overlay and pointer name.
        runner: runs kubectl.
        manifests: the folder with ``overlays/<environment>`` (for the namespace).
        url: check this one ``HOST:PORT`` instead of port-forwarding to every Ready pod.

    Raises:
        DeployError: the overlay cannot be rendered, or kubectl cannot read the cluster.

    Example:
        >>> environment_status(open_store("s3://models/prod"), "staging",
        ...                    runner=SubprocessKubectl()).drift  # doctest: +SKIP
        ()
    """
    pointer = read_environment(store, environment)
    namespace = render_mod.render(runner, manifests, environment).namespace
    try:
        deployment = deployment_state(runner, namespace)
    except DeployError as exc:
        return _without_cluster(environment, namespace, pointer, exc)
    template = render_mod.release_of(deployment) if deployment is not None else None
    pods = tuple(list_pods(runner, namespace)) if deployment is not None else ()
    manifests_read: dict[str, set[str] | str] = {}
    models: tuple[PodModels, ...]
    if url is not None:
        models = (_models(url, url, template, store, manifests_read),)
    else:
        models = tuple(
            _pod_models(runner, namespace, pod, store, manifests_read) for pod in pods if pod.ready
        )
    pointer_release = pointer.release_id if pointer else None
    drift = _drift(pointer_release, template, pods, models)
    # issue 18: the unit (manifests applied) as well as the release
    pointer_unit = pointer.unit if pointer else None
    template_unit = unit_mod.unit_of(deployment)
    if pointer_unit and template_unit and template_unit != pointer_unit:
        drift += (
            f"the pod template runs unit {template_unit or 'none'}, the pointer names unit "
            f"{pointer_unit}: other manifests were applied since the last deploy",
        )
    logger.info("Status of %s: %d pod(s), %d drift line(s)", environment, len(pods), len(drift))
    return EnvironmentStatus(
        environment,
        namespace,
        pointer_release,
        pointer.previous_release_id if pointer else None,
        template,
        _rollout(deployment),
        pods,
        models,
        drift,
        pointer_unit,
        pointer.previous_unit if pointer else None,
        template_unit,
    )


def _without_cluster(
    environment: str, namespace: str, pointer: EnvironmentPointer | None, exc: DeployError
) -> EnvironmentStatus:
    # kubectl's own lines (a missing kube context prints several) go to the log (-v);
    # the user reads one line saying what could not be read and what to try.
    logger.info("%s", exc)
    return EnvironmentStatus(
        environment,
        namespace,
        pointer.release_id if pointer else None,
        pointer.previous_release_id if pointer else None,
        None,
        Rollout("unknown", 0, 0, 0, 0, "the cluster could not be read"),
        (),
        (),
        (),
        pointer_unit=pointer.unit if pointer else None,
        previous_unit=pointer.previous_unit if pointer else None,
        cluster_error=(
            f"No cluster reachable: kubectl could not read deployment/triton in namespace "
            f"{namespace}. Check the kube context (kubectl config current-context), or add "
            "-v (orchestrator -v status ...) to see kubectl's own output."
        ),
    )


def _pod_models(
    runner: KubectlRunner,
    namespace: str,
    pod: Pod,
    store: Store,
    cache: dict[str, set[str] | str],
) -> PodModels:
    try:
        with port_forward(
            runner,
            namespace,
            f"pod/{pod.name}",
            PRODUCTION_PORTS["http"],
            timeout_s=_FORWARD_TIMEOUT_S,
        ) as url:
            return _models(pod.name, url, pod.release, store, cache)
    except OrchestratorError as exc:
        return PodModels(pod.name, pod.release, (), (), (), error=str(exc))


def _models(
    name: str, url: str, release: str | None, store: Store, cache: dict[str, set[str] | str]
) -> PodModels:
    try:
        loaded = {
            f"{row.name}/{row.version}"
            for row in client.repository_index(url)
            if row.state == "READY"
        }
    except OrchestratorError as exc:
        return PodModels(name, release, (), (), (), error=str(exc))
    if release is None:
        return PodModels(name, None, tuple(sorted(loaded)), (), (), error="no release annotation")
    expected = cache.get(release)
    if expected is None:
        expected = cache[release] = _expected(store, release)
    if isinstance(expected, str):
        return PodModels(name, release, tuple(sorted(loaded)), (), (), error=expected)
    return PodModels(
        name,
        release,
        tuple(sorted(loaded)),
        tuple(sorted(expected - loaded)),
        tuple(sorted(loaded - expected)),
    )


def _expected(store: Store, release_id: str) -> set[str] | str:
    """The ``model/version`` pairs a release serves, or why they cannot be read."""
    try:
        key = release_prefix(release_id) + RELEASE_FILENAME
        found = store.read(key)
        if found is None:
            return f"release {release_id} has no {RELEASE_FILENAME} in {store.url}"
        release = parse_release_document(found.data, f"{store.url}/{key}")
    except OrchestratorError as exc:
        return str(exc)
    return {f"{m.name}/{v}" for m in release.models for v in m.versions}


def _rollout(deployment: Mapping[str, Any] | None) -> Rollout:
    if deployment is None:
        return Rollout("absent", 0, 0, 0, 0, "no Deployment triton in the namespace")
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    counts = [int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas")]
    available = int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    message = str(progressing.get("message", ""))
    observed = int(status.get("observedGeneration", 0))
    generation = int(deployment.get("metadata", {}).get("generation", 0))
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        state = "failed"
    elif observed >= generation and counts[0] >= wanted and total == counts[0] == available:
        state = "complete"
    else:
        state = "progressing"
    return Rollout(state, wanted, counts[0], counts[1], available, message)


def _drift(
    pointer: str | None,
    template: str | None,
    pods: tuple[Pod, ...],
    models: tuple[PodModels, ...],
) -> tuple[str, ...]:
    lines = []
    if template != pointer:
        lines.append(
            f"the pod template runs release {template or 'none'}, the pointer names "
            f"{pointer or 'none'}"
        )
    lines += [
        f"pod {pod.name} runs release {pod.release or 'none'}, the template {template or 'none'}"
        for pod in pods
        if pod.release != template
    ]
    for entry in models:
        if entry.error:
            lines.append(f"{entry.pod}: could not compare ({entry.error})")
        if entry.missing:
            lines.append(f"{entry.pod}: not loaded: {', '.join(entry.missing)}")
        if entry.unexpected:
            lines.append(f"{entry.pod}: loaded beyond its release: {', '.join(entry.unexpected)}")
    return tuple(lines)
