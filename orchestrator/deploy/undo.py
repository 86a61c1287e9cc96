"""The guards around an applied release: drift before, generations after, and the undo.

- ``refuse_drift``: the Deployment runs another release than the environment's pointer
  (a deploy by hand, or one killed before its undo): refused unless taken over;
- ``check_generation``: before the smoke, the Deployment still has the generation this
  deploy applied (``metadata.generation`` grows with every change of the spec);
- ``undo``: ``kubectl rollout undo --to-revision`` to the state read before ``apply``, only
  when the pod template changed and nobody else changed it since (another generation),
  then its own wait (``watch.wait_for_rollout``); a second signal (``interrupts.Aborted``)
  stops it, and the returned text says what was left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.deploy import render as render_mod
from orchestrator.deploy.cluster import TARGET, deployment_state, generation_of, obj, revision_of
from orchestrator.deploy.interrupts import Aborted
from orchestrator.deploy.kubectl import KubectlRunner, check
from orchestrator.deploy.watch import wait_for_rollout
from orchestrator.errors import DeployError

__all__ = ["check_generation", "refuse_drift", "undo"]

_UNDO_TIMEOUT_S = 60.0


def refuse_drift(
    before: Mapping[str, Any] | None,
    pointer_release: str | None,
    environment: str,
    namespace: str,
    take_over: bool,
) -> None:
    """Refuse a deploy over a Deployment that runs another release than the pointer's.

    Raises:
        DeployError: drift, and ``take_over`` is false.

    Example:
        >>> refuse_drift(None, "r1", "staging", "triton-staging", take_over=False)
    """
    if before is None or take_over:
        return
    running = render_mod.release_of(before)
    if running != pointer_release:
        raise DeployError(
            f"{TARGET} in {namespace} runs release {running or '(none)'}, but the "
            f"{environment} pointer names {pointer_release or 'no release'}: someone deployed "
            "by hand, or a deploy was killed before it could undo. Check orchestrator status "
            f"--env {environment}; to deploy over it anyway, pass --take-over."
        )


def check_generation(
    runner: KubectlRunner, namespace: str, release_id: str, applied: int | None
) -> None:
    """Before the smoke: the Deployment still runs ``release_id`` at generation ``applied``.

    Raises:
        DeployError: someone else changed (or removed) the Deployment meanwhile.

    Example:
        >>> check_generation(runner, "triton-staging", "r1", 4)  # doctest: +SKIP
    """
    current = deployment_state(runner, namespace)
    if current is None:
        raise DeployError(f"{TARGET} is gone from {namespace} since this deploy applied it.")
    generation = generation_of(current)
    running = render_mod.release_of(current)
    if (applied is not None and generation != applied) or running != release_id:
        raise DeployError(
            f"{TARGET} was changed by someone else since this deploy applied it (generation "
            f"{generation}, release {running}; this deploy applied generation {applied}, "
            f"release {release_id})."
        )


def undo(
    runner: KubectlRunner,
    namespace: str,
    before: Mapping[str, Any] | None,
    applied: int | None,
    timeout_s: float,
    stuck_s: float,
) -> str:
    """Return the Deployment to ``before`` and wait for it; what happened, as a sentence.

    Never raises for a failed undo (the caller reports the first failure with it).

    Example:
        >>> undo(runner, "triton-staging", before, 4, 1260, 120)  # doctest: +SKIP
        'Rolled back: deployment/triton runs release r0 again, and it is ready.'
    """
    if before is None:
        return (
            f"Nothing to undo to: {TARGET} did not exist before this deploy, and stays at "
            f"the failed release. Deploy a release that passes, or remove it: kubectl delete "
            f"{TARGET} --namespace {namespace}."
        )
    previous = render_mod.release_of(before) or "unknown"
    issued = False
    try:
        after = deployment_state(runner, namespace)
        if after is not None and obj(after.get("spec")).get("template") == obj(
            before.get("spec")
        ).get("template"):
            return f"The pod template did not change: {TARGET} still runs release {previous}."
        if after is not None and applied is not None and generation_of(after) != applied:
            return (
                f"Not undone: {TARGET} was changed by someone else meanwhile (generation "
                f"{generation_of(after)}, release {render_mod.release_of(after)}; this deploy "
                f"applied generation {applied}). Undoing would return over their change; "
                f"check orchestrator status and kubectl rollout history {TARGET} --namespace "
                f"{namespace}."
            )
        args = ["rollout", "undo", TARGET, "--namespace", namespace]
        revision = revision_of(before)
        if revision:
            args.append(f"--to-revision={revision}")
        check(
            runner.run(args, input_text=None, timeout_s=_UNDO_TIMEOUT_S),
            "undo",
            f"Roll back by hand: kubectl rollout undo {TARGET} --namespace {namespace}.",
        )
        issued = True
        wait_for_rollout(
            runner,
            namespace,
            render_mod.release_of(before),
            deadline_s=timeout_s,
            step="undo",
            stuck_s=stuck_s,
        )
    except Aborted as exc:
        if issued:
            return (
                f"The undo was issued ({TARGET} goes back to release {previous}) but not "
                f"waited for: {exc}. Kubernetes finishes it; check with orchestrator status. "
                "The deploy lock stays held until it expires (or --break-lock)."
            )
        return (
            f"Nothing was undone: {exc} before kubectl rollout undo ran. {TARGET} in "
            f"{namespace} is left on the new, unsmoked release; undo by hand: kubectl rollout "
            f"undo {TARGET} --namespace {namespace}. The deploy lock stays held until it "
            "expires (or --break-lock)."
        )
    except DeployError as exc:
        return f"The undo failed too: {exc}"
    return f"Rolled back: {TARGET} runs release {previous} again, and it is ready."
