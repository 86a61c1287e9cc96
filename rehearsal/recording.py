"""The recording kubectl runner: the project's one fake of Kubernetes.

No Kubernetes API server can run on these machines, so every deploy, rollback and
status test injects this runner in place of ``SubprocessKubectl``. It records each
kubectl command (arguments, standard input) and answers from a script written by the
test: outcomes per command (``apply``, ``rollout status``, ``get deployment`` ...),
consumed in order (the last one repeats). Everything that needs no cluster is real:
``kubectl kustomize`` runs the real kubectl, and a scripted ``port-forward`` can forward
its local port to a real Triton (``forward_to``), as kubectl would to a pod.

Time is played: the runner's clock (``monotonic``) starts at 0, ``sleep`` moves it, and a
failed ``rollout status --timeout=Ns`` moves it by N (the wait it stands for). The deploy
lock's commands (``get lease/triton-deploy``, ``create``, ``replace``) and ``get events``
answer as a cluster with no Lease and no events unless the script says otherwise.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.deploy.kubectl import Background, Completed, SubprocessKubectl

__all__ = [
    "Call",
    "Outcome",
    "RecordingRunner",
    "deployment_json",
    "exited",
    "forward",
    "lease_json",
    "lock_lines",
    "UNLOCK_LINES",
    "pods_json",
]

_LOCAL_PORT = re.compile(r"^\d+:(\d+)$")


@dataclass(frozen=True)
class Call:
    args: tuple[str, ...]
    input_text: str | None

    @property
    def line(self) -> str:
        """The command as a test compares it: temporary paths and local ports elided."""
        args = list(self.args)
        if args[:1] == ["kustomize"]:
            args[1:] = ["TMP"]
        args = [_LOCAL_PORT.sub(r"PORT:\1", a) for a in args]
        return "kubectl " + " ".join(args)


def _key(args: Sequence[str]) -> str:
    if args[0] in ("rollout", "get"):
        return " ".join(args[:2])
    return args[0]


def lease_json(
    holder: str,
    *,
    version: str = "1",
    since: str = "2026-01-01T00:00:00.000000Z",
    duration_s: int = 3600,
    namespace: str = "triton-staging",
) -> str:
    """``kubectl get lease/triton-deploy -o json``: held by ``holder`` ("" for free)."""
    return json.dumps(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "triton-deploy",
                "namespace": namespace,
                "resourceVersion": version,
            },
            "spec": {
                "holderIdentity": holder,
                "acquireTime": since,
                "renewTime": since,
                "leaseDurationSeconds": duration_s,
            },
        }
    )


def lock_lines(namespace: str) -> list[str]:
    """The deploy lock's kubectl lines when the Lease is free: read it, create it."""
    return [
        f"kubectl get lease/triton-deploy --namespace {namespace} --ignore-not-found -o json",
        "kubectl create -f - -o json",
    ]


UNLOCK_LINES = ["kubectl replace -f - -o json"]


# What an unscripted lock or events command gets: no Lease yet, writes that succeed, no events.
DEFAULTS: dict[str, list[Outcome]] = {
    "get lease/triton-deploy": [(0, "")],
    "create": [(0, lease_json("me"))],
    "replace": [(0, lease_json("", version="2"))],
    "get events": [(0, '{"kind": "List", "items": []}')],
}


class _Proxy:
    """A background 'port-forward': forwards the local port to ``target`` (a real server)."""

    def __init__(self, local_port: int, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", local_port))
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._serve)
        self._accepting.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._connect, args=(client,))
            self._threads.append(thread)
            thread.start()

    def _connect(self, client: socket.socket) -> None:
        with client, socket.create_connection(self._target) as upstream:
            self._sockets += [client, upstream]
            back = threading.Thread(target=_pipe, args=(upstream, client))
            back.start()
            _pipe(client, upstream)
            back.join()

    def poll(self) -> int | None:
        return None

    def output(self) -> str:
        return ""

    def stop(self) -> None:
        # shutdown() wakes the blocked accept() and recv() calls; close() alone does not.
        for sock in [self._listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._listener.close()
        self._accepting.join()
        for thread in self._threads:
            thread.join()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@dataclass
class _Proxies:
    """One 'port-forward' of several ports: a proxy per port, stopped together."""

    proxies: list[_Proxy]

    def poll(self) -> int | None:
        return None

    def output(self) -> str:
        return ""

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.stop()


@dataclass
class _Exited:
    status: int
    message: str

    def poll(self) -> int | None:
        return self.status

    def output(self) -> str:
        return self.message

    def stop(self) -> None:
        pass


def forward(args: Sequence[str], to: str | Mapping[int, str]) -> Background:
    """A 'port-forward' of every ``LOCAL:REMOTE`` in ``args`` to ``to`` (HOST:PORT, or
    remote port -> HOST:PORT), one proxy per port, stopped together."""
    proxies = []
    for pair in args:
        if re.fullmatch(r"\d+:\d+", pair):
            local, remote = (int(port) for port in pair.split(":"))
            proxies.append(_Proxy(local, to if isinstance(to, str) else to[remote]))
    return _Proxies(proxies)


def exited(status: int, message: str) -> Background:
    """A background kubectl that has already exited with ``status`` and ``message``."""
    return _Exited(status, message)


# An outcome: a result, (exit status, output), or a function called when the command
# runs (to change the world meanwhile, as another user would) that returns either.
Outcome = Completed | tuple[int, str] | Callable[[], "Completed | tuple[int, str]"]


@dataclass
class RecordingRunner:
    """Records kubectl calls; answers from ``script`` (key -> outcomes, used in order).

    Keys: ``kustomize`` (default: the real kubectl), ``apply``, ``rollout status``,
    ``rollout undo``, ``get deployment/triton``, ``get pods``. Unscripted commands fail
    the test. ``forward_to`` (HOST:PORT, or remote port -> HOST:PORT for a forward of several
    ports) makes ``port-forward`` forward to a real server; without it, port-forward exits
    at once with ``forward_error``.
    """

    script: dict[str, list[Outcome]] = field(default_factory=dict)
    forward_to: str | dict[int, str] | None = None
    forward_error: str = "error: unable to forward port: pod not running"
    calls: list[Call] = field(default_factory=list)
    clock_s: float = 0.0
    _used: dict[str, int] = field(default_factory=dict)

    def run(self, args: Sequence[str], *, input_text: str | None, timeout_s: float) -> Completed:
        self.calls.append(Call(tuple(args), input_text))
        key = _key(args)
        if key == "kustomize" and key not in self.script:
            return SubprocessKubectl().run(args, input_text=input_text, timeout_s=timeout_s)
        outcomes = self.script.get(key) or DEFAULTS.get(key)
        assert outcomes, f"unscripted kubectl command: {' '.join(args)}"
        index = min(self._used.get(key, 0), len(outcomes) - 1)
        self._used[key] = self._used.get(key, 0) + 1
        outcome = outcomes[index]
        if callable(outcome):
            outcome = outcome()
        if isinstance(outcome, Completed):
            done = Completed(tuple(args), outcome.returncode, outcome.stdout, outcome.stderr)
        else:
            status, text = outcome
            done = Completed(
                tuple(args), status, text if status == 0 else "", "" if status == 0 else text
            )
        if key == "rollout status" and not done.ok:
            waited = next((a.split("=", 1)[1] for a in args if a.startswith("--timeout=")), "0s")
            self.clock_s += float(waited.rstrip("s"))
        return done

    def monotonic(self) -> float:
        return self.clock_s

    def sleep(self, seconds: float) -> None:
        self.clock_s += seconds

    def start(self, args: Sequence[str]) -> Background:
        self.calls.append(Call(tuple(args), None))
        if self.forward_to is None:
            return exited(1, self.forward_error)
        return forward(args, self.forward_to)

    @property
    def lines(self) -> list[str]:
        return [call.line for call in self.calls]

    @property
    def applied_texts(self) -> list[str]:
        """What each ``kubectl apply -f -`` was given, in order."""
        return [call.input_text or "" for call in self.calls if call.args[:1] == ("apply",)]


def deployment_json(
    release: str | None, revision: int, *, namespace: str = "triton-staging", **status: Any
) -> str:
    """``kubectl get deployment/triton -o json`` of a Deployment running ``release``."""
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "triton",
            "namespace": namespace,
            "generation": revision,
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
        },
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"annotations": {"triton-orchestrator/release": release or ""}},
                "spec": {"containers": [{"name": "triton"}]},
            },
        },
        "status": {
            "observedGeneration": revision,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 2,
            "availableReplicas": 2,
            **status,
        },
    }
    return json.dumps(body)


def pods_json(*pods: tuple[str, str | None, bool, str | None, int]) -> str:
    """``kubectl get pods -o json``: (name, release, ready, waiting reason, restarts) each."""
    items = []
    for name, release, ready, waiting, restarts in pods:
        state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
        items.append(
            {
                "metadata": {
                    "name": name,
                    "annotations": {"triton-orchestrator/release": release} if release else {},
                },
                "status": {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [
                        {"name": "triton", "state": state, "restartCount": restarts}
                    ],
                },
            }
        )
    return json.dumps({"kind": "List", "items": items})
