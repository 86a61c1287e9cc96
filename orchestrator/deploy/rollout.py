"""Deploy a release to an environment, or roll back, with an automatic undo on any exit.

The sequence, each kubectl call through the injected runner:

1. **check**: the release verifies and has golden data (``release_files``), and Triton can
   parse its store URL (``serving_url``); the environment pointer is read (the CAS base);
2. **render** the overlay for the release (``render``) and fetch the smoke's golden data;
3. **lock**: take the environment's Lease (``lock``; a second deploy is refused, naming
   the holder; a first deploy into a cluster without the namespace applies the manifests'
   Namespace first, a rollback there is refused), then ``kubectl get deployment triton``
   (the pod template to return to); a Deployment running another release than the
   pointer's is drift, refused unless ``take_over``;
4. **apply**: ``kubectl apply -f -``, then read the generation it made;
5. **rollout**: ``kubectl rollout status`` in slices, failing fast on what will not heal
   (``watch``); the client's deadline is ``rollout_timeout_s`` per replica;
6. **smoke**: the Deployment still has this deploy's generation; then, once no pod of
   another release is left, the golden probe of every served version on EVERY new pod,
   each reached by name (``kubectl port-forward pod/NAME``), or at ``--url``;
7. on success only, the applied manifests are stored as the unit (``deploy.unit``,
   create-if-absent), then the environment pointer moves (compare-and-swap against
   step 1) to the release and the unit; the Lease is given back.

The text applied is the rendered overlay plus the unit annotation (``unit.with_unit``);
a rollback to the previous unit applies its stored manifests instead of rendering.

When step 4, 5 or 6 fails, or SIGINT/SIGTERM arrives (``interrupts``): ``kubectl rollout
undo`` to the revision read in step 3 (only if the pod template changed, and only if the
Deployment still has this deploy's generation: an undo never returns over someone else's
apply), ``kubectl rollout status`` until it is ready again under its own deadline, and a
``DeployError`` naming the failed step and the undo's outcome. ``dry_run`` stops after
step 2 and reports the rendered manifests and the commands that would run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.deploy import render as render_mod
from orchestrator.deploy import unit as unit_mod
from orchestrator.deploy.cluster import (
    TARGET,
    deployment_state,
    generation_of,
    replicas_of,
)
from orchestrator.deploy.hints import store_args
from orchestrator.deploy.interrupts import Aborted, Signals, undo_on_signals
from orchestrator.deploy.kubectl import KubectlRunner, check, port_forward
from orchestrator.deploy.lock import LeaseKeeper, lock_environment, release_lock
from orchestrator.deploy.release_files import checked_release, fetch_probe_files, resolve_release
from orchestrator.deploy.undo import check_generation, refuse_drift, undo
from orchestrator.deploy.watch import STUCK_S, new_pods, rollout_deadline_s, wait_for_rollout
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
# Old pods terminate within terminationGracePeriodSeconds (60 in the base manifests).
_OLD_PODS_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy: manifests, where to smoke-test, deadlines, dry run."""

    manifests: Path = render_mod.DEFAULT_MANIFESTS
    url: str | None = None
    rollout_timeout_s: float = 1260.0
    smoke_timeout_s: float = 120.0
    dry_run: bool = False
    undo_timeout_s: float | None = None
    stuck_s: float = STUCK_S
    take_over: bool = False
    break_lock: bool = False

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
    unit: str | None = None  # issue 18: the digest of the manifests applied
    previous_unit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (the rendered manifests only for a dry run)."""
        body: dict[str, Any] = {
            "environment": self.environment,
            "release": self.release_id,
            "namespace": self.namespace,
            "model_repository": self.model_repository,
            "previous_release": self.previous_release_id,
            "unit": self.unit,
            "previous_unit": self.previous_unit,
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
    # issue 18: back to the previous unit's manifests as they were applied, when stored
    stored, note = _previous_unit(store, pointer, to)
    return _roll_out(
        store,
        environment,
        target,
        pointer,
        runner,
        options,
        progress,
        stored=stored,
        note=note,
        first_deploy=False,
    )


def _previous_unit(
    store: Store, pointer: EnvironmentPointer, to: str | None
) -> tuple[str | None, str | None]:
    """The previous unit's stored manifests (or None), and a warning when there are none."""
    if to is not None:
        return None, None
    text = None
    if pointer.previous_unit is not None:
        text = unit_mod.read_unit(store, pointer.previous_unit)
    if text is not None:
        return text, None
    note = (
        f"Warning: the store keeps no manifests of {pointer.environment}'s previous unit "
        f"(release {pointer.previous_release_id}, deployed before units were recorded): "
        "rolled back by rendering today's overlay with that release."
    )
    logger.warning("%s", note)
    return None, note


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
    *,
    stored: str | None = None,
    note: str | None = None,
    first_deploy: bool = True,
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
    if note is not None:
        notes += (note,)
    if stored is None:
        say(f"Rendering {options.manifests}/overlays/{environment} for release {release_id}")
        rendered = render_mod.render(
            runner,
            options.manifests,
            environment,
            release_id=release_id,
            model_repository=model_repository,
        )
        unit, applied = unit_mod.with_unit(rendered)  # issue 18: the deployed unit
    else:
        say(f"Applying the previous unit's stored manifests (release {release_id})")
        rendered = unit_mod.rendered_from_text(environment, stored)
        unit, applied = unit_mod.stored_unit(rendered, release_id)
    rendered = replace(rendered, text=applied)
    namespace = rendered.namespace
    placeholder = render_mod.placeholder_image(rendered)
    if placeholder is not None:
        say(
            f"Warning: the manifests use the placeholder image {placeholder}; the pods "
            "cannot pull it. Set your registry (images: newName, and a digest) in "
            f"{options.manifests}/overlays/{environment}/kustomization.yaml."
        )
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
        unit=unit,
        previous_unit=pointer.unit if pointer is not None else None,
    )
    if options.dry_run:
        return report
    with (
        tempfile.TemporaryDirectory(prefix="orchestrator-golden-") as temp,
        undo_on_signals() as signals,
    ):
        golden = fetch_probe_files(store, release, Path(temp))
        held = lock_environment(
            runner,
            namespace,
            environment,
            duration_s=_lock_duration_s(options),
            break_lock=options.break_lock,
            # A first deploy creates the namespace from its manifests; a rollback never does.
            objects=rendered.objects if first_deploy else None,
            say=say,
        )
        if held.broke:
            say(f"Broke the deploy lock held by {held.broke}")
        aborted = False
        keeper = LeaseKeeper(runner, held)
        try:
            with keeper:
                checked = _apply_and_check(
                    runner,
                    environment,
                    release_id,
                    namespace,
                    previous,
                    rendered.text,
                    golden,
                    options,
                    say,
                    signals,
                )
            if keeper.lost:
                say(keeper.lost)
            unit_mod.store_unit(store, unit, applied)  # issue 18: before the pointer moves
            _move_pointer(store, environment, release_id, previous, unit)
        except Aborted:
            aborted = True
            raise
        finally:
            if not aborted:
                unlocked = release_lock(runner, keeper.held)
                if unlocked:
                    say(unlocked)
    logger.info("Deployed release %s to %s (namespace %s)", release_id, environment, namespace)
    return replace(report, checked=checked)


def _apply_and_check(
    runner: KubectlRunner,
    environment: str,
    release_id: str,
    namespace: str,
    previous: str | None,
    text: str,
    golden: Path,
    options: DeployOptions,
    say: Progress,
    signals: Signals,
) -> tuple[str, ...]:
    """Steps 3 to 6 under the lock; any failure (or signal) after ``apply`` is undone."""
    before = deployment_state(runner, namespace)
    refuse_drift(before, previous, environment, namespace, options.take_over)
    replicas = replicas_of(before)
    applied: int | None = None
    step = "apply"
    try:
        say(f"Applying release {release_id} to namespace {namespace}")
        _apply(runner, text)
        after = deployment_state(runner, namespace)
        applied = generation_of(after) if after is not None else None
        step = "rollout"
        deadline_s = rollout_deadline_s(options.rollout_timeout_s, replicas)
        say(
            f"Waiting for the rollout of {replicas} pod(s) (up to {deadline_s:g} s: "
            f"{options.rollout_timeout_s:g} s per pod)"
        )
        wait_for_rollout(
            runner,
            namespace,
            release_id,
            deadline_s=deadline_s,
            step="rollout",
            stuck_s=options.stuck_s,
        )
        step = "smoke"
        check_generation(runner, namespace, release_id, applied)
        say("Golden smoke of every served version on every new pod")
        return _smoke(runner, namespace, release_id, golden, options)
    except OrchestratorError as failure:
        interrupted = f" ({signals.name})" if signals.count else ""
        say(f"Step {step} {'interrupted' if signals.count else 'failed'}{interrupted}; undoing")
        undo_s = rollout_deadline_s(options.undo_timeout_s or options.rollout_timeout_s, replicas)
        outcome = undo(runner, namespace, before, applied, undo_s, options.stuck_s)
        what = "was interrupted" if signals.count else "failed"
        # After a second signal the lock is kept (the undo may still be rolling out).
        raise (Aborted if signals.count > 1 else DeployError)(
            f"Deploying release {release_id} to {environment} {what} at step {step!r}. "
            f"{failure} {outcome}"
        ) from failure


def _lock_duration_s(options: DeployOptions) -> float:
    # The whole budget, with room for a few replicas, both ways: renewed every third of it
    # (lock.LeaseKeeper), and kept whole after a second signal while an undo still rolls.
    undo = options.undo_timeout_s or options.rollout_timeout_s
    return 4 * (options.rollout_timeout_s + undo) + options.smoke_timeout_s + _OLD_PODS_TIMEOUT_S


def _apply(runner: KubectlRunner, text: str) -> None:
    check(
        runner.run(["apply", "-f", "-"], input_text=text, timeout_s=_APPLY_TIMEOUT_S),
        "apply",
        "The cluster refused the manifests; nothing of the new release was rolled out.",
    )


def _smoke(
    runner: KubectlRunner, namespace: str, release_id: str, golden: Path, options: DeployOptions
) -> tuple[str, ...]:
    if options.url is not None:
        # A Service takes terminating pods out of its endpoints (EndpointSlice ready=false,
        # KEP-1672): once rollout status returned, it only reaches new pods.
        report = probe(options.url, golden, timeout_s=options.smoke_timeout_s)
        if not report.ok:
            raise DeployError(
                f"the golden smoke through {options.url} failed: {'; '.join(report.failures[:5])}."
            )
        return report.checked
    checked: tuple[str, ...] = ()
    for pod in new_pods(runner, namespace, release_id, timeout_s=_OLD_PODS_TIMEOUT_S):
        target = f"pod/{pod.name}"
        with port_forward(
            runner, namespace, target, PRODUCTION_PORTS["http"], timeout_s=options.smoke_timeout_s
        ) as url:
            report = probe(url, golden, timeout_s=options.smoke_timeout_s)
        if not report.ok:
            raise DeployError(
                f"the golden smoke of {target} in {namespace} failed: "
                f"{'; '.join(report.failures[:5])}."
            )
        checked = report.checked
    return checked


def _move_pointer(
    store: Store, environment: str, release_id: str, expected: str | None, unit: str | None = None
) -> None:
    try:
        set_environment(
            store,
            environment,
            release_id,
            expected_release_id=expected,
            must_be_absent=expected is None,
            unit=unit,
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
        else f"kubectl get pods --namespace {namespace} until no pod of another release is "
        f"left; per new pod: kubectl port-forward --namespace {namespace} pod/NAME "
        f"LOCAL:{PRODUCTION_PORTS['http']}, then the golden smoke through it"
    )
    return (
        f"kubectl kustomize {options.manifests}/overlays/{environment} (+ the release layer)",
        f"take the deploy lock: Lease triton-deploy in {namespace} (kubectl create/replace; "
        f"when {namespace} does not exist yet, a first deploy applies its Namespace first)",
        f"kubectl get {TARGET} --namespace {namespace} --ignore-not-found --output=json",
        "kubectl apply -f - (the manifests below)",
        f"kubectl rollout status {TARGET} --namespace {namespace} "
        f"--timeout={min(options.rollout_timeout_s, 60.0):g}s, repeated up to "
        f"{options.rollout_timeout_s:g} s per replica; fails fast on unschedulable pods, "
        "image pulls, crash loops, ProgressDeadlineExceeded",
        smoke,
        f"on failure: kubectl rollout undo {TARGET} --namespace {namespace} "
        "--to-revision=CURRENT, then kubectl rollout status",
        f"on success: point {environment} at {release_id} in {store_url} "
        f"(compare-and-swap, expected {previous or 'no pointer'})",
        "give the deploy lock back",
    )
