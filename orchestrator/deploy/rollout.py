"""Deploy a release to an environment, or roll back, with an automatic undo on any failure.

The sequence, each kubectl call through the injected runner:

1. **check**: the release verifies and has golden data (``release_files``), and Triton can
   parse its store URL (``serving_url``); the environment pointer is read (the CAS base);
2. **render** the overlay for the release (``render``) and fetch the smoke's golden data;
3. ``kubectl get deployment triton`` (the pod template to return to);
4. **apply**: ``kubectl apply -f -``;
5. **rollout**: ``kubectl rollout status --timeout`` (a crash-looping release fails here);
6. **smoke**: the golden probe of every served version through the Service (``--url``, or
   ``kubectl port-forward svc/triton`` on a free local port);
7. on success only, the environment pointer moves (compare-and-swap against step 1).

When step 4, 5 or 6 fails: ``kubectl rollout undo`` to the revision read in step 3 (only
if the pod template changed), ``kubectl rollout status`` until it is ready again, and a
``DeployError`` naming the failed step and the undo's outcome. ``dry_run`` stops after
step 2 and reports the rendered manifests and the commands that would run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.deploy import render as render_mod
from orchestrator.deploy.cluster import TARGET, deployment_state, revision_of, wait_for_rollout
from orchestrator.deploy.hints import store_args
from orchestrator.deploy.kubectl import KubectlRunner, check, port_forward
from orchestrator.deploy.release_files import checked_release, fetch_probe_files, resolve_release
from orchestrator.errors import DeployError, OrchestratorError, StoreConflictError
from orchestrator.releases.environments import (
    EnvironmentPointer,
    read_environment,
    set_environment,
)
from orchestrator.releases.stores.base import Store
from orchestrator.releases.stores.serving_url import serving_url
from orchestrator.serving.golden_probe import probe
from orchestrator.serving.triton.flags import PRODUCTION_PORTS

__all__ = ["DeployOptions", "DeployReport", "deploy", "rollback"]

logger = logging.getLogger(__name__)

_APPLY_TIMEOUT_S = 300.0
_UNDO_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy: manifests, where to smoke-test, deadlines, dry run."""

    manifests: Path = render_mod.DEFAULT_MANIFESTS
    url: str | None = None
    rollout_timeout_s: float = 1260.0
    smoke_timeout_s: float = 120.0
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.rollout_timeout_s <= 0 or self.smoke_timeout_s <= 0:
            raise DeployError(
                f"Timeouts must be positive, got rollout {self.rollout_timeout_s:g} s and "
                f"smoke {self.smoke_timeout_s:g} s."
            )


@dataclass(frozen=True)
class DeployReport:
    """What a deploy (or rollback, or dry run) did."""

    environment: str
    release_id: str
    namespace: str
    model_repository: str
    previous_release_id: str | None
    commands: tuple[str, ...]
    rendered: str
    checked: tuple[str, ...] = ()
    dry_run: bool = False
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the rendered manifests only for a dry run)."""
        body: dict[str, Any] = {
            "environment": self.environment,
            "release": self.release_id,
            "namespace": self.namespace,
            "model_repository": self.model_repository,
            "previous_release": self.previous_release_id,
            "checked": list(self.checked),
            "dry_run": self.dry_run,
            "commands": list(self.commands),
            "notes": list(self.notes),
        }
        if self.dry_run:
            body["rendered"] = self.rendered
        return body


Progress = Callable[[str], None]


def deploy(
    store: Store,
    environment: str,
    release: str,
    *,
    runner: KubectlRunner,
    options: DeployOptions,
    progress: Progress | None = None,
) -> DeployReport:
    """Roll ``release`` (an id or ``latest``) out to ``environment``; undo on any failure.

    Args:
        store: the store holding the release and the environment pointers.
        environment: the overlay and pointer name (``staging``, ``production``).
        release: a release id, or ``latest`` for the newest complete one.
        runner: runs kubectl (``SubprocessKubectl`` for real).
        options: manifests, endpoint, smoke URL, deadlines, dry run.
        progress: called with one line per long step.

    Returns:
        The report; the pointer has moved unless it is a dry run.

    Raises:
        DeployError: a check refused the release, or a step failed (then undone).
        StorageError: the store cannot be read, or Triton could not parse its URL.

    Example:
        >>> deploy(open_store("s3://models/prod"), "staging", "latest",
        ...        runner=SubprocessKubectl(), options=DeployOptions())  # doctest: +SKIP
    """
    _check_servable(store)
    pointer = read_environment(store, environment)
    release_id = resolve_release(store, release)
    return _roll_out(store, environment, release_id, pointer, runner, options, progress)


def rollback(
    store: Store,
    environment: str,
    to: str | None,
    *,
    runner: KubectlRunner,
    options: DeployOptions,
    progress: Progress | None = None,
) -> DeployReport:
    """Roll ``environment`` back to its pointer's previous release, or to ``to``.

    The same checks and sequence as ``deploy``, undo included.

    Raises:
        DeployError: the environment has no pointer, or no previous release and no ``to``;
            or a check or step failed, as for ``deploy``.

    Example:
        >>> rollback(open_store("s3://models/prod"), "production", None,
        ...          runner=SubprocessKubectl(), options=DeployOptions())  # doctest: +SKIP
    """
    _check_servable(store)
    pointer = read_environment(store, environment)
    if pointer is None:
        raise DeployError(
            f"Environment {environment!r} has no pointer in {store.url}: nothing was "
            "deployed there by orchestrator deploy, so there is nothing to roll back to. "
            "Use orchestrator deploy --env ENV --release ID."
        )
    target = to or pointer.previous_release_id
    if target is None:
        raise DeployError(
            f"Environment {environment!r} runs release {pointer.release_id} and records no "
            "previous release. Name one: orchestrator rollback "
            f"{store_args(store)} --env {environment} --to ID (see orchestrator releases "
            f"list {store_args(store)})."
        )
    return _roll_out(store, environment, target, pointer, runner, options, progress)


def _check_servable(store: Store) -> None:
    # Before anything is read or run: a store Triton would misread is refused outright.
    serving_url(store.url, endpoint_url=store.endpoint_url)


def _roll_out(
    store: Store,
    environment: str,
    release_id: str,
    pointer: EnvironmentPointer | None,
    runner: KubectlRunner,
    options: DeployOptions,
    progress: Progress | None,
) -> DeployReport:
    say = progress or (lambda _message: None)
    release = checked_release(store, release_id)
    model_repository = serving_url(store.url, release_id, endpoint_url=store.endpoint_url)
    notes: tuple[str, ...] = ()
    if model_repository.startswith("/"):
        notes = (
            f"{store.url} is a local store: the pods must see {model_repository} (a volume, "
            "or an image with the release baked in).",
        )
    say(f"Rendering {options.manifests}/overlays/{environment} for release {release_id}")
    rendered = render_mod.render(
        runner,
        options.manifests,
        environment,
        release_id=release_id,
        model_repository=model_repository,
    )
    namespace = rendered.namespace
    previous = pointer.release_id if pointer is not None else None
    report = DeployReport(
        environment,
        release_id,
        namespace,
        model_repository,
        previous,
        _commands(namespace, environment, release_id, previous, store.url, options),
        rendered.text,
        dry_run=options.dry_run,
        notes=notes,
    )
    if options.dry_run:
        return report
    with tempfile.TemporaryDirectory(prefix="orchestrator-golden-") as temp:
        golden = fetch_probe_files(store, release, Path(temp))
        before = deployment_state(runner, namespace)
        step = "apply"
        try:
            say(f"Applying release {release_id} to namespace {namespace}")
            _apply(runner, rendered.text)
            step = "rollout"
            say(f"Waiting for the rollout (up to {options.rollout_timeout_s:g} s)")
            wait_for_rollout(runner, namespace, options.rollout_timeout_s, "rollout")
            step = "smoke"
            say("Golden smoke of every served version through the Service")
            checked = _smoke(runner, namespace, golden, options)
        except OrchestratorError as failure:
            say(f"Step {step} failed; undoing")
            outcome = _undo(runner, namespace, before, options.rollout_timeout_s)
            raise DeployError(
                f"Deploying release {release_id} to {environment} failed at step {step!r}. "
                f"{failure} {outcome}"
            ) from failure
    _move_pointer(store, environment, release_id, previous)
    logger.info("Deployed release %s to %s (namespace %s)", release_id, environment, namespace)
    return replace(report, checked=checked)


def _apply(runner: KubectlRunner, text: str) -> None:
    check(
        runner.run(["apply", "-f", "-"], input_text=text, timeout_s=_APPLY_TIMEOUT_S),
        "apply",
        "The cluster refused the manifests; nothing of the new release was rolled out.",
    )


def _smoke(
    runner: KubectlRunner, namespace: str, golden: Path, options: DeployOptions
) -> tuple[str, ...]:
    if options.url is not None:
        report = probe(options.url, golden, timeout_s=options.smoke_timeout_s)
        where = options.url
    else:
        service = f"svc/{render_mod.SERVICE}"
        http_port = PRODUCTION_PORTS["http"]
        with port_forward(
            runner, namespace, service, http_port, timeout_s=options.smoke_timeout_s
        ) as url:
            report = probe(url, golden, timeout_s=options.smoke_timeout_s)
        where = f"{service} in {namespace}"
    if not report.ok:
        raise DeployError(
            f"the golden smoke through {where} failed: {'; '.join(report.failures[:5])}."
        )
    return report.checked


def _undo(
    runner: KubectlRunner, namespace: str, before: Mapping[str, Any] | None, timeout_s: float
) -> str:
    if before is None:
        return (
            f"Nothing to undo to: {TARGET} did not exist before this deploy, and stays at "
            f"the failed release. Deploy a release that passes, or remove it: kubectl delete "
            f"{TARGET} --namespace {namespace}."
        )
    previous = render_mod.release_of(before) or "unknown"
    try:
        after = deployment_state(runner, namespace)
        if after is not None and after.get("spec", {}).get("template") == before.get(
            "spec", {}
        ).get("template"):
            return f"The pod template did not change: {TARGET} still runs release {previous}."
        args = ["rollout", "undo", TARGET, "--namespace", namespace]
        revision = revision_of(before)
        if revision:
            args.append(f"--to-revision={revision}")
        check(
            runner.run(args, input_text=None, timeout_s=_UNDO_TIMEOUT_S),
            "undo",
            f"Roll back by hand: kubectl rollout undo {TARGET} --namespace {namespace}.",
        )
        wait_for_rollout(runner, namespace, timeout_s, "undo")
    except DeployError as exc:
        return f"The undo failed too: {exc}"
    return f"Rolled back: {TARGET} runs release {previous} again, and it is ready."


def _move_pointer(store: Store, environment: str, release_id: str, expected: str | None) -> None:
    try:
        set_environment(
            store,
            environment,
            release_id,
            expected_release_id=expected,
            must_be_absent=expected is None,
        )
    except StoreConflictError as exc:
        raise DeployError(
            f"Release {release_id} is rolled out to {environment}, but its pointer in "
            f"{store.url} was changed by someone else meanwhile ({exc}). Check "
            f"orchestrator status --env {environment} and deploy again."
        ) from exc


def _commands(
    namespace: str,
    environment: str,
    release_id: str,
    previous: str | None,
    store_url: str,
    options: DeployOptions,
) -> tuple[str, ...]:
    smoke = (
        f"golden smoke at {options.url}"
        if options.url
        else f"kubectl port-forward --namespace {namespace} svc/{render_mod.SERVICE} "
        f"LOCAL:{PRODUCTION_PORTS['http']}, then the golden smoke through it"
    )
    return (
        f"kubectl kustomize {options.manifests}/overlays/{environment} (+ the release layer)",
        f"kubectl get {TARGET} --namespace {namespace} --ignore-not-found --output=json",
        "kubectl apply -f - (the manifests above)",
        f"kubectl rollout status {TARGET} --namespace {namespace} "
        f"--timeout={options.rollout_timeout_s:g}s",
        smoke,
        f"on failure: kubectl rollout undo {TARGET} --namespace {namespace} "
        "--to-revision=CURRENT, then kubectl rollout status",
        f"on success: point {environment} at {release_id} in {store_url} "
        f"(compare-and-swap, expected {previous or 'no pointer'})",
    )
