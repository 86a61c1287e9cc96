"""Promote: deploy exactly the release one environment runs to another, behind its gate.

``promote(store, "staging", "production", ...)``:

1. reads the ``staging`` pointer once: the release to promote (a ``release`` the caller
   names must be that one, so a pointer moved by a later run is caught);
2. finds a passing, measured gate record of that release in ``staging``
   (``latest_passing``; a forced record never counts), or, with ``force``, goes on
   without one; without either it stops before any kubectl call;
3. stops with success when ``production`` already runs the whole unit: its pointer names
   the release *and* the digest of the manifests a deploy would apply now
   (``unit.planned_unit``; an idempotent re-run), unless ``redeploy``; the same release
   with changed manifests or image is promoted like a new release;
4. ``rollout.deploy`` to ``production`` (verify, render, apply, rollout, golden smoke,
   undo on failure, pointer compare-and-swap);
5. with ``gate`` (``deploy.gate.GateOptions``), gates ``production`` on the deployed
   release as ``orchestrator gate`` does (``run_gate``: a record in ``production``'s
   records), then runs ``verify_target`` (any other check) if given; a failed gate (a
   ``GateError`` carrying the ``GateResult``) or an ``OrchestratorError`` from the check
   rolls ``production`` back to what ran before and is raised;
6. with ``force``, writes the forced record only now, once the target was deployed and
   checked (``passed``, ``forced``, ``reason``, ``by``, ``promoted_to``,
   ``target_checked``); a forced promotion that failed writes one with ``passed: false``
   and the error (an audit trail that authorizes nothing).

The gates file of ``gate`` is checked against the release before any kubectl call (a
``ConfigError``: nothing was deployed or gated). A dry run stops after the deploy's own
dry run (the rendered manifests and commands) and writes nothing: no forced record, no
pointer, no gate record.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.deploy import rollout
from orchestrator.deploy.gate import GateOptions, GateResult, check_gate_config, run_gate
from orchestrator.deploy.hints import store_args
from orchestrator.deploy.kubectl import KubectlRunner
from orchestrator.deploy.unit import planned_unit
from orchestrator.errors import DeployError, GateError, OrchestratorError, StorageError
from orchestrator.releases.environments import EnvironmentPointer, read_environment
from orchestrator.releases.gate_records import (
    gate_records,
    latest_passing,
    records_prefix,
    write_gate_record,
)
from orchestrator.releases.stores.base import Store

__all__ = ["PromoteReport", "VerifyTarget", "promote", "promotion_actor"]

logger = logging.getLogger(__name__)

VerifyTarget = Callable[[rollout.DeployReport], None]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PromoteReport:
    """What a promotion did (or would do, for a dry run).

    ``outcome`` is ``promoted``, ``already-running`` (the target's pointer named the
    release: nothing was done) or ``dry-run``. ``record_key`` is the store key of the
    gate record that allowed it (the forced record for ``--force``; None for a forced
    dry run, which writes nothing). ``deploy`` is the deploy's report (None when the
    release was already running). ``gate`` is the target's passing gate (None when
    promote was not asked to gate it, or nothing was deployed).
    """

    store_url: str
    source: str
    target: str
    release_id: str
    outcome: str
    record_key: str | None
    forced: bool
    deploy: rollout.DeployReport | None
    target_checked: bool = False
    gate: GateResult | None = None

    @property
    def dry_run(self) -> bool:
        """Whether nothing was changed on purpose (a dry run)."""
        return self.outcome == "dry-run"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: from, to, release, outcome, the record, the deploy's and gate's."""
        return {
            "from": self.source,
            "to": self.target,
            "release": self.release_id,
            "outcome": self.outcome,
            "record": self.record_key,
            "forced": self.forced,
            "target_checked": self.target_checked,
            "deploy": self.deploy.as_dict() if self.deploy is not None else None,
            "gate": self.gate.as_dict() if self.gate is not None else None,
        }


def promotion_actor() -> str:
    """Who promotes: ``$GITHUB_ACTOR`` in a workflow, else the login name.

    Example:
        >>> promotion_actor()  # doctest: +SKIP
        'octocat'
    """
    actor = os.environ.get("GITHUB_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a uid without a passwd entry (containers)
        return f"uid {os.getuid()}"


def promote(
    store: Store,
    source: str,
    target: str,
    *,
    runner: KubectlRunner,
    options: rollout.DeployOptions,
    release: str | None = None,
    force: bool = False,
    reason: str | None = None,
    actor: str | None = None,
    redeploy: bool = False,
    gate: GateOptions | None = None,
    verify_target: VerifyTarget | None = None,
    progress: Progress | None = None,
) -> PromoteReport:
    """Deploy the release ``source``'s pointer names to ``target``, if its gate passed there.

    Args:
        store: the store holding the releases, pointers and gate records.
        source: the environment whose release is promoted (``staging``).
        target: the environment it is deployed to (``production``).
        runner: runs kubectl (``SubprocessKubectl`` for real).
        options: as for ``rollout.deploy`` (manifests, smoke URL, deadlines, dry run).
        release: the release the caller expects ``source`` to run; refused if it differs.
        force: promote without a passing record; needs ``reason``, and writes a forced
            record in ``source``'s records once ``target`` is deployed and checked
            (``passed: false`` when that failed).
        reason: why the gate is skipped (with ``force`` only).
        actor: who forces it, for the record (default ``promotion_actor()``).
        redeploy: deploy even when ``target`` already runs the release.
        gate: gate ``target`` once deployed, with these options (``run_gate``; the
            expected release is the promoted one); a failed gate rolls ``target`` back.
            None: no gate of ``target`` (no load on it).
        verify_target: another check of the deployed target, after its gate; an
            ``OrchestratorError`` from it rolls ``target`` back.
        progress: called with one line per long step.

    Returns:
        The report; ``outcome`` says whether anything was deployed.

    Raises:
        GateError: no passing gate record (nothing was done to ``target``), or the gate
            of ``target`` failed (its ``outcome`` is the ``GateResult``) or
            ``verify_target`` raised a ``GateError`` (``target`` was rolled back).
        ConfigError: ``gate``'s gates file is wrong, or does not fit the release
            (nothing was done).
        DeployError: a bad request (no ``source`` pointer, another ``release``, a
            ``force`` without reason), a failed deploy (undone), or a failed target check
            (rolled back).
        StorageError: the store cannot be read or written.

    Example:
        >>> promote(open_store("s3://models/prod"), "staging", "production",
        ...         runner=SubprocessKubectl(), options=DeployOptions(),
        ...         gate=GateOptions())  # doctest: +SKIP
        PromoteReport(source='staging', target='production', outcome='promoted', ...)
    """
    say = progress or (lambda _message: None)
    _check_request(source, target, force, reason)
    release_id = _source_release(store, source, release)
    if gate is not None:
        # A wrong gates file fails here, before anything deploys: a configuration error
        # says nothing about the release, and must not cost production a rollout.
        check_gate_config(store, release_id, gate.gates)
    record_key: str | None = None
    if not force:
        record_key = _passing_record(store, release_id, source, target)
    current = read_environment(store, target)
    if not redeploy and _runs_unit(store, current, target, release_id, runner, options):
        say(f"{target} already runs release {release_id}; nothing to do (--redeploy to redo it)")
        return PromoteReport(
            store.url, source, target, release_id, "already-running", record_key, force, None
        )
    by = actor or promotion_actor()
    if force:
        allowed = (
            f"--force (by {by}: {(reason or '').strip()}); the forced record is written "
            f"in {source} once {target} is checked"
        )
    else:
        allowed = f"gate record {record_key}"
    say(f"Promoting release {release_id} from {source} to {target}, allowed by {allowed}")
    try:
        report = rollout.deploy(
            store, target, release_id, runner=runner, options=options, progress=progress
        )
        outcome = "dry-run" if options.dry_run else "promoted"
        promoted = PromoteReport(
            store.url, source, target, release_id, outcome, record_key, force, report
        )
        if options.dry_run:
            return promoted
        if gate is not None or verify_target is not None:
            say(f"Checking {target} with release {release_id}")
            try:
                gated = _gate(store, target, report, gate, runner, progress)
                if verify_target is not None:
                    verify_target(report)
            except OrchestratorError as failure:
                _roll_back(store, target, report, failure, runner, options, progress)
            promoted = replace(promoted, target_checked=True, gate=gated)
    except OrchestratorError as exc:
        if force and not options.dry_run:
            _forced_record(store, release_id, source, target, by, reason, failure=exc)
        raise
    if force:
        key = _forced_record(store, release_id, source, target, by, reason, checked=promoted)
        promoted = replace(promoted, record_key=key)
    logger.info("Promoted release %s from %s to %s", release_id, source, target)
    return promoted


def _gate(
    store: Store,
    target: str,
    deployed: rollout.DeployReport,
    gate: GateOptions | None,
    runner: KubectlRunner,
    progress: Progress | None,
) -> GateResult | None:
    """Gate ``target`` on the deployed release; a failed gate is a ``GateError`` with it."""
    if gate is None:
        return None
    options = replace(gate, release_id=deployed.release_id)
    result = run_gate(store, target, runner=runner, options=options, progress=progress)
    if not result.passed:
        failed = sorted({check.name for check in result.checks if not check.passed})
        raise GateError(
            f"The gate of release {result.release_id} in {target} failed "
            f"({', '.join(failed) or 'nothing measured'}; record {result.key}).",
            result,
        )
    return result


def _forced_record(
    store: Store,
    release_id: str,
    source: str,
    target: str,
    by: str,
    reason: str | None,
    *,
    checked: PromoteReport | None = None,
    failure: OrchestratorError | None = None,
) -> str | None:
    """Write the record of a forced promotion once its outcome in ``target`` is known.

    It is bound to its target (``promoted_to``) and says ``forced``; ``passed`` is True
    only for a promotion that deployed (and, when asked, checked) ``target``. It never
    authorizes another promotion: ``latest_passing`` and the throughput baseline pass
    forced records over. A failed forced promotion still leaves its audit record
    (``passed: false`` with the error); a store that refuses that write is logged, so the
    promotion's own error is the one raised.
    """
    body: dict[str, Any] = {
        "passed": failure is None,
        "forced": True,
        "reason": (reason or "").strip(),
        "by": by,
        "promoted_to": target,
        "target_checked": bool(checked and checked.target_checked),
    }
    if failure is not None:
        body["error"] = str(failure)[:2000]
    try:
        record = write_gate_record(store, release_id, source, body)
    except OrchestratorError as exc:
        if failure is None:
            raise StorageError(
                f"Release {release_id} was promoted to {target} (--force), but its forced "
                f"record could not be written to {store.url}: {exc} Write access to the store "
                "is needed for the audit trail; the promotion itself stands."
            ) from exc
        logger.error("Could not record the failed forced promotion of %s: %s", release_id, exc)
        return None
    logger.warning(
        "Forced promotion of %s to %s %s: %s",
        release_id,
        target,
        "done" if failure is None else "failed",
        record.key,
    )
    return record.key


def _runs_unit(
    store: Store,
    current: EnvironmentPointer | None,
    target: str,
    release_id: str,
    runner: KubectlRunner,
    options: rollout.DeployOptions,
) -> bool:
    """Whether ``target`` runs the whole unit a deploy would apply now (issue 18).

    The same release with other manifests (a ``deployment/**`` or image change) is not
    running yet; neither is a pointer without a unit (format 1: what it applied is unknown).
    """
    if current is None or current.release_id != release_id or current.unit is None:
        return False
    planned = planned_unit(store, target, release_id, runner=runner, manifests=options.manifests)
    return current.unit == planned


def _check_request(source: str, target: str, force: bool, reason: str | None) -> None:
    if source == target:
        raise DeployError(
            f"Promote from {source!r} to {target!r}: the environments must differ "
            "(e.g. --from staging --to production)."
        )
    if force and not (reason or "").strip():
        raise DeployError(
            "A forced promotion needs a reason for the record (--reason TEXT): it skips "
            "the gate, so the record must say who skipped it and why."
        )
    if reason is not None and not force:
        raise DeployError("A reason is only recorded for a forced promotion (--force).")


def _source_release(store: Store, source: str, release: str | None) -> str:
    pointer = read_environment(store, source)
    if pointer is None:
        raise DeployError(
            f"Environment {source!r} has no pointer in {store.url}: there is no release "
            f"to promote. Deploy one there first: orchestrator deploy {store_args(store)} --env "
            f"{source} --release ID."
        )
    if release is not None and release != pointer.release_id:
        raise DeployError(
            f"{source} runs release {pointer.release_id}, not {release} as expected: its "
            "pointer was moved since (by a later run?). Promote what was tested: rerun "
            f"with --release {pointer.release_id}, or deploy {release} to {source} and "
            "gate it first."
        )
    return pointer.release_id


def _passing_record(store: Store, release_id: str, source: str, target: str) -> str:
    passing = latest_passing(store, release_id, source)
    if passing is not None:
        return passing.key
    records = gate_records(store, release_id, source)
    prefix = f"{store.url}/{records_prefix(release_id, source)}"
    forced = sum(record.forced for record in records)
    found = (
        f"its {len(records)} record(s) under {prefix} all failed or were forced (the "
        f"newest: {records[-1].key})"
        if records
        else f"there is no record under {prefix}"
    )
    if forced:
        found += (
            f"; {forced} of them forced: a forced record (promote --force) authorizes only "
            "the promotion that wrote it, never a later one"
        )
    raise GateError(
        f"Release {release_id} has no passing gate record in {source}: {found}. Nothing "
        f"was done to {target}. Run the gate first: orchestrator gate {store_args(store)} --env "
        f"{source}; or, knowingly, promote with --force --reason TEXT."
    )


def _roll_back(
    store: Store,
    target: str,
    report: rollout.DeployReport,
    failure: OrchestratorError,
    runner: KubectlRunner,
    options: rollout.DeployOptions,
    progress: Progress | None,
) -> None:
    def error(message: str) -> DeployError:
        # A failed gate stays a GateError, with what it measured; any other check failing
        # after a deploy is a failed deploy.
        if isinstance(failure, GateError):
            return GateError(message, failure.outcome)
        return DeployError(message)

    release_id = report.release_id
    previous = report.previous_release_id
    if previous is None:
        raise error(
            f"Release {release_id} is deployed to {target} but failed its check there: "
            f"{failure} Nothing could be rolled back: {target} ran no release before, so "
            f"it still runs {release_id}. Fix the release, or remove it from {target}."
        ) from failure
    if progress is not None:
        progress(f"The check of {target} failed; rolling back to release {previous}")
    try:
        # to=None: back to the previous *unit*, its stored manifests (issue 18)
        rollout.rollback(store, target, None, runner=runner, options=options, progress=progress)
    except OrchestratorError as exc:
        raise error(
            f"Release {release_id} failed its check in {target}: {failure} Rolling back "
            f"to release {previous} failed too: {exc}"
        ) from failure
    logger.info("Rolled %s back from %s to %s", target, release_id, previous)
    raise error(
        f"Release {release_id} failed its check in {target} and was rolled back: "
        f"{target} runs release {previous} again. The check said: {failure}"
    ) from failure
