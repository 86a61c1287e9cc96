"""What the cluster has: the ``triton`` Deployment, its pods, and waiting for a rollout.

Read through the kubectl runner as JSON (``--output=json``); shared by ``rollout``
(the state to undo to, the wait, why pods are not ready) and ``status``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.deploy.kubectl import KubectlRunner, check
from orchestrator.deploy.render import DEPLOYMENT, POD_SELECTOR, RELEASE_ANNOTATION
from orchestrator.errors import DeployError

__all__ = [
    "REVISION_ANNOTATION",
    "TARGET",
    "Pod",
    "deployment_state",
    "list_pods",
    "pod_problems",
    "revision_of",
    "wait_for_rollout",
]

logger = logging.getLogger(__name__)

TARGET = f"deployment/{DEPLOYMENT}"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
_GET_TIMEOUT_S = 60.0
_KUBECTL_GRACE_S = 60.0


@dataclass(frozen=True)
class Pod:
    """One Triton pod: whether it is Ready, its release, and why a container waits."""

    name: str
    ready: bool
    release: str | None
    phase: str
    restarts: int
    waiting: tuple[str, ...]


def deployment_state(runner: KubectlRunner, namespace: str) -> Mapping[str, Any] | None:
    """The ``triton`` Deployment as the cluster has it, or None when there is none.

    Raises:
        DeployError: kubectl failed, or printed something that is not a Deployment.

    Example:
        >>> deployment_state(SubprocessKubectl(), "triton-staging")  # doctest: +SKIP
    """
    args = ["get", TARGET, "--namespace", namespace, "--ignore-not-found", "--output=json"]
    body = _get_json(runner, args, "read the Deployment")
    if body is None:
        return None
    if body.get("kind") != "Deployment":
        raise DeployError(f"kubectl {' '.join(args)} printed no Deployment.")
    return body


def revision_of(deployment: Mapping[str, Any]) -> str | None:
    """The Deployment's revision (``deployment.kubernetes.io/revision``), if set.

    Example:
        >>> revision_of({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "4"}}})
        '4'
    """
    value = (deployment.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    return str(value) if value else None


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
    return sorted((_pod(item) for item in items), key=lambda pod: pod.name)


def wait_for_rollout(runner: KubectlRunner, namespace: str, timeout_s: float, step: str) -> None:
    """``kubectl rollout status`` until the Deployment is rolled out, or fail as ``step``.

    Raises:
        DeployError: the rollout did not finish within ``timeout_s`` (or failed); the
            message names the pods that are not ready and why.

    Example:
        >>> wait_for_rollout(runner, "triton-staging", 900, "rollout")  # doctest: +SKIP
    """
    args = ["rollout", "status", TARGET, "--namespace", namespace, f"--timeout={timeout_s:g}s"]
    done = runner.run(args, input_text=None, timeout_s=timeout_s + _KUBECTL_GRACE_S)
    if not done.ok:
        check(done, step, pod_problems(runner, namespace))


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
    problems = [
        f"pod {pod.name}: {', '.join(pod.waiting)} ({pod.restarts} restarts)"
        for pod in pods
        if pod.waiting
    ]
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
    if not done.stdout.strip():
        return None
    try:
        body = json.loads(done.stdout)
    except ValueError as exc:
        raise DeployError(f"kubectl {' '.join(args)} printed no JSON ({exc}).") from exc
    if not isinstance(body, dict):
        raise DeployError(f"kubectl {' '.join(args)} printed no object.")
    return body


def _pod(item: Mapping[str, Any]) -> Pod:
    metadata = item.get("metadata") or {}
    status = item.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    containers = status.get("containerStatuses") or []
    waiting = tuple(
        str(reason)
        for c in containers
        if (reason := ((c.get("state") or {}).get("waiting") or {}).get("reason"))
    )
    release = (metadata.get("annotations") or {}).get(RELEASE_ANNOTATION)
    return Pod(
        name=str(metadata.get("name", "?")),
        ready=ready,
        release=str(release) if release else None,
        phase=str(status.get("phase", "Unknown")),
        restarts=sum(int(c.get("restartCount", 0)) for c in containers),
        waiting=waiting,
    )
