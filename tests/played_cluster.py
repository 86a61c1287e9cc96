"""A cluster played on one machine, for the pipeline rehearsal: kubectl answered, pods real.

No Kubernetes API server runs here. ``PlayedCluster`` is the recording runner
(tests/deploy/recording.py, the project's one fake of Kubernetes) with a memory: per
namespace it keeps the applied ``triton`` Deployment and its revisions, and for each
applied release it starts a **real pod stand-in**: a local Triton serving exactly the
``MODEL_REPOSITORY`` of the applied Deployment (the release, straight from the S3
server), with the release's own configs and the CPU override (``KIND_GPU`` cannot load
on a CPU). ``kubectl port-forward svc/triton`` forwards to that Triton's ports (8000 HTTP,
8002 metrics), so deploy's golden smoke and the gate measure a real server serving the
release from object storage.

What it answers: ``kustomize`` (the real kubectl), ``get deployment/triton`` (the last
applied one, or nothing), ``apply -f -`` (records the Deployment, starts its pod),
``rollout status`` (ready when the pod loaded every model; a pod that cannot load makes
the rollout fail, as a crash loop would), ``rollout undo --to-revision=N`` (back to
revision N's release, its pod started again) and ``port-forward``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.deploy.kubectl import Background, Completed
from orchestrator.deploy.render import REPOSITORY_ENV, release_of
from orchestrator.errors import OrchestratorError, ServerError
from orchestrator.releases.stores.base import Store
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from tests.deploy.recording import Call, RecordingRunner, deployment_json, exited, forward
from tests.release_repos import stored_configs

__all__ = ["PlayedCluster", "Pod"]

logger = logging.getLogger(__name__)


@dataclass
class Pod:
    """The stand-in of an environment's pods: one local Triton serving the release."""

    release: str
    server: TritonServer | None
    error: str = ""

    @property
    def ready(self) -> bool:
        return self.server is not None and self.server.is_running and not self.error

    @property
    def ports(self) -> dict[int, str]:
        """The container's ports (HTTP 8000, metrics 8002) -> where this Triton has them."""
        assert self.server is not None
        return {8000: self.server.http_url, 8002: self.server.metrics_address}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@dataclass
class _Namespace:
    revisions: list[dict[str, Any]] = field(default_factory=list)
    pod: Pod | None = None


@dataclass
class PlayedCluster(RecordingRunner):
    """The recording runner answering like a small cluster whose pods are local Tritons.

    ``store`` is where the releases are (their configs are read for the CPU override),
    ``env`` the credentials a pod gets (the S3 server's keys: the optional Secret).
    """

    store: Store | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    ready_timeout_s: float = 120.0
    namespaces: dict[str, _Namespace] = field(default_factory=dict)

    # -- kubectl ---------------------------------------------------------------------------

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        if args[0] == "kustomize":
            return super().run(args, input_text=input_text, timeout_s=timeout_s)
        self.calls.append(Call(tuple(args), input_text))
        namespace = _option(args, "--namespace")
        if args[:2] == ["get", "deployment/triton"]:
            return self._get(args, namespace)
        if args[0] == "apply":
            return self._apply(args, input_text or "")
        if args[:2] == ["rollout", "status"]:
            return self._status(args, namespace)
        if args[:2] == ["rollout", "undo"]:
            return self._undo(args, namespace)
        raise AssertionError(f"the played cluster does not answer: kubectl {' '.join(args)}")

    def start(self, args: Sequence[str]) -> Background:
        self.calls.append(Call(tuple(args), None))
        namespace = _option(args, "--namespace")
        pod = self._space(namespace).pod
        if pod is None or not pod.ready:
            return exited(1, f"error: no running pod behind svc/triton in {namespace}")
        return forward(args, pod.ports)

    def stop(self) -> None:
        """Stop every pod stand-in."""
        for space in self.namespaces.values():
            if space.pod is not None:
                space.pod.stop()

    def release_in(self, namespace: str) -> str | None:
        """The release the namespace's Deployment runs now (None: no Deployment)."""
        space = self.namespaces.get(namespace)
        if space is None or not space.revisions:
            return None
        return _release_of(space.revisions[-1])

    def applied(self, namespace: str) -> int:
        """How many times a Deployment was applied to ``namespace``."""
        space = self.namespaces.get(namespace)
        return len(space.revisions) if space else 0

    # -- the answers -----------------------------------------------------------------------

    def _space(self, namespace: str) -> _Namespace:
        return self.namespaces.setdefault(namespace, _Namespace())

    def _get(self, args: Sequence[str], namespace: str) -> Completed:
        space = self._space(namespace)
        if not space.revisions:
            return Completed(tuple(args), 0, "", "")
        revision = len(space.revisions)
        body = deployment_json(_release_of(space.revisions[-1]), revision, namespace=namespace)
        return Completed(tuple(args), 0, body, "")

    def _apply(self, args: Sequence[str], text: str) -> Completed:
        deployment = next(
            (d for d in yaml.safe_load_all(text) if d and d.get("kind") == "Deployment"), None
        )
        assert deployment is not None, "apply without a Deployment"
        namespace = deployment["metadata"]["namespace"]
        space = self._space(namespace)
        space.revisions.append(deployment)
        self._restart(space, deployment)
        return Completed(tuple(args), 0, f"deployment.apps/triton configured ({namespace})", "")

    def _status(self, args: Sequence[str], namespace: str) -> Completed:
        pod = self._space(namespace).pod
        if pod is not None and pod.ready:
            return Completed(tuple(args), 0, 'deployment "triton" successfully rolled out', "")
        reason = pod.error if pod is not None else "no pod"
        return Completed(
            tuple(args),
            1,
            "",
            f'error: deployment "triton" exceeded its progress deadline ({reason})',
        )

    def _undo(self, args: Sequence[str], namespace: str) -> Completed:
        space = self._space(namespace)
        to = next((a.split("=", 1)[1] for a in args if a.startswith("--to-revision=")), "")
        index = int(to) - 1 if to else len(space.revisions) - 2
        assert 0 <= index < len(space.revisions), f"no revision {to} in {namespace}"
        previous = space.revisions[index]
        space.revisions.append(previous)
        self._restart(space, previous)
        return Completed(tuple(args), 0, "deployment.apps/triton rolled back", "")

    # -- pods ------------------------------------------------------------------------------

    def _restart(self, space: _Namespace, deployment: Mapping[str, Any]) -> None:
        if space.pod is not None:
            space.pod.stop()
        release = _release_of(deployment)
        space.pod = Pod(release, None)
        try:
            space.pod.server = self._serve(_model_repository(deployment), release)
        except OrchestratorError as exc:
            space.pod.error = str(exc)

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


def _option(args: Sequence[str], name: str) -> str:
    return args[list(args).index(name) + 1] if name in args else "default"


def _release_of(deployment: Mapping[str, Any]) -> str:
    return release_of(deployment) or ""


def _model_repository(deployment: Mapping[str, Any]) -> str:
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for variable in container.get("env", []):
            if variable["name"] == REPOSITORY_ENV:
                return str(variable["value"])
    raise AssertionError("the Deployment sets no MODEL_REPOSITORY")


def describe(cluster: PlayedCluster) -> str:
    """What the played cluster runs, one line per namespace (for the rehearsal's output)."""
    lines = []
    for name, space in sorted(cluster.namespaces.items()):
        pod = space.pod
        state = "ready" if pod is not None and pod.ready else (pod.error if pod else "no pod")
        lines.append(
            f"{name}: {len(space.revisions)} revision(s), runs "
            f"{cluster.release_in(name) or 'nothing'} ({state})"
        )
    return "\n".join(lines) or "no namespace touched"
