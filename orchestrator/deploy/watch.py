"""Waiting for a rollout as Kubernetes runs it, and reaching exactly its new pods.

``wait_for_rollout`` runs ``kubectl rollout status`` in slices of at most ``SLICE_S``;
between slices it reads the Deployment and the new release's pods and fails at once on
what will not heal, naming the cause:

- the Deployment's ``Progressing`` condition has reason ``ProgressDeadlineExceeded``
  (Kubernetes decides progress: the timer restarts whenever a pod becomes available,
  ``pkg/controller/deployment/progress.go``);
- a new pod stays ``PodScheduled=False`` (reason ``Unschedulable``) for ``stuck_s``, with
  the scheduler's own message (``0/3 nodes are available: 3 Insufficient nvidia.com/gpu``);
  the grace lets a cluster autoscaler add a node;
- a new pod's image cannot be pulled (``ErrImagePull``, ``ImagePullBackOff``, ...);
- a new pod crash-loops (``CrashLoopBackOff`` or two restarts), or was restarted after its
  startup probe failed (the probe's message read from the pod's ``Unhealthy`` events).

The client's own deadline is the caller's, scaled by replicas (``rollout_deadline_s``).

``rollout status`` returns once the old ReplicaSet is scaled to 0, while its pods may be
terminating and still Ready (``status.replicas`` does not count them:
``pkg/controller/controller_utils.go`` ``FilterActivePods``), and ``port-forward svc/``
may pick one of them (kubectl ``GetFirstPod`` does not skip them). ``new_pods`` therefore
waits until no pod of the Deployment runs another release and returns the new release's
Ready pods, to be reached by name (``pod/NAME``); ``new_pod_target`` is the one the gate
uses.
"""

from __future__ import annotations

import logging

from orchestrator.deploy.cluster import (
    TARGET,
    Event,
    Pod,
    condition,
    deployment_state,
    list_events,
    list_pods,
    pod_problems,
    problems_of,
)
from orchestrator.deploy.kubectl import KubectlRunner, check, shown
from orchestrator.errors import DeployError

__all__ = [
    "SLICE_S",
    "STUCK_S",
    "new_pod_target",
    "new_pods",
    "rollout_deadline_s",
    "wait_for_rollout",
]

logger = logging.getLogger(__name__)

SLICE_S = 60.0
# How long a new pod may stay unschedulable: a cluster autoscaler adds a GPU node in a
# few minutes when it can; past this, the rollout would only wait for its deadline.
STUCK_S = 120.0
_KUBECTL_GRACE_S = 60.0
_POLL_S = 2.0
_PULL_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)


def rollout_deadline_s(per_pod_s: float, replicas: int) -> float:
    """The client's deadline for a rollout of ``replicas`` pods, ``per_pod_s`` each.

    With ``maxSurge 1 / maxUnavailable 0`` (or ``0 / 1``) pods are replaced one at a time,
    and Kubernetes' progress deadline restarts with each; so the client allows each pod its
    own budget. The same arithmetic sizes the workflows' ``timeout-minutes`` (README).

    Example:
        >>> rollout_deadline_s(1260, 3)
        3780
    """
    return per_pod_s * max(1, replicas)


def wait_for_rollout(
    runner: KubectlRunner,
    namespace: str,
    release: str | None,
    *,
    deadline_s: float,
    step: str,
    stuck_s: float = STUCK_S,
) -> None:
    """``kubectl rollout status`` until the Deployment is rolled out; fail fast on what won't heal.

    Args:
        runner: runs kubectl (and keeps the clock).
        namespace: the environment's namespace.
        release: the release the new pods run (their ``triton-orchestrator/release``).
        deadline_s: the client's deadline for the whole wait.
        step: the step's name in messages (``rollout``, ``undo``).
        stuck_s: how long a new pod may stay unschedulable.

    Raises:
        DeployError: naming the cause (unschedulable, image pull, crash loop, startup
            probe, ``ProgressDeadlineExceeded``) or the deadline, with the pods' problems.

    Example:
        >>> wait_for_rollout(runner, "triton-staging", "rel-1", deadline_s=1260,
        ...                  step="rollout")  # doctest: +SKIP
    """
    deadline = runner.monotonic() + deadline_s
    first_unschedulable: dict[str, float] = {}
    while True:
        started = runner.monotonic()
        slice_s = max(1.0, min(SLICE_S, deadline - started))
        args = ["rollout", "status", TARGET, "--namespace", namespace, f"--timeout={slice_s:g}s"]
        done = runner.run(args, input_text=None, timeout_s=slice_s + _KUBECTL_GRACE_S)
        if done.ok:
            return
        deployment = deployment_state(runner, namespace)
        progressing = condition(deployment, "Progressing") if deployment is not None else {}
        try:
            pods = list_pods(runner, namespace)
        except DeployError as exc:
            logger.info("Could not list the pods: %s", exc)
            pods = []
        exceeded = progressing.get("reason") == "ProgressDeadlineExceeded"
        cause = _cause(
            runner, namespace, pods, release, first_unschedulable, 0.0 if exceeded else stuck_s
        )
        if exceeded:
            raise DeployError(
                f"Step {step!r} failed: Kubernetes reports ProgressDeadlineExceeded for "
                f"{TARGET} ({shown(str(progressing.get('message', '')), 300)}). "
                + (cause or problems_of(pods, namespace))
            )
        if cause:
            raise DeployError(f"Step {step!r} failed: {cause}")
        now = runner.monotonic()
        if now >= deadline:
            check(done, step, problems_of(pods, namespace))
            raise DeployError(f"Step {step!r} did not finish within {deadline_s:g} s.")
        if now - started < slice_s / 2:
            # kubectl gave up early (a refused connection, a forbidden read): do not spin.
            runner.sleep(min(_POLL_S, max(0.0, deadline - now)))


def new_pods(runner: KubectlRunner, namespace: str, release: str, *, timeout_s: float) -> list[Pod]:
    """The new release's Ready pods, once no pod of the Deployment runs another release.

    Old pods are waited out while they terminate (their preStop pause and drain): until
    then a port-forward could still reach one.

    Raises:
        DeployError: old pods are still there after ``timeout_s``, or no new pod is Ready.

    Example:
        >>> [p.name for p in new_pods(runner, "triton-staging", "rel-1", timeout_s=120)]
        ... # doctest: +SKIP
        ['triton-5f7c-abcde', 'triton-5f7c-fghij']
    """
    deadline = runner.monotonic() + timeout_s
    while True:
        pods = list_pods(runner, namespace)
        others = [pod for pod in pods if pod.release != release]
        if not others:
            ready = [pod for pod in pods if pod.ready and not pod.deleting]
            if ready:
                return ready
            raise DeployError(
                f"No pod of release {release} is Ready in {namespace} after the rollout "
                f"({', '.join(p.name for p in pods) or 'no pods'}). "
                f"{pod_problems(runner, namespace)}"
            )
        if runner.monotonic() >= deadline:
            listed = ", ".join(
                f"{pod.name} (release {pod.release or 'none'}"
                f"{', terminating' if pod.deleting else ''})"
                for pod in others
            )
            raise DeployError(
                f"Pods of another release are still in {namespace} {timeout_s:g} s after the "
                f"rollout: {listed}. Smoking now could reach one of them; check them with "
                f"kubectl get pods --namespace {namespace}."
            )
        logger.info("Waiting for %d pod(s) of another release to go", len(others))
        runner.sleep(_POLL_S)


def new_pod_target(runner: KubectlRunner, namespace: str, release: str, *, timeout_s: float) -> str:
    """``pod/NAME`` of one Ready pod of ``release``, once no other release's pod is left.

    For the gate: it measures the release it names, never an old pod that is terminating.
    The pod Ready longest is chosen (as kubectl's ``GetFirstPod`` would among them).

    Example:
        >>> new_pod_target(runner, "triton-staging", "rel-1", timeout_s=120)  # doctest: +SKIP
        'pod/triton-5f7c-abcde'
    """
    pods = new_pods(runner, namespace, release, timeout_s=timeout_s)
    chosen = min(pods, key=lambda pod: (pod.ready_since or "~", pod.name))
    return f"pod/{chosen.name}"


def _cause(
    runner: KubectlRunner,
    namespace: str,
    listed: list[Pod],
    release: str | None,
    first_unschedulable: dict[str, float],
    stuck_s: float,
) -> str | None:
    """Why a pod of ``release`` will not become Ready by waiting, or None."""
    if release is None:
        return None
    pods = [p for p in listed if p.release == release and not p.deleting]
    now = runner.monotonic()
    for pod in pods:
        if pod.unschedulable:
            since = first_unschedulable.setdefault(pod.name, now)
            if now - since >= stuck_s:
                return (
                    f"pod {pod.name} of release {release} cannot be scheduled for "
                    f"{now - since:g} s: {pod.unschedulable.rstrip('.')}. With the surge strategy "
                    "(maxSurge 1) a rollout needs one spare GPU; free one, add a node, or set "
                    "the overlay's rollout strategy to resource-aware (README: Rollout "
                    "strategy)."
                )
        else:
            first_unschedulable.pop(pod.name, None)
    for pod in pods:
        pulls = sorted(_PULL_FAILURES & set(pod.waiting))
        if pulls:
            said = _said(runner, namespace, pod, ("Failed",))
            return (
                f"pod {pod.name} cannot pull its image ({', '.join(pulls)}){said}. Check the "
                "overlay's image (a placeholder such as ghcr.io/your-org is not a registry "
                "you own) and the pull secret."
            )
        if "CrashLoopBackOff" in pod.waiting or pod.restarts >= 2:
            said = _said(runner, namespace, pod, ("Unhealthy", "BackOff"))
            return (
                f"pod {pod.name} of release {release} crash-loops ({pod.restarts} restarts"
                f"{', last exit ' + pod.last_exit if pod.last_exit else ''}){said}. Read why "
                f"with: kubectl logs --previous --namespace {namespace} pod/{pod.name}."
            )
        if pod.restarts >= 1:
            probe = _probe_failure(runner, namespace, pod)
            if probe:
                return (
                    f"pod {pod.name} was restarted after its startup probe failed: {probe}. "
                    "Check the release's golden data, or the probe's budget (README)."
                )
    return None


def _events(runner: KubectlRunner, namespace: str, pod: Pod) -> list[Event]:
    try:
        return [event for event in list_events(runner, namespace) if event.pod == pod.name]
    except DeployError as exc:
        logger.info("Could not read the events: %s", exc)
        return []


def _said(runner: KubectlRunner, namespace: str, pod: Pod, reasons: tuple[str, ...]) -> str:
    found = [e for e in _events(runner, namespace, pod) if e.reason in reasons]
    return f": {found[-1].message}" if found else ""


def _probe_failure(runner: KubectlRunner, namespace: str, pod: Pod) -> str:
    # The kubelet records each failed probe as an "Unhealthy" event whose message is
    # "<Probe type> probe failed: <its output>" (pkg/kubelet/prober/prober.go, runProbe's
    # recorder.Eventf).
    found = [
        e.message
        for e in _events(runner, namespace, pod)
        if e.reason == "Unhealthy" and e.message.startswith("Startup probe failed")
    ]
    return found[-1] if found else ""
