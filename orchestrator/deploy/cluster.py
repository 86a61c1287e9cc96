"""What the cluster has: the ``triton`` Deployment, its pods and their events.

Read through the kubectl runner as JSON (``--output=json``); shared by ``rollout``
(the state to undo to, the wait, why pods are not ready) and ``status``. Everything
kubectl prints is untrusted (issue 23): parsed with bounds (``kubectl.parse_json``),
every field read through a shape check (a wrong type reads as absent), every text shown
through ``kubectl.shown``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.deploy.kubectl import (
    KubectlRunner,
    UnreadableAnswer,
    check,
    parse_json,
    shown,
)
from orchestrator.deploy.render import DEPLOYMENT, POD_SELECTOR, RELEASE_ANNOTATION
from orchestrator.errors import DeployError

__all__ = [
    "REVISION_ANNOTATION",
    "TARGET",
    "Event",
    "Pod",
    "condition",
    "count",
    "deployment_state",
    "generation_of",
    "list_events",
    "list_pods",
    "obj",
    "pod_problems",
    "problems_of",
    "replicas_of",
    "revision_of",
]

logger = logging.getLogger(__name__)

TARGET = f"deployment/{DEPLOYMENT}"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
_GET_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Pod:
    """One Triton pod as ``kubectl get pods`` shows it (shape-checked).

    ``deleting``: it has a ``deletionTimestamp`` (terminating; it may still be Ready and
    answer a port-forward). ``unschedulable``: the scheduler's message when
    ``PodScheduled`` is ``False`` with reason ``Unschedulable``, and ``unschedulable_since``
    that condition's ``lastTransitionTime``.
    """

    name: str
    ready: bool
    release: str | None
    phase: str
    restarts: int
    waiting: tuple[str, ...]
    deleting: bool = False
    created: str = ""
    ready_since: str = ""
    unschedulable: str = ""
    unschedulable_since: str = ""
    template_hash: str = ""
    last_exit: str = ""


@dataclass(frozen=True)
class Event:
    """One Kubernetes event about a pod: ``Unhealthy``, ``Failed``, ``FailedScheduling``..."""

    pod: str
    reason: str
    message: str
    count: int


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (shape check).

    Example:
        >>> obj(["not", "an", "object"])
        {}
    """
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return shown(str(value), 500) if isinstance(value, str | int | float) else ""


def count(value: Any) -> int:
    """A count kubectl printed: a non-negative int (up to 2**31), else 0 (shape check).

    Example:
        >>> [count(3), count("4"), count(1e400), count([2]), count(True)]
        [3, 4, 0, 0, 0]
    """
    return _int(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, min(value, 2**31))
    if isinstance(value, str) and value.isdigit() and len(value) < 10:
        return int(value)
    return 0


def deployment_state(runner: KubectlRunner, namespace: str) -> Mapping[str, Any] | None:
    """The ``triton`` Deployment as the cluster has it, or None when there is none.

    Raises:
        DeployError: kubectl failed.
        UnreadableAnswer: kubectl printed something that is not a Deployment (its
            metadata, spec and status must be objects), or nothing that can be read.

    Example:
        >>> deployment_state(SubprocessKubectl(), "triton-staging")  # doctest: +SKIP
    """
    args = ["get", TARGET, "--namespace", namespace, "--ignore-not-found", "--output=json"]
    body = _get_json(runner, args, "read the Deployment")
    if body is None:
        return None
    if body.get("kind") != "Deployment":
        raise UnreadableAnswer(f"kubectl {' '.join(args)} printed no Deployment.")
    for part in ("metadata", "spec", "status"):
        if part in body and not isinstance(body[part], dict):
            raise UnreadableAnswer(
                f"kubectl {' '.join(args)} printed a Deployment whose {part} is a "
                f"{type(body[part]).__name__}, not an object. Check the kube context: no "
                "API server answers so."
            )
    return body


def revision_of(deployment: Mapping[str, Any]) -> str | None:
    """The Deployment's revision (``deployment.kubernetes.io/revision``), if set.

    Example:
        >>> revision_of({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "4"}}})
        '4'
    """
    value = obj(obj(deployment.get("metadata")).get("annotations")).get(REVISION_ANNOTATION)
    return str(_int(value)) if _int(value) else None


def generation_of(deployment: Mapping[str, Any]) -> int:
    """``metadata.generation`` (0 when absent): it grows with every change of the spec.

    Example:
        >>> generation_of({"metadata": {"generation": 7}})
        7
    """
    return _int(obj(deployment.get("metadata")).get("generation"))


def replicas_of(deployment: Mapping[str, Any] | None) -> int:
    """How many pods the Deployment runs (``spec.replicas``, else ``status.replicas``; >= 1).

    Example:
        >>> replicas_of({"spec": {"replicas": 3}})
        3
    """
    if deployment is None:
        return 1
    spec = _int(obj(deployment.get("spec")).get("replicas"))
    return max(1, spec or _int(obj(deployment.get("status")).get("replicas")))


def condition(deployment: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The Deployment's status condition of type ``kind`` (``Progressing``), or ``{}``.

    Example:
        >>> condition({"status": {"conditions": [{"type": "Progressing"}]}}, "Progressing")
        {'type': 'Progressing'}
    """
    for item in _list(obj(deployment.get("status")).get("conditions")):
        if obj(item).get("type") == kind:
            return obj(item)
    return {}


def list_pods(runner: KubectlRunner, namespace: str) -> list[Pod]:
    """The Triton pods (selected by ``app.kubernetes.io/name=triton``), by name.

    Raises:
        DeployError: kubectl failed or printed no pod list.

    Example:
        >>> [p.name for p in list_pods(SubprocessKubectl(), "triton-staging")]  # doctest: +SKIP
        ['triton-7d9f-abcde']
    """
    args = ["get", "pods", "--namespace", namespace, "--selector", POD_SELECTOR, "--output=json"]
    body = _get_json(runner, args, "list the pods") or {}
    items = body.get("items")
    if not isinstance(items, list):
        raise DeployError(f"kubectl {' '.join(args)} printed no pod list.")
    return sorted((_pod(obj(item)) for item in items), key=lambda pod: pod.name)


def list_events(runner: KubectlRunner, namespace: str) -> list[Event]:
    """The namespace's events about pods (scheduling, image pulls, probes), oldest first.

    Raises:
        DeployError: kubectl failed or printed no event list.

    Example:
        >>> list_events(SubprocessKubectl(), "triton-staging")  # doctest: +SKIP
        [Event(pod='triton-7d9f-abcde', reason='Unhealthy', message='Startup probe failed: ...')]
    """
    args = [
        "get",
        "events",
        "--namespace",
        namespace,
        "--field-selector",
        "involvedObject.kind=Pod",
        "--output=json",
    ]
    body = _get_json(runner, args, "read the events") or {}
    items = body.get("items")
    if not isinstance(items, list):
        raise DeployError(f"kubectl {' '.join(args)} printed no event list.")
    events = []
    for item in items:
        event = obj(item)
        events.append(
            Event(
                _text(obj(event.get("involvedObject")).get("name")),
                _text(event.get("reason")),
                _text(event.get("message")),
                _int(event.get("count")) or 1,
            )
        )
    return events


def pod_problems(runner: KubectlRunner, namespace: str) -> str:
    """The pods that are not ready and why (``CrashLoopBackOff``, ...), as a hint to print.

    Example:
        >>> pod_problems(SubprocessKubectl(), "triton-staging")  # doctest: +SKIP
        'Not ready: pod triton-7d9f-abcde: CrashLoopBackOff (5 restarts). ...'
    """
    try:
        pods = list_pods(runner, namespace)
    except DeployError as exc:
        return f"The pods could not be listed ({exc})."
    return problems_of(pods, namespace)


def problems_of(pods: list[Pod], namespace: str) -> str:
    """``pod_problems`` of pods already listed.

    Example:
        >>> problems_of([], "triton-staging")
        'See kubectl describe deployment/triton --namespace triton-staging.'
    """
    problems = [
        f"pod {pod.name}: {', '.join(pod.waiting)} ({pod.restarts} restarts)"
        for pod in pods
        if pod.waiting
    ] + [f"pod {pod.name}: Pending ({pod.unschedulable})" for pod in pods if pod.unschedulable]
    if not problems:
        return f"See kubectl describe {TARGET} --namespace {namespace}."
    return (
        f"Not ready: {'; '.join(problems)}. Read why with: kubectl logs --previous "
        f"--namespace {namespace} pod/NAME."
    )


def _get_json(runner: KubectlRunner, args: list[str], step: str) -> dict[str, Any] | None:
    done = check(
        runner.run(args, input_text=None, timeout_s=_GET_TIMEOUT_S),
        step,
        "Check your kube context (kubectl config current-context) and its permissions.",
    )
    return parse_json(done.stdout, f"kubectl {' '.join(args)}")


def _pod(item: Mapping[str, Any]) -> Pod:
    metadata = obj(item.get("metadata"))
    status = obj(item.get("status"))
    conditions = {obj(c).get("type"): obj(c) for c in _list(status.get("conditions"))}
    ready = conditions.get("Ready", {}).get("status") == "True"
    scheduled = conditions.get("PodScheduled", {})
    unschedulable = (
        scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
    )
    containers = [obj(c) for c in _list(status.get("containerStatuses"))]
    waiting = tuple(
        _text(reason)
        for c in containers
        if (reason := obj(obj(c.get("state")).get("waiting")).get("reason"))
    )
    last_exit = next(
        (
            _text(obj(obj(c.get("lastState")).get("terminated")).get("reason"))
            for c in containers
            if obj(obj(c.get("lastState")).get("terminated"))
        ),
        "",
    )
    release = obj(metadata.get("annotations")).get(RELEASE_ANNOTATION)
    return Pod(
        name=_text(metadata.get("name")) or "?",
        ready=ready,
        release=_text(release) or None,
        phase=_text(status.get("phase")) or "Unknown",
        restarts=sum(_int(c.get("restartCount")) for c in containers),
        waiting=waiting,
        deleting=bool(metadata.get("deletionTimestamp")),
        created=_text(metadata.get("creationTimestamp")),
        ready_since=_text(conditions.get("Ready", {}).get("lastTransitionTime")) if ready else "",
        unschedulable=_text(scheduled.get("message")) or "Unschedulable" if unschedulable else "",
        unschedulable_since=_text(scheduled.get("lastTransitionTime")) if unschedulable else "",
        template_hash=_text(obj(metadata.get("labels")).get("pod-template-hash")),
        last_exit=last_exit,
    )
