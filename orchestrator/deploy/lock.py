"""One deploy per environment: a ``coordination.k8s.io/v1`` Lease in the environment's namespace.

``deploy`` and ``rollback`` take the Lease ``triton-deploy`` before ``kubectl apply`` and
give it back after (on every exit but an abort by a second signal). Taking it:

- no Lease: ``kubectl create -f -`` (a racing second create gets ``AlreadyExists``);
- a free Lease (empty ``holderIdentity``), an expired one (``renewTime`` +
  ``leaseDurationSeconds`` in the past), or ``break_lock``: ``kubectl replace -f -`` of the
  Lease as read, ``metadata.resourceVersion`` included, so a write by someone else
  meanwhile is refused with 409 Conflict (optimistic concurrency, the API server's rule);
- otherwise the deploy is refused, naming the holder and since when.

While the deploy runs, ``LeaseKeeper`` renews the Lease (``renewTime`` moved to now, by a
``replace`` against the resourceVersion it last wrote) every third of
``leaseDurationSeconds``, so a rollout longer than the duration is never taken for a stale
lock. That is the Lease's contract: ``leaseDurationSeconds`` is how long candidates wait,
counted from the last observed ``renewTime``, before they may take it
(``coordination.k8s.io/v1`` LeaseSpec; client-go's leader election renews the same way).
A renewal refused with 409 Conflict means someone took the Lease meanwhile (``--break-lock``
or an expiry): the keeper stops and says so, and the deploy reports it.

A first deploy finds no namespace: the Lease's ``create`` is refused with ``namespaces "NS"
not found`` (the API server's NamespaceLifecycle admission refuses a create in a namespace
that does not exist; k8s.io/apiserver ``pkg/admission/plugin/namespace/lifecycle/
admission.go``), while the ``get`` before it finds nothing, as in any empty namespace.
``lock_environment`` then applies the rendered manifests' own Namespace object (only it,
``kubectl apply -f -``, idempotent when two first deploys race) and takes the Lease again;
manifests without that Namespace, or a rollback, are refused with what to do.

Giving it back is the same ``replace`` with an empty holder (the way client-go's leader
election releases a lock), against the resourceVersion this deploy wrote last: when
someone broke the lock meanwhile, theirs is left alone.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from orchestrator.deploy.cluster import obj
from orchestrator.deploy.kubectl import KubectlRunner, check, parse_json, shown
from orchestrator.errors import DeployError

__all__ = [
    "LEASE",
    "Held",
    "LeaseKeeper",
    "holder_identity",
    "lock_environment",
    "release_lock",
    "take_lock",
]

logger = logging.getLogger(__name__)

LEASE = "triton-deploy"
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Held:
    """A Lease this process holds: where, as whom, and the resourceVersion it wrote."""

    namespace: str
    holder: str
    resource_version: str
    broke: str = ""
    acquired: str = ""
    duration_s: float = 0.0


def holder_identity() -> str:
    """Who deploys: the GitHub run when in Actions, else ``user@host (pid N)``.

    Example:
        >>> holder_identity()  # doctest: +SKIP
        'alice@laptop (pid 4242)'
    """
    run = os.environ.get("GITHUB_RUN_ID")
    if run:
        repository = os.environ.get("GITHUB_REPOSITORY", "?")
        return f"github-actions {repository} run {run} ({os.environ.get('GITHUB_JOB', 'job')})"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def take_lock(
    runner: KubectlRunner,
    namespace: str,
    environment: str,
    *,
    duration_s: float,
    break_lock: bool = False,
    holder: str | None = None,
) -> Held:
    """Take the environment's Lease, or refuse naming who holds it and since when.

    Raises:
        DeployError: someone else holds an unexpired Lease (and ``break_lock`` is false),
            or wrote it while this deploy took it.

    Example:
        >>> take_lock(SubprocessKubectl(), "triton-staging", "staging",
        ...           duration_s=3600).holder  # doctest: +SKIP
        'alice@laptop (pid 4242)'
    """
    me = holder or holder_identity()
    get = ["get", f"lease/{LEASE}", "--namespace", namespace, "--ignore-not-found", "-o", "json"]
    done = runner.run(get, input_text=None, timeout_s=_TIMEOUT_S)
    if not done.ok:
        raise DeployError(
            f"Could not read the deploy lock (Lease {LEASE} in {namespace}): "
            f"{shown(done.stderr) or 'no message'}. The kube context needs get/create/update "
            "on leases.coordination.k8s.io in that namespace."
        )
    current = parse_json(done.stdout, f"kubectl {' '.join(get)}")
    now = datetime.now(UTC)
    if current is None:
        body = _lease(namespace, me, duration_s, now, resource_version=None)
        return _write(runner, ["create"], body, namespace, me, environment, "")
    spec = obj(current.get("spec"))
    other = str(spec.get("holderIdentity") or "")
    since = shown(str(spec.get("acquireTime") or "an unknown time"), 80)
    expires = _expiry(spec)
    free = not other or (expires is not None and expires < now)
    if not free and not break_lock:
        until = f", until {expires:%Y-%m-%dT%H:%M:%SZ}" if expires else ""
        raise DeployError(
            f"Environment {environment} is being deployed by {shown(other, 200)} (Lease "
            f"{LEASE} in {namespace}, held since {since}{until}). Wait for that deploy to "
            "finish; if it is gone (a killed job), take the lock on purpose with --break-lock."
        )
    version = str(obj(current.get("metadata")).get("resourceVersion") or "")
    body = _lease(namespace, me, duration_s, now, resource_version=version)
    broke = f"{shown(other, 200)} (since {since})" if other and not free else ""
    if broke:
        logger.warning("Breaking the deploy lock of %s held by %s", environment, broke)
    return _write(runner, ["replace"], body, namespace, me, environment, broke)


class _NoNamespace(DeployError):
    """The Lease's create was refused: the namespace does not exist (yet)."""


def lock_environment(
    runner: KubectlRunner,
    namespace: str,
    environment: str,
    *,
    duration_s: float,
    break_lock: bool = False,
    objects: Sequence[Mapping[str, Any]] | None,
    say: Callable[[str], None],
    holder: str | None = None,
) -> Held:
    """``take_lock``; on a first deploy (no namespace yet), create it from ``objects`` first.

    Args:
        runner: runs kubectl.
        namespace: the environment's namespace (the rendered manifests').
        environment: the environment, for messages.
        duration_s: the Lease's ``leaseDurationSeconds``.
        break_lock: take the Lease even when someone else holds it.
        objects: the rendered manifests' objects, whose Namespace ``namespace`` is applied
            when the namespace does not exist; None (a rollback) refuses instead.
        say: told when the namespace is created.
        holder: who takes the Lease (default ``holder_identity()``).

    Raises:
        DeployError: as ``take_lock``; or the namespace does not exist and ``objects`` has
            no Namespace of that name (or is None), or the cluster refused to create it.

    Example:
        >>> lock_environment(SubprocessKubectl(), "triton-staging", "staging",
        ...                  duration_s=3600, objects=rendered.objects, say=print)  # doctest: +SKIP
        Created namespace triton-staging: a first deploy
    """

    def lock() -> Held:
        return take_lock(
            runner,
            namespace,
            environment,
            duration_s=duration_s,
            break_lock=break_lock,
            holder=holder,
        )

    try:
        return lock()
    except _NoNamespace as missing:
        own = [
            o
            for o in objects or ()
            if o.get("kind") == "Namespace" and obj(o.get("metadata")).get("name") == namespace
        ]
        if objects is None:
            raise DeployError(
                f"{missing} Nothing runs there to roll back (was the namespace deleted?), and "
                f"nothing was applied. Deploy a release instead: orchestrator deploy STORE --env "
                f"{environment} --release ID (a first deploy creates the namespace)."
            ) from missing
        if not own:
            raise DeployError(
                f"{missing} The {environment} manifests do not create it (no Namespace "
                f"{namespace} among them), so nothing was applied. Create it once with "
                f"kubectl create namespace {namespace}, or add a Namespace object to the "
                "overlay (as deployment/k8s/overlays/staging/namespace.yaml does), and deploy "
                "again."
            ) from missing
    check(
        runner.run(
            ["apply", "-f", "-"], input_text=json.dumps(own[0], default=str), timeout_s=_TIMEOUT_S
        ),
        "create namespace",
        f"The cluster did not create namespace {namespace} for the first deploy of "
        f"{environment}; nothing else was applied. The kube context may not create "
        f"namespaces: ask an admin to run kubectl create namespace {namespace}, then deploy "
        "again.",
    )
    say(f"Created namespace {namespace}: a first deploy")
    try:
        return lock()
    except _NoNamespace as missing:
        raise DeployError(
            f"{missing} It was applied just now (kubectl apply said it was created); check "
            f"kubectl get namespace {namespace} (is it being deleted?) and deploy again."
        ) from missing


def release_lock(runner: KubectlRunner, held: Held) -> str | None:
    """Give the Lease back; None when done, else why not (for a note, never an error).

    Example:
        >>> release_lock(SubprocessKubectl(), held)  # doctest: +SKIP
    """
    body = _lease(held.namespace, "", 0, datetime.now(UTC), resource_version=held.resource_version)
    args = ["replace", "-f", "-", "-o", "json"]
    try:
        done = runner.run(args, input_text=json.dumps(body), timeout_s=_TIMEOUT_S)
    except DeployError as exc:
        return f"The deploy lock could not be given back ({exc}); it expires by itself."
    if done.ok:
        return None
    return (
        f"The deploy lock (Lease {LEASE} in {held.namespace}) was not given back: "
        f"{shown(done.stderr, 300) or 'no message'} (someone broke it meanwhile, or it expired)."
    )


def _write(
    runner: KubectlRunner,
    verb: list[str],
    body: dict[str, Any],
    namespace: str,
    me: str,
    environment: str,
    broke: str,
) -> Held:
    args = [*verb, "-f", "-", "-o", "json"]
    done = runner.run(args, input_text=json.dumps(body), timeout_s=_TIMEOUT_S)
    if not done.ok and verb == ["create"] and _no_namespace(done.stderr, namespace):
        raise _NoNamespace(
            f"Environment {environment} could not be locked: namespace {namespace} does not "
            f"exist in the cluster (kubectl {' '.join(args)} said: {shown(done.stderr, 300)})."
        )
    if not done.ok:
        raise DeployError(
            f"Environment {environment} could not be locked: kubectl {' '.join(args)} "
            f"(Lease {LEASE} in {namespace}) said: {shown(done.stderr, 500) or 'no message'}. "
            "Another deploy took the lock at the same moment (AlreadyExists / Conflict), or "
            "the kube context may not write leases; check kubectl get lease --namespace "
            f"{namespace} and try again."
        )
    written = parse_json(done.stdout, f"kubectl {' '.join(args)}") or {}
    version = str(obj(written.get("metadata")).get("resourceVersion") or "")
    spec = body["spec"]
    logger.info("Took the deploy lock of %s as %s", environment, me)
    return Held(
        namespace, me, version, broke, spec["acquireTime"], float(spec["leaseDurationSeconds"])
    )


class LeaseKeeper:
    """Renews a held Lease every third of its duration, in a thread, until the block ends.

    ``held`` is the Lease as last written (give that one back); ``lost`` says why renewing
    stopped early (someone took the Lease), else it is empty.

    Example:
        >>> with LeaseKeeper(runner, take_lock(runner, ns, "staging", duration_s=120)) as kept:
        ...     ...  # the rollout  # doctest: +SKIP
        >>> release_lock(runner, kept.held)  # doctest: +SKIP
    """

    def __init__(self, runner: KubectlRunner, held: Held, *, every_s: float | None = None):
        self.runner = runner
        self.held = held
        self.lost = ""
        self.renewals = 0
        self.every_s = every_s if every_s is not None else max(1.0, held.duration_s / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _keep(self) -> None:
        while not self._stop.wait(self.every_s):
            held = self.held
            body = _lease(
                held.namespace,
                held.holder,
                held.duration_s,
                datetime.now(UTC),
                resource_version=held.resource_version,
                acquired=held.acquired,
            )
            args = ["replace", "-f", "-", "-o", "json"]
            try:
                done = self.runner.run(args, input_text=json.dumps(body), timeout_s=_TIMEOUT_S)
                written = parse_json(done.stdout, "kubectl replace") if done.ok else None
            except DeployError as exc:
                logger.warning("Could not renew the deploy lock (will retry): %s", exc)
                continue
            if not done.ok:
                # 409 Conflict: someone wrote the Lease since (a --break-lock, or it expired
                # and was taken). Renewing over them would take it back: stop.
                self.lost = (
                    f"The deploy lock (Lease {LEASE} in {held.namespace}) was taken by someone "
                    f"else during this deploy: {shown(done.stderr, 300) or 'no message'}."
                )
                logger.warning("%s", self.lost)
                return
            version = str(obj((written or {}).get("metadata")).get("resourceVersion") or "")
            self.held = replace(held, resource_version=version)
            self.renewals += 1
            logger.debug("Renewed the deploy lock in %s", held.namespace)


def _lease(
    namespace: str,
    holder: str,
    duration_s: float,
    now: datetime,
    *,
    resource_version: str | None,
    acquired: str = "",
) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # MicroTime (RFC 3339, microseconds)
    metadata: dict[str, Any] = {
        "name": LEASE,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/part-of": "triton-orchestrator"},
    }
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    spec: dict[str, Any] = {"holderIdentity": holder, "renewTime": stamp}
    if holder:
        spec |= {"acquireTime": acquired or stamp, "leaseDurationSeconds": max(1, int(duration_s))}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": spec,
    }


def _no_namespace(stderr: str, namespace: str) -> bool:
    # kubectl: 'Error from server (NotFound): error when creating "STDIN": namespaces "NS"
    # not found' (NamespaceLifecycle's answer to a create; kubectl's AddSourceToErr).
    return "(NotFound)" in stderr and f'namespaces "{namespace}" not found' in stderr


def _expiry(spec: dict[str, Any]) -> datetime | None:
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    duration = spec.get("leaseDurationSeconds")
    if not isinstance(renewed, str) or not isinstance(duration, int) or isinstance(duration, bool):
        return None
    try:
        when = datetime.strptime(renewed[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        return when + timedelta(seconds=min(max(duration, 0), 10**7))
    except ValueError:
        return None
