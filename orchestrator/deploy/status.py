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

The whole read has one deadline (``timeout_s``, at most ``MAX_STATUS_TIMEOUT_S``): each
kubectl command, port-forward and Triton call gets what is left of it, so a slow cluster
or a pod that trickles its answer cannot hold ``status`` for minutes. What did not answer
in time is named in ``cluster_error`` (kubectl) or ``deadline_error`` (pods).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator import client
from orchestrator.core.jsonform import plain
from orchestrator.deploy import render as render_mod
from orchestrator.deploy import unit as unit_mod
from orchestrator.deploy.cluster import (
    Pod,
    condition,
    count,
    deployment_state,
    generation_of,
    list_pods,
    obj,
)
from orchestrator.deploy.kubectl import (
    Background,
    Completed,
    KubectlRunner,
    UnreadableAnswer,
    port_forward,
    shown,
)
from orchestrator.errors import DeployError, OrchestratorError
from orchestrator.releases.environments import EnvironmentPointer, read_environment
from orchestrator.releases.manifest import RELEASE_FILENAME, parse_release_document, release_prefix
from orchestrator.releases.stores.base import Store
from orchestrator.serving.triton.flags import PRODUCTION_PORTS

__all__ = [
    "DEFAULT_STATUS_TIMEOUT_S",
    "MAX_STATUS_TIMEOUT_S",
    "EnvironmentStatus",
    "PodModels",
    "Rollout",
    "environment_status",
]

logger = logging.getLogger(__name__)

_FORWARD_TIMEOUT_S = 30.0
_TRITON_TIMEOUT_S = 60.0
# How much of an unreadable answer's reason the error line shows.
_SHOWN_REASON_CHARS = 400
DEFAULT_STATUS_TIMEOUT_S = 120.0
# Past this, a "deadline" is a typo: status reads, it never waits on a rollout.
MAX_STATUS_TIMEOUT_S = 1800.0


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
    # Set when the status deadline passed before every Ready pod was read.
    deadline_error: str | None = None

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
    timeout_s: float = DEFAULT_STATUS_TIMEOUT_S,
) -> EnvironmentStatus:
    """Read what ``environment`` runs, from the store and the cluster, and mark any drift.

    Args:
        store: the store with the environment pointer and the releases.
        environment: the overlay and pointer name.
        runner: runs kubectl.
        manifests: the folder with ``overlays/<environment>`` (for the namespace).
        url: check this one ``HOST:PORT`` instead of port-forwarding to every Ready pod.
        timeout_s: the deadline of the whole read (kubectl, port-forwards, Triton).

    Raises:
        DeployError: the overlay cannot be rendered, kubectl cannot list the pods, or
            ``timeout_s`` is not a number of seconds up to ``MAX_STATUS_TIMEOUT_S``.

    Example:
        >>> environment_status(open_store("s3://models/prod"), "staging",
        ...                    runner=SubprocessKubectl()).drift  # doctest: +SKIP
        ()
    """
    if not 0 < timeout_s <= MAX_STATUS_TIMEOUT_S:  # also refuses nan
        raise DeployError(
            f"The status deadline {timeout_s!r} s is not between 0 and "
            f"{MAX_STATUS_TIMEOUT_S:g} s. Pass --timeout-s with a number of seconds such as 60."
        )
    budget = _Budget(timeout_s)
    runner = _WithinBudget(runner, budget)
    pointer = read_environment(store, environment)
    namespace = render_mod.render(runner, manifests, environment).namespace
    try:
        deployment = deployment_state(runner, namespace)
    except DeployError as exc:
        return _without_cluster(environment, namespace, pointer, exc, budget)
    template = render_mod.release_of(deployment) if deployment is not None else None
    pods = tuple(list_pods(runner, namespace)) if deployment is not None else ()
    manifests_read: dict[str, set[str] | str] = {}
    models: tuple[PodModels, ...]
    if url is not None:
        models = (_models(url, url, template, store, manifests_read, budget),)
    else:
        models = tuple(
            _pod_models(runner, namespace, pod, store, manifests_read, budget)
            for pod in pods
            if pod.ready
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
        deadline_error=budget.missed(),
    )


class _Budget:
    """One deadline for the whole status read; what did not answer before it, by name."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.late: list[str] = []

    def left(self, step_s: float) -> float:
        """The time ``step`` may take: its own limit, or what is left of the deadline."""
        return max(0.0, min(step_s, self.deadline - time.monotonic()))

    @property
    def spent(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self.deadline

    def note(self, what: str) -> str:
        """Record that ``what`` did not answer before the deadline; the line that says so."""
        self.late.append(what)
        return f"{what} did not answer within status's {self.timeout_s:g} s deadline"

    def missed(self) -> str | None:
        """One message naming everything that did not answer in time (None: all did)."""
        if not self.late:
            return None
        return (
            f"status ended at its {self.timeout_s:g} s deadline: {'; '.join(self.late)} did "
            "not answer in time. Check the cluster and the pods (kubectl get pods), or raise "
            "--timeout-s."
        )


class _WithinBudget:
    """A kubectl runner whose every command gets at most what is left of the deadline."""

    def __init__(self, runner: KubectlRunner, budget: _Budget) -> None:
        self.runner = runner
        self.budget = budget

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        command = f"kubectl {' '.join(args)}"
        if self.budget.spent:
            raise DeployError(self.budget.note(command) + " (it was not started).")
        try:
            return self.runner.run(
                args, input_text=input_text, timeout_s=max(0.1, self.budget.left(timeout_s))
            )
        except DeployError as exc:
            if self.budget.spent:
                raise DeployError(self.budget.note(command) + ".") from exc
            raise

    def start(self, args: Sequence[str]) -> Background:
        return self.runner.start(args)

    def monotonic(self) -> float:
        return self.runner.monotonic()

    def sleep(self, seconds: float) -> None:
        self.runner.sleep(seconds)


def _without_cluster(
    environment: str,
    namespace: str,
    pointer: EnvironmentPointer | None,
    exc: DeployError,
    budget: _Budget,
) -> EnvironmentStatus:
    # kubectl's own lines (a missing kube context prints several) go to the log (-v);
    # the user reads one line saying what could not be read and what to try.
    logger.info("%s", exc)
    if isinstance(exc, UnreadableAnswer) and not budget.late:
        # Something answered: say what was wrong with its answer (made safe, shortened).
        error = (
            f"kubectl answered, but not with a Deployment status can read: "
            f"{shown(str(exc), _SHOWN_REASON_CHARS)} Check the kube context (kubectl config "
            "current-context): it may name a server that is not a Kubernetes API server."
        )
    else:
        error = "No cluster reachable: " + _unreachable(namespace, budget)
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
        cluster_error=error,
    )


def _unreachable(namespace: str, budget: _Budget) -> str:
    return (
        f"kubectl did not answer within status's {budget.timeout_s:g} s deadline "
        f"(--timeout-s) when reading deployment/triton in namespace {namespace}. Check that "
        "the cluster answers (kubectl cluster-info), or raise --timeout-s."
        if budget.late
        else f"kubectl could not read deployment/triton in namespace {namespace}. Check the "
        "kube context (kubectl config current-context), or add -v (orchestrator -v status "
        "...) to see kubectl's own output."
    )


def _pod_models(
    runner: KubectlRunner,
    namespace: str,
    pod: Pod,
    store: Store,
    cache: dict[str, set[str] | str],
    budget: _Budget,
) -> PodModels:
    what = f"pod {pod.name} (port-forward)"
    if budget.spent:
        return PodModels(pod.name, pod.release, (), (), (), error=budget.note(what))
    try:
        with port_forward(
            runner,
            namespace,
            f"pod/{pod.name}",
            PRODUCTION_PORTS["http"],
            timeout_s=max(0.1, budget.left(_FORWARD_TIMEOUT_S)),
        ) as url:
            return _models(pod.name, url, pod.release, store, cache, budget)
    except OrchestratorError as exc:
        error = budget.note(what) if budget.spent else str(exc)
        return PodModels(pod.name, pod.release, (), (), (), error=error)


def _models(
    name: str,
    url: str,
    release: str | None,
    store: Store,
    cache: dict[str, set[str] | str],
    budget: _Budget,
) -> PodModels:
    what = f"Triton at {url}" + ("" if name == url else f" (pod {name})")
    if budget.spent:
        return PodModels(name, release, (), (), (), error=budget.note(what))
    try:
        loaded = {
            f"{row.name}/{row.version}"
            for row in client.repository_index(
                url, timeout_s=max(0.1, budget.left(_TRITON_TIMEOUT_S))
            )
            if row.state == "READY"
        }
    except OrchestratorError as exc:
        error = budget.note(what) if budget.spent else str(exc)
        return PodModels(name, release, (), (), (), error=error)
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
    # What kubectl printed is untrusted: every field through a shape check (cluster.py).
    spec, status = obj(deployment.get("spec")), obj(deployment.get("status"))
    wanted = count(spec["replicas"]) if "replicas" in spec else 1
    counts = [count(status.get(k)) for k in ("updatedReplicas", "readyReplicas")]
    available = count(status.get("availableReplicas"))
    total = count(status.get("replicas"))
    progressing = condition(deployment, "Progressing")
    message = shown(str(progressing.get("message", "")), 500)
    observed = count(status.get("observedGeneration"))
    generation = generation_of(deployment)
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
