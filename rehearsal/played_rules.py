"""Kubernetes' own rules for the played cluster: the controllers, the scheduler, the kubelet.

No API server can run here; ``rehearsal/played_cluster.py`` answers kubectl from the state
kept here, and the state moves on PLAYED time (``Namespace.advance``), one played second a
tick, so a test can play twenty minutes of a rollout without waiting for them. Each rule
names where Kubernetes does it, so a reader can check it:

- **Deployment controller, rolling update** (``pkg/controller/deployment/rolling.go``:
  ``reconcileNewReplicaSet`` with ``NewRSNewReplicas`` from ``deployment/util``; and
  ``reconcileOldReplicaSets``: ``cleanupUnhealthyReplicas``, then
  ``scaleDownOldReplicaSetsForRollingUpdate`` down to ``replicas - maxUnavailable``
  available pods). ``maxSurge``/``maxUnavailable`` as ints or percentages, surge rounded
  up and unavailable down, both 0 means unavailable 1 (``ResolveFenceposts``).
- **Revisions** (``deployment/util``: ``SetNewReplicaSetAnnotations``): a template equal to
  an existing ReplicaSet's reuses it with the next revision; ``rollout undo --to-revision``
  copies that revision's template (``pkg/controller/deployment/rollback.go``).
- **Status** (``sync.go`` ``calculateStatus``): ``replicas``, ``updatedReplicas``,
  ``availableReplicas`` count ACTIVE pods only (``controller_utils.go``
  ``FilterActivePods``: a pod with a ``deletionTimestamp`` is not active).
- **Progress** (``progress.go``): a new ReplicaSet scaled, an old one scaled down or a pod
  becoming available resets the timer; past ``progressDeadlineSeconds`` the condition is
  ``Progressing=False``, reason ``ProgressDeadlineExceeded``; nothing rolls back by itself.
- **ReplicaSet controller** (``pkg/controller/replicaset/replica_set.go``
  ``manageReplicas``/``getPodsToDelete``): pods to delete are chosen unassigned first,
  then Pending, not Ready, Ready for the shortest time (``podutils.ActivePodsWithRanks``).
- **Scheduler** (``pkg/scheduler/framework/plugins/noderesources/fit.go``: ``Insufficient
  nvidia.com/gpu``; ``schedule_one.go`` ``FitError``: ``0/N nodes are available: ...``):
  a pod whose GPU does not fit stays Pending with ``PodScheduled=False``, reason
  ``Unschedulable``, and a ``FailedScheduling`` event. Terminating pods hold their GPU
  until they are gone.
- **Kubelet** (``pkg/kubelet/kuberuntime/kuberuntime_container.go`` ``killContainer``: the
  preStop hook runs before SIGTERM): a deleted pod keeps running and stays Ready through
  its preStop pause (``lifecycle.preStop.sleep.seconds``), then stops; an image that
  cannot be pulled is ``ErrImagePull`` then ``ImagePullBackOff`` with a ``Failed`` event
  (``pkg/kubelet/images/image_manager.go``); a container that exits is restarted with a
  back-off, ``CrashLoopBackOff``, ``BackOff`` events; a startup probe that fails
  ``failureThreshold`` times kills the container (``Unhealthy`` events "Startup probe
  failed: ...", ``pkg/kubelet/prober/prober.go``), then it restarts.
- **Namespace lifecycle admission** (k8s.io/apiserver
  ``pkg/admission/plugin/namespace/lifecycle/admission.go``, ``Lifecycle.Admit``): a
  namespace exists only once a ``Namespace`` object is created; creating a namespaced
  object in a namespace that does not exist is refused (``refused_create``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# The namespaces every cluster has: the API server creates them when it starts (kubernetes
# pkg/controlplane/controller/systemnamespaces, and ``default`` with the kubernetes Service).
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
RELEASE_ANNOTATION = "triton-orchestrator/release"
REVISION = "deployment.kubernetes.io/revision"
TICK_S = 1.0


@dataclass
class PlayedPod:
    """One pod: its ReplicaSet, where it runs, and its lifecycle in played seconds."""

    name: str
    template_hash: str
    release: str
    created_s: float
    node: str | None = None
    unschedulable_since_s: float | None = None
    started_s: float | None = None
    ready_since_s: float | None = None
    deleted_s: float | None = None
    restarts: int = 0
    waiting: str = ""
    waiting_until_s: float = 0.0

    @property
    def active(self) -> bool:
        return self.deleted_s is None


@dataclass
class ReplicaSet:
    template_hash: str
    template: dict[str, Any]
    revision: int
    replicas: int = 0


@dataclass
class Event:
    pod: str
    reason: str
    message: str
    count: int = 1


@dataclass
class Lifecycle:
    """What a pod of a release does once scheduled: the answers of the played kubelet."""

    start_s: float = 30.0
    container_ok: Callable[[PlayedPod], str] = lambda pod: ""  # "" or why it exits
    image_pulls: Callable[[str], bool] = lambda image: True
    probe_failure: Callable[[str], str] = lambda release: ""  # "" or the probe's message


@dataclass
class Namespace:
    """One namespace: its Deployment, ReplicaSets, pods, events and Leases."""

    name: str
    nodes: int
    gpus_in_use: Callable[[], int]
    lifecycle: Lifecycle
    base_time: datetime
    now_s: float = 0.0
    deployment: dict[str, Any] | None = None
    generation: int = 0
    replica_sets: dict[str, ReplicaSet] = field(default_factory=dict)
    pods: list[PlayedPod] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)
    hpa_min: int | None = None
    history: list[str] = field(default_factory=list)
    last_progress_s: float = 0.0
    _counter: int = 0

    # -- the API -----------------------------------------------------------------------------

    def apply_deployment(self, deployment: dict[str, Any]) -> None:
        """``kubectl apply`` of the Deployment: a changed spec is a new generation."""
        if self.deployment is None or self.deployment["spec"] != deployment["spec"]:
            self.generation += 1
            self.last_progress_s = self.now_s
        self.deployment = copy.deepcopy(deployment)
        self.history.append(_release(deployment["spec"]["template"]))
        self._sync_replica_set()

    def undo(self, revision: int | None) -> str:
        """``kubectl rollout undo [--to-revision=N]``; an error text, or ""."""
        assert self.deployment is not None
        ordered = sorted(self.replica_sets.values(), key=lambda rs: rs.revision)
        if revision is None:
            if len(ordered) < 2:
                return "error: no rollout history found"
            target = ordered[-2]
        else:
            found = [rs for rs in ordered if rs.revision == revision]
            if not found:
                return f"error: unable to find specified revision {revision} in history"
            target = found[0]
        self.deployment["spec"]["template"] = copy.deepcopy(target.template)
        self.generation += 1
        self.last_progress_s = self.now_s
        self.history.append(_release(target.template))
        self._sync_replica_set()
        return ""

    @property
    def replicas(self) -> int:
        assert self.deployment is not None
        spec = self.deployment["spec"].get("replicas")
        if spec is not None:
            return int(spec)
        # No replicas in the manifest: the HPA keeps at least its minReplicas (and a
        # Deployment without replicas and without an HPA has 1).
        return self.hpa_min or 1

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of played time pass, one tick at a time."""
        end = self.now_s + seconds
        while self.now_s + TICK_S <= end + 1e-9:
            self.now_s += TICK_S
            self.tick()
        self.now_s = max(self.now_s, end)

    def tick(self) -> None:
        if self.deployment is None:
            return
        self._kubelet()
        self._schedule()
        self._deployment_controller()
        self._replica_set_controller()
        self._schedule()

    # -- status ------------------------------------------------------------------------------

    def new_set(self) -> ReplicaSet | None:
        if self.deployment is None:
            return None
        return self.replica_sets.get(template_hash(self.deployment["spec"]["template"]))

    def available(self, pod: PlayedPod) -> bool:
        min_ready = (
            float(self.deployment["spec"].get("minReadySeconds", 0) or 0) if self.deployment else 0
        )
        return (
            pod.active
            and pod.ready_since_s is not None
            and self.now_s - pod.ready_since_s >= min_ready
        )

    def ready(self, pod: PlayedPod) -> bool:
        if pod.ready_since_s is None:
            return False
        if pod.deleted_s is None:
            return True
        # Terminating: Ready until the preStop pause ends and the container is stopped.
        return self.now_s < pod.deleted_s + self._pre_stop_s(pod)

    def status(self) -> dict[str, Any]:
        """The Deployment's ``status`` as the controller computes it (``calculateStatus``)."""
        new = self.new_set()
        active = [p for p in self.pods if p.active]
        updated = [p for p in active if new is not None and p.template_hash == new.template_hash]
        complete = (
            len(updated) == self.replicas
            and len(active) == len(updated)
            and all(self.available(p) for p in updated)
        )
        if complete:
            progressing = {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "triton-{new.template_hash if new else ""}" has '
                "successfully progressed.",
            }
        elif self.deadline_exceeded():
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "triton-{new.template_hash if new else ""}" has timed '
                "out progressing.",
            }
        else:
            progressing = {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": "",
            }
        return {
            "observedGeneration": self.generation,
            "replicas": len(active),
            "updatedReplicas": len(updated),
            "readyReplicas": sum(1 for p in active if self.ready(p)),
            "availableReplicas": sum(1 for p in active if self.available(p)),
            "conditions": [progressing],
        }

    def deadline_exceeded(self) -> bool:
        assert self.deployment is not None
        deadline = float(self.deployment["spec"].get("progressDeadlineSeconds", 600))
        return self.now_s - self.last_progress_s > deadline

    def time(self, played_s: float) -> str:
        return (self.base_time + timedelta(seconds=played_s)).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- controllers ---------------------------------------------------------------------------

    def _sync_replica_set(self) -> None:
        assert self.deployment is not None
        template = self.deployment["spec"]["template"]
        key = template_hash(template)
        revision = max((rs.revision for rs in self.replica_sets.values()), default=0) + 1
        current = self.replica_sets.get(key)
        if current is None:
            self.replica_sets[key] = ReplicaSet(key, copy.deepcopy(template), revision)
        elif current.revision != revision - 1:
            current.revision = revision

    def _fenceposts(self) -> tuple[int, int]:
        assert self.deployment is not None
        rolling = (self.deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        surge = _resolve(rolling.get("maxSurge", "25%"), self.replicas, round_up=True)
        unavailable = _resolve(rolling.get("maxUnavailable", "25%"), self.replicas, round_up=False)
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    def _deployment_controller(self) -> None:
        new = self.new_set()
        assert new is not None
        olds = [rs for rs in self.replica_sets.values() if rs is not new]
        surge, unavailable = self._fenceposts()
        replicas = self.replicas
        # reconcileNewReplicaSet / NewRSNewReplicas
        total = sum(rs.replicas for rs in self.replica_sets.values())
        if new.replicas > replicas:
            new.replicas = replicas
            self.last_progress_s = self.now_s
        elif new.replicas < replicas:
            up = min(replicas + surge - total, replicas - new.replicas)
            if up > 0:
                new.replicas += up
                self.last_progress_s = self.now_s
        # reconcileOldReplicaSets
        if not any(rs.replicas for rs in olds):
            return
        total = sum(rs.replicas for rs in self.replica_sets.values())
        new_unavailable = new.replicas - sum(1 for p in self._pods_of(new) if self.available(p))
        max_down = total - (replicas - unavailable) - new_unavailable
        if max_down <= 0:
            return
        # cleanupUnhealthyReplicas: old pods that are not available go first.
        for rs in sorted(olds, key=lambda r: r.revision):
            unhealthy = sum(1 for p in self._pods_of(rs) if not self.available(p))
            down = min(max_down, unhealthy, rs.replicas)
            if down > 0:
                rs.replicas -= down
                max_down -= down
                self.last_progress_s = self.now_s
        # scaleDownOldReplicaSetsForRollingUpdate
        min_available = replicas - unavailable
        available = sum(1 for p in self.pods if self.available(p))
        can = min(available - min_available, max_down)
        for rs in sorted(olds, key=lambda r: r.revision):
            down = min(can, rs.replicas)
            if down > 0:
                rs.replicas -= down
                can -= down
                self.last_progress_s = self.now_s

    def _replica_set_controller(self) -> None:
        for rs in self.replica_sets.values():
            pods = self._pods_of(rs)
            while len(pods) < rs.replicas:
                pods.append(self._create_pod(rs))
            if len(pods) > rs.replicas:
                for pod in sorted(pods, key=self._deletion_rank)[: len(pods) - rs.replicas]:
                    pod.deleted_s = self.now_s
                    if pod.node is None:
                        # An unscheduled pod goes at once, without a grace period
                        # (pkg/registry/core/pod/strategy.go, CheckGracefulDelete).
                        self.pods.remove(pod)

    def _deletion_rank(self, pod: PlayedPod) -> tuple[Any, ...]:
        # getPodsToDelete: unassigned < assigned, Pending < Running, not ready < ready,
        # Ready for a shorter time first.
        return (
            pod.node is not None,
            pod.started_s is not None,
            self.ready(pod),
            -(pod.ready_since_s or 0.0),
        )

    def _create_pod(self, rs: ReplicaSet) -> PlayedPod:
        self._counter += 1
        suffix = hashlib.sha256(f"{self.name}{self._counter}".encode()).hexdigest()[:5]
        pod = PlayedPod(
            f"triton-{rs.template_hash}-{suffix}",
            rs.template_hash,
            _release(rs.template),
            self.now_s,
        )
        self.pods.append(pod)
        return pod

    def _schedule(self) -> None:
        for pod in self.pods:
            if pod.node is not None or not pod.active:
                continue
            wanted = _gpus(self.replica_sets[pod.template_hash].template)
            if wanted and self.gpus_in_use() + wanted > self.nodes:
                if pod.unschedulable_since_s is None:
                    pod.unschedulable_since_s = self.now_s
                self._event(
                    pod,
                    "FailedScheduling",
                    f"0/{self.nodes} nodes are available: {self.nodes} Insufficient "
                    "nvidia.com/gpu. preemption: 0/{0} nodes are available: {0} No preemption "
                    "victims found for incoming pod.".format(self.nodes),
                )
                continue
            pod.node = f"gpu-node-{self._counter % max(self.nodes, 1)}"
            pod.unschedulable_since_s = None

    def _kubelet(self) -> None:
        life = self.lifecycle
        for pod in list(self.pods):
            template = self.replica_sets[pod.template_hash].template
            if pod.deleted_s is not None:
                # preStop, then SIGTERM: an idle Triton exits within a second (its
                # --exit-timeout-secs only waits for requests in flight).
                gone_s = pod.deleted_s + self._pre_stop_s(pod) + 1
                if pod.started_s is None or self.now_s >= gone_s:
                    self.pods.remove(pod)
                continue
            if pod.node is None:
                continue
            if pod.started_s is None:
                image = _image(template)
                if not life.image_pulls(image):
                    first = pod.waiting == ""
                    pod.waiting = "ErrImagePull" if first else "ImagePullBackOff"
                    self._event(
                        pod,
                        "Failed",
                        f'Failed to pull image "{image}": rpc error: code = NotFound desc = '
                        f'failed to pull and unpack image "{image}": not found',
                    )
                    continue
                if pod.waiting and self.now_s < pod.waiting_until_s:
                    continue
                why = life.container_ok(pod)
                if why:
                    # The kubelet restarts it after a back-off: 10 s, doubling, at most 300 s.
                    pod.restarts += 1
                    pod.waiting = "CrashLoopBackOff"
                    pod.waiting_until_s = self.now_s + min(300.0, 10.0 * 2 ** (pod.restarts - 1))
                    self._event(
                        pod, "BackOff", f"Back-off restarting failed container triton: {why}"
                    )
                    continue
                pod.waiting = ""
                pod.started_s = self.now_s
            if pod.ready_since_s is None and self.now_s - pod.started_s >= life.start_s:
                failure = life.probe_failure(pod.release)
                if not failure:
                    pod.ready_since_s = self.now_s
                    continue
                period, threshold = _startup_probe(template)
                self._event(pod, "Unhealthy", f"Startup probe failed: {failure}")
                if self.now_s - pod.started_s >= life.start_s + period * threshold:
                    self._event(
                        pod,
                        "Killing",
                        "Container triton failed startup probe, will be restarted",
                    )
                    pod.restarts += 1
                    pod.started_s = self.now_s

    def _pods_of(self, rs: ReplicaSet) -> list[PlayedPod]:
        return [p for p in self.pods if p.active and p.template_hash == rs.template_hash]

    def _pre_stop_s(self, pod: PlayedPod) -> float:
        template = self.replica_sets[pod.template_hash].template
        for container in template["spec"].get("containers", []):
            hook = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
            if hook.get("seconds"):
                return float(hook["seconds"])
        return 0.0

    def _event(self, pod: PlayedPod, reason: str, message: str) -> None:
        for event in self.events:
            if (event.pod, event.reason, event.message) == (pod.name, reason, message):
                event.count += 1
                return
        self.events.append(Event(pod.name, reason, message))


def refused_create(kind: str, namespace: str | None, existing: Collection[str]) -> str:
    """The API server's answer to creating a ``kind`` object in ``namespace``: "" or the error.

    NamespaceLifecycle (k8s.io/apiserver ``pkg/admission/plugin/namespace/lifecycle/
    admission.go``, ``Lifecycle.Admit``) admits a ``Namespace`` itself, a cluster-scoped
    object, any delete and any update; a Create in a namespace that does not exist gets
    the NotFound error of ``Namespaces().Get``: ``namespaces "NS" not found``. Reads do
    not go through admission: a get in a missing namespace is the object's own NotFound
    (empty with ``--ignore-not-found``), a list is empty. An update there never gets as
    far: the object it updates cannot exist, so it is that object's NotFound.

    Example:
        >>> refused_create("Lease", "triton-staging", SYSTEM_NAMESPACES)
        'namespaces "triton-staging" not found'
    """
    if kind == "Namespace" or not namespace or namespace in existing:
        return ""
    return f'namespaces "{namespace}" not found'


def template_hash(template: dict[str, Any]) -> str:
    """The pod-template-hash label's value (``controller.ComputeHash``: a hash of the template)."""
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _release(template: dict[str, Any]) -> str:
    return str(
        ((template.get("metadata") or {}).get("annotations") or {}).get(RELEASE_ANNOTATION, "")
    )


def _image(template: dict[str, Any]) -> str:
    return str(template["spec"]["containers"][0].get("image", ""))


def _gpus(template: dict[str, Any]) -> int:
    total = 0
    for container in template["spec"].get("containers", []):
        limits = (container.get("resources") or {}).get("limits") or {}
        total += int(limits.get("nvidia.com/gpu", 0))
    return total


def _startup_probe(template: dict[str, Any]) -> tuple[float, int]:
    probe = template["spec"]["containers"][0].get("startupProbe") or {}
    return float(probe.get("periodSeconds", 10)), int(probe.get("failureThreshold", 3))


def _resolve(value: int | str, replicas: int, *, round_up: bool) -> int:
    """An int, or a percentage of ``replicas`` (``intstr.GetScaledValueFromIntOrPercent``)."""
    if isinstance(value, int):
        return value
    share = float(str(value).rstrip("%")) * replicas / 100
    return math.ceil(share) if round_up else math.floor(share)


def base_time() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
