"""A cluster played on one machine: kubectl answered by Kubernetes' rules, pods real Tritons.

No Kubernetes API server runs here. ``PlayedCluster`` is the recording runner
(rehearsal/recording.py, the project's one fake of Kubernetes) with a memory: per
namespace, the Deployment, its ReplicaSets, pods, events and Leases, moved by the rules
in ``rehearsal/played_rules.py`` (each citing the Kubernetes source) on PLAYED time: ``rollout
status --timeout=Ns`` and the deploy's own waits (``sleep``) let played seconds pass, so
twenty minutes of a stuck rollout take milliseconds.

Every pod that must answer is served by a **real local Triton**: one per release (shared
by that release's pods: the machine has two cores), serving exactly the applied
Deployment's ``MODEL_REPOSITORY`` (the release, straight from the S3 server), with the
release's own configs and the CPU override (``KIND_GPU`` cannot load on a CPU). A
release whose Triton cannot load makes its pods crash-loop.

What it answers, and whose rule it plays:

- ``kustomize`` (the real kubectl); ``apply -f -`` (a Namespace; the Deployment; the HPA's
  ``minReplicas`` when the Deployment leaves ``replicas`` to it);
- namespaces as the API server has them: only the system ones exist until a Namespace is
  applied (or the test names it in ``existing_namespaces``, as if an admin had created
  it); ``apply`` or ``create`` of an object in a namespace that does not exist fails as
  kubectl prints it, ``Error from server (NotFound): error when creating "STDIN":
  namespaces "NS" not found``, exit 1 (``played_rules.refused_create``, NamespaceLifecycle
  admission; kubectl ``pkg/cmd/util/helpers.go`` ``AddSourceToErr`` and
  ``StandardErrorMessage``, cli-runtime ``pkg/resource/visitor.go`` names stdin
  ``STDIN``); reads there find nothing;
- ``get deployment/triton``, ``get pods``, ``get events`` as ``--output=json``;
- ``rollout status``: kubectl's ``DeploymentStatusViewer.Status`` order
  (``pkg/polymorphichelpers/rollout_status.go``): observedGeneration, then updated,
  then old replicas pending termination (``status.replicas`` counts active pods only),
  then available; it fails at once on ``ProgressDeadlineExceeded``;
- ``rollout undo [--to-revision=N]``;
- ``port-forward svc/triton`` picks ONE pod as kubectl's ``GetFirstPod`` does
  (``pkg/polymorphichelpers/helpers.go``: ``sort.Reverse(podutils.ActivePods)``: assigned,
  Running, Ready, Ready longest, fewest restarts, oldest; terminating pods are not
  skipped); ``port-forward pod/NAME`` forwards to that pod while its container runs;
- Leases (``coordination.k8s.io/v1``): ``get lease/NAME``, ``create -f -`` (``AlreadyExists``),
  ``replace -f -`` (409 Conflict when ``metadata.resourceVersion`` is not the stored one).

Knobs: ``existing_namespaces`` (namespaces there before the first apply), ``nodes``
(GPU nodes, one GPU each, shared by every namespace), ``start_s``
(played seconds from scheduling to Ready), ``unpullable`` (image prefixes no registry
has), ``probe_failures`` (release -> the startup probe's message), ``crashes`` (release
-> why its container exits, as Triton does with ``--exit-on-error`` on a model that does
not load on the GPU), ``on_tick`` (called
each played second: a test's Ctrl-C, a second deploy).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.deploy.kubectl import Background, Completed
from orchestrator.deploy.render import REPOSITORY_ENV, release_of
from orchestrator.errors import OrchestratorError, ServerError
from orchestrator.releases.stores.base import Store
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from rehearsal.played_rules import (
    REVISION,
    SYSTEM_NAMESPACES,
    Lifecycle,
    Namespace,
    PlayedPod,
    base_time,
    refused_create,
)
from rehearsal.recording import Call, RecordingRunner, exited, forward
from rehearsal.release_configs import stored_configs

__all__ = ["PlayedCluster", "PlayedPod", "describe"]

logger = logging.getLogger(__name__)


@dataclass
class _Triton:
    """The real Triton serving one release for all its pods (or why it could not start)."""

    server: TritonServer | None
    error: str = ""

    @property
    def ports(self) -> dict[int, str]:
        """The container's ports (HTTP 8000, metrics 8002) -> where this Triton has them."""
        assert self.server is not None
        return {8000: self.server.http_url, 8002: self.server.metrics_address}


@dataclass
class PlayedCluster(RecordingRunner):
    """The recording runner answering like a cluster whose pods are local Tritons.

    ``store`` is where the releases are (their configs are read for the CPU override),
    ``env`` the credentials a pod gets (the S3 server's keys: the optional Secret).
    """

    store: Store | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    ready_timeout_s: float = 120.0
    nodes: int = 8
    start_s: float = 30.0
    unpullable: tuple[str, ...] = ()
    probe_failures: dict[str, str] = field(default_factory=dict)
    crashes: dict[str, str] = field(default_factory=dict)
    on_tick: Callable[[PlayedCluster], None] | None = None
    existing_namespaces: set[str] = field(default_factory=set)
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    tritons: dict[tuple[str, str], _Triton] = field(default_factory=dict)
    played_s: float = 0.0
    _resource_version: int = 0
    _base: Any = field(default_factory=base_time)

    # -- kubectl ---------------------------------------------------------------------------

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        if args[0] == "kustomize":
            return super().run(args, input_text=input_text, timeout_s=timeout_s)
        self.calls.append(Call(tuple(args), input_text))
        namespace = _option(args, "--namespace")
        verb = list(args[:2])
        if verb == ["get", "deployment/triton"]:
            return self._get(args, namespace)
        if verb == ["get", "pods"]:
            return _ok(args, json.dumps({"kind": "List", "items": self._pods_json(namespace)}))
        if verb == ["get", "events"]:
            return _ok(args, json.dumps({"kind": "List", "items": self._events_json(namespace)}))
        if verb[0] == "get" and verb[1].startswith("lease/"):
            lease = self._space(namespace).leases.get(verb[1].removeprefix("lease/"))
            return _ok(args, json.dumps(lease) if lease else "")
        if args[0] == "apply":
            return self._apply(args, input_text or "")
        if args[0] in ("create", "replace"):
            return self._write_lease(args, input_text or "")
        if verb == ["rollout", "status"]:
            return self._status(args, namespace)
        if verb == ["rollout", "undo"]:
            return self._undo(args, namespace)
        raise AssertionError(f"the played cluster does not answer: kubectl {' '.join(args)}")

    def start(self, args: Sequence[str]) -> Background:
        self.calls.append(Call(tuple(args), None))
        namespace = _option(args, "--namespace")
        space = self._space(namespace)
        target = next(a for a in args[1:] if "/" in a)
        if target.startswith("pod/"):
            pod = next((p for p in space.pods if p.name == target.removeprefix("pod/")), None)
            if pod is None:
                return exited(1, f'Error from server (NotFound): pods "{target[4:]}" not found')
        else:
            pod = _first_pod(space)
            if pod is None:
                return exited(1, f"error: no pods found for {target} in {namespace}")
        triton = self._triton_of(space, pod)
        if pod.started_s is None or triton is None or triton.server is None:
            return exited(
                1,
                "error: unable to forward port because pod is not running. Current "
                f"status={_phase(pod)}",
            )
        return forward(args, triton.ports)

    def monotonic(self) -> float:
        return self.played_s

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of played time pass in every namespace, a played second a tick."""
        end = self.played_s + seconds
        while self.played_s < end:
            step = min(1.0, end - self.played_s)
            self.played_s += step
            for space in self.namespaces.values():
                space.advance(step)
            self._stop_unused()
            if self.on_tick is not None:
                self.on_tick(self)

    def stop(self) -> None:
        """Stop every real Triton."""
        for triton in self.tritons.values():
            if triton.server is not None:
                triton.server.stop()
        self.tritons.clear()

    def release_in(self, namespace: str) -> str | None:
        """The release the namespace's Deployment runs now (None: no Deployment)."""
        space = self.namespaces.get(namespace)
        if space is None or space.deployment is None:
            return None
        return release_of(space.deployment) or ""

    def applied(self, namespace: str) -> int:
        """How many times a Deployment was applied (or undone) in ``namespace``."""
        space = self.namespaces.get(namespace)
        return len(space.history) if space else 0

    def pods(self, namespace: str) -> list[PlayedPod]:
        """The namespace's pods, terminating ones included."""
        return list(self._space(namespace).pods)

    # -- the answers -----------------------------------------------------------------------

    def exists(self, namespace: str) -> bool:
        """Whether the cluster has ``namespace`` (a system one, seeded, or applied)."""
        return namespace in self._existing()

    def _existing(self) -> frozenset[str]:
        return SYSTEM_NAMESPACES | self.existing_namespaces

    def _space(self, namespace: str) -> Namespace:
        """The namespace's state; for one that does not exist, an empty one, not kept."""
        if namespace not in self.namespaces:
            space = Namespace(
                namespace,
                self.nodes,
                self._gpus_in_use,
                Lifecycle(
                    start_s=self.start_s,
                    container_ok=functools.partial(self._container, namespace),
                    image_pulls=lambda image: not image.startswith(self.unpullable or ("\0",)),
                    probe_failure=lambda release: self.probe_failures.get(release, ""),
                ),
                self._base,
                now_s=self.played_s,
            )
            if not self.exists(namespace):
                return space  # reads find nothing; writes are refused before they get here
            self.namespaces[namespace] = space
        return self.namespaces[namespace]

    def _gpus_in_use(self) -> int:
        return sum(
            1 for space in self.namespaces.values() for pod in space.pods if pod.node is not None
        )

    def _get(self, args: Sequence[str], namespace: str) -> Completed:
        space = self._space(namespace)
        if space.deployment is None:
            return _ok(args, "")
        body = copy.deepcopy(space.deployment)
        new = space.new_set()
        metadata = body.setdefault("metadata", {})
        metadata["generation"] = space.generation
        metadata.setdefault("annotations", {})[REVISION] = str(new.revision if new else 1)
        body["spec"]["replicas"] = space.replicas
        body["status"] = space.status()
        return _ok(args, json.dumps(body))

    def _apply(self, args: Sequence[str], text: str) -> Completed:
        # kubectl applies the objects in order and goes on past a refused one (kustomize
        # puts a Namespace first); it reports every refusal and exits 1.
        documents = [d for d in yaml.safe_load_all(text) if d]
        said: list[str] = []
        refused: list[str] = []
        applied: dict[str, Any] = {}
        for document in documents:
            kind = str(document.get("kind"))
            metadata = document.get("metadata") or {}
            if kind == "Namespace":
                name = str(metadata["name"])
                said.append(f"namespace/{name} {'unchanged' if self.exists(name) else 'created'}")
                self.existing_namespaces.add(name)
                continue
            error = refused_create(kind, metadata.get("namespace"), self._existing())
            if error:
                refused.append(
                    f'Error from server (NotFound): error when creating "STDIN": {error}'
                )
                continue
            applied.setdefault(kind, document)
        deployment = applied.get("Deployment")
        if deployment is not None:
            namespace = deployment["metadata"]["namespace"]
            space = self._space(namespace)
            hpa = applied.get("HorizontalPodAutoscaler")
            if hpa is not None:
                space.hpa_min = int(hpa["spec"].get("minReplicas", 1))
            space.apply_deployment(deployment)
            space.tick()
            said.append(f"deployment.apps/triton configured ({namespace})")
        assert said or refused, f"the played cluster applies a Namespace or a Deployment: {text}"
        if refused:
            return Completed(tuple(args), 1, "\n".join(said), "\n".join(refused))
        return _ok(args, "\n".join(said))

    def _status(self, args: Sequence[str], namespace: str) -> Completed:
        space = self._space(namespace)
        timeout = next((a.split("=", 1)[1] for a in args if a.startswith("--timeout=")), "0s")
        end = self.played_s + float(timeout.rstrip("s"))
        while True:
            if space.deployment is None:
                return _failed(
                    args, 'Error from server (NotFound): deployments.apps "triton" not found'
                )
            status = space.status()
            progressing = status["conditions"][0]
            if progressing["reason"] == "ProgressDeadlineExceeded":
                return _failed(args, 'error: deployment "triton" exceeded its progress deadline')
            replicas = space.replicas
            if (
                status["observedGeneration"] >= space.generation
                and status["updatedReplicas"] >= replicas
                and status["replicas"] <= status["updatedReplicas"]
                and status["availableReplicas"] >= status["updatedReplicas"]
            ):
                return _ok(args, 'deployment "triton" successfully rolled out\n')
            if self.played_s >= end:
                return _failed(args, "error: timed out waiting for the condition")
            self.advance(1.0)

    def _undo(self, args: Sequence[str], namespace: str) -> Completed:
        space = self._space(namespace)
        if space.deployment is None:
            return _failed(
                args, 'Error from server (NotFound): deployments.apps "triton" not found'
            )
        to = next((a.split("=", 1)[1] for a in args if a.startswith("--to-revision=")), "")
        error = space.undo(int(to) if to else None)
        if error:
            return _failed(args, error)
        space.tick()
        return _ok(args, "deployment.apps/triton rolled back")

    def _write_lease(self, args: Sequence[str], text: str) -> Completed:
        lease = json.loads(text)
        assert lease.get("kind") == "Lease", f"the played cluster only writes Leases: {text}"
        metadata = lease["metadata"]
        # kubectl create/replace -f -: 'error when creating "STDIN": ...' (AddSourceToErr)
        when = f'error when {"creating" if args[0] == "create" else "replacing"} "STDIN":'
        missing = refused_create("Lease", metadata["namespace"], self._existing())
        if args[0] == "create" and missing:
            return _failed(args, f"Error from server (NotFound): {when} {missing}")
        space = self._space(metadata["namespace"])
        name = metadata["name"]
        stored = space.leases.get(name)
        resource = f'leases.coordination.k8s.io "{name}"'
        if args[0] == "create" and stored is not None:
            return _failed(
                args, f"Error from server (AlreadyExists): {when} {resource} already exists"
            )
        if args[0] == "replace":
            if stored is None:
                return _failed(args, f"Error from server (NotFound): {when} {resource} not found")
            if metadata.get("resourceVersion") != stored["metadata"]["resourceVersion"]:
                return _failed(
                    args,
                    f"Error from server (Conflict): {when} Operation cannot be fulfilled on "
                    f"{resource}: the object has been modified; please apply your changes to "
                    "the latest version and try again",
                )
        self._resource_version += 1
        metadata["resourceVersion"] = str(self._resource_version)
        space.leases[name] = lease
        return _ok(args, json.dumps(lease))

    # -- pods --------------------------------------------------------------------------------

    def _pods_json(self, namespace: str) -> list[dict[str, Any]]:
        space = self._space(namespace)
        items = []
        for pod in space.pods:
            template = space.replica_sets[pod.template_hash].template
            metadata: dict[str, Any] = {
                "name": pod.name,
                "namespace": namespace,
                "labels": {
                    **template["metadata"].get("labels", {}),
                    "pod-template-hash": pod.template_hash,
                },
                "annotations": dict(template["metadata"].get("annotations", {})),
                "creationTimestamp": space.time(pod.created_s),
            }
            if pod.deleted_s is not None:
                metadata["deletionTimestamp"] = space.time(pod.deleted_s)
            conditions = []
            if pod.node is None and pod.unschedulable_since_s is not None:
                conditions.append(
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": f"0/{space.nodes} nodes are available: {space.nodes} "
                        "Insufficient nvidia.com/gpu. preemption: 0/{0} nodes are available: "
                        "{0} No preemption victims found for incoming pod.".format(space.nodes),
                        "lastTransitionTime": space.time(pod.unschedulable_since_s),
                    }
                )
            else:
                conditions.append({"type": "PodScheduled", "status": "True"})
            ready = space.ready(pod)
            conditions.append(
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": space.time(pod.ready_since_s or pod.created_s),
                }
            )
            state: dict[str, Any] = (
                {"waiting": {"reason": pod.waiting}}
                if pod.waiting
                else {"running": {}}
                if pod.started_s is not None
                else {"waiting": {"reason": "ContainerCreating"}}
                if pod.node is not None
                else {}
            )
            container = {
                "name": "triton",
                "ready": ready,
                "restartCount": pod.restarts,
                "state": state,
            }
            if pod.restarts:
                container["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}
            items.append(
                {
                    "metadata": metadata,
                    "spec": {"nodeName": pod.node} if pod.node else {},
                    "status": {
                        "phase": _phase(pod),
                        "conditions": conditions,
                        "containerStatuses": [container] if pod.node else [],
                    },
                }
            )
        return items

    def _events_json(self, namespace: str) -> list[dict[str, Any]]:
        return [
            {
                "involvedObject": {"kind": "Pod", "name": event.pod, "namespace": namespace},
                "reason": event.reason,
                "message": event.message,
                "count": event.count,
                "type": "Normal" if event.reason == "Killing" else "Warning",
            }
            for event in self._space(namespace).events
        ]

    def _triton_of(self, space: Namespace, pod: PlayedPod) -> _Triton | None:
        template = space.replica_sets[pod.template_hash].template
        return self.tritons.get((_model_repository(template), pod.release))

    def _container(self, namespace: str, pod: PlayedPod) -> str:
        """Start (or reuse) the release's real Triton; why the container exits, or ""."""
        if pod.release in self.crashes:
            return self.crashes[pod.release]
        space = self._space(namespace)
        template = space.replica_sets[pod.template_hash].template
        key = (_model_repository(template), pod.release)
        triton = self.tritons.get(key)
        if triton is None:
            try:
                triton = _Triton(self._serve(key[0], pod.release))
            except OrchestratorError as exc:
                triton = _Triton(None, str(exc))
            self.tritons[key] = triton
        return triton.error

    def _stop_unused(self) -> None:
        used = {
            (_model_repository(space.replica_sets[pod.template_hash].template), pod.release)
            for space in self.namespaces.values()
            for pod in space.pods
        }
        for key in [k for k in self.tritons if k not in used]:
            triton = self.tritons.pop(key)
            if triton.server is not None:
                triton.server.stop()

    def _serve(self, model_repository: str, release: str) -> TritonServer:
        assert self.store is not None, "the played cluster needs the store"
        configs = stored_configs(self.store, release)
        server = TritonServer(
            ServerOptions(
                model_repository,
                workdir=Path(tempfile.mkdtemp(prefix="pod-", dir=self.workdir)),
                env=tuple(self.env.items()),
                ready_timeout_s=self.ready_timeout_s,
            )
        )
        server.start()
        try:
            states = load_models(
                server.http_url,
                None,
                sorted(configs),
                cpu_override=True,
                configs=configs,
                timeout_s=self.ready_timeout_s,
            )
        except OrchestratorError:
            server.stop()
            raise
        failed = [s for s in states if s.state not in ("READY", "UNLOADING")]
        if failed:
            server.stop()
            reasons = "; ".join(f"{s.name}: {s.reason or s.state}" for s in failed)
            raise ServerError(f"models failed to load: {reasons}")
        return server


def _first_pod(space: Namespace) -> PlayedPod | None:
    """kubectl's ``GetFirstPod``: ``sort.Reverse(podutils.ActivePods(pods))``, the first."""
    if not space.pods:
        return None

    def rank(pod: PlayedPod) -> tuple[Any, ...]:
        ready = space.ready(pod)
        return (
            pod.node is None,  # assigned first
            {"Running": 0, "Unknown": 1, "Pending": 2}[_phase(pod)],
            not ready,  # Ready first
            pod.ready_since_s if ready and pod.ready_since_s is not None else 0.0,  # longest
            pod.restarts,  # fewer restarts first
            pod.created_s,  # older first
        )

    return min(space.pods, key=rank)


def _phase(pod: PlayedPod) -> str:
    return "Running" if pod.started_s is not None or pod.restarts else "Pending"


def _ok(args: Sequence[str], stdout: str) -> Completed:
    return Completed(tuple(args), 0, stdout, "")


def _failed(args: Sequence[str], stderr: str) -> Completed:
    return Completed(tuple(args), 1, "", stderr)


def _option(args: Sequence[str], name: str) -> str:
    return args[list(args).index(name) + 1] if name in args else "default"


def _model_repository(template: Mapping[str, Any]) -> str:
    for container in template["spec"]["containers"]:
        for variable in container.get("env", []):
            if variable["name"] == REPOSITORY_ENV:
                return str(variable["value"])
    raise AssertionError("the Deployment sets no MODEL_REPOSITORY")


def describe(cluster: PlayedCluster) -> str:
    """What the played cluster runs, one line per namespace (for the rehearsal's output)."""
    lines = []
    for name, space in sorted(cluster.namespaces.items()):
        ready = sum(1 for pod in space.pods if pod.active and space.ready(pod))
        lines.append(
            f"{name}: {len(space.history)} revision(s), runs "
            f"{cluster.release_in(name) or 'nothing'} ({ready}/"
            f"{space.replicas if space.deployment else 0} ready)"
        )
    return "\n".join(lines) or "no namespace touched"
