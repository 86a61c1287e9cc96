"""What guards a deploy: kubectl's output as untrusted input, the lock, drift, generations,
signals. Against the recording runner (and a stand-in kubectl binary for the real runner)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from orchestrator.cli import cli
from orchestrator.deploy.cluster import list_pods
from orchestrator.deploy.kubectl import Completed, SubprocessKubectl, parse_json, shown
from orchestrator.errors import DeployError
from orchestrator.releases.environments import read_environment
from rehearsal.recording import (
    UNLOCK_LINES,
    Outcome,
    RecordingRunner,
    deployment_json,
    lease_json,
    lock_lines,
)
from tests.deploy.conftest import Releases, rolled
from tests.deploy.conftest import deploy_args as shared_deploy_args

NS = "triton-staging"
RENDER = "kubectl kustomize TMP"
GET = f"kubectl get deployment/triton --namespace {NS} --ignore-not-found --output=json"
APPLY = "kubectl apply -f -"
WAIT = f"kubectl rollout status deployment/triton --namespace {NS} --timeout=60s"
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"
UNDO = f"kubectl rollout undo deployment/triton --namespace {NS} --to-revision=3"
LOCK, UNLOCK = lock_lines(NS), UNLOCK_LINES
GET_LEASE = LOCK[0]
REPLACE = "kubectl replace -f - -o json"


def invoke(runner: RecordingRunner, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": runner})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def deploy_args(releases: Releases, *extra: str) -> list[str]:
    # The smoke's URL answers nothing, at once.
    return shared_deploy_args(
        releases, releases.new, "--url", "127.0.0.1:1", "--smoke-timeout-s", "1", *extra
    )


def pointer(releases: Releases) -> str | None:
    found = read_environment(releases.store, "staging")
    return found.release_id if found else None


# -- kubectl's output is untrusted -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested 100000 deep"),
        ('{"replicas": 1e400}', "not a finite number|out of range"),
        ('{"a": 1, "a": 2}', "given twice"),
        ("[1, 2]", "printed list, not an object"),
        ('{"a": 1', "printed no JSON"),
        ("1" * 5000, "printed no JSON"),  # an integer past Python's digit limit
    ],
    ids=["deep", "1e400", "duplicate-key", "array", "truncated", "huge-number"],
)
def test_hostile_json_from_kubectl_is_a_deploy_error(text: str, says: str) -> None:
    with pytest.raises(DeployError, match=says):
        parse_json(text, "kubectl get pods")


def test_pods_of_the_wrong_shape_read_as_absent_fields() -> None:
    runner = RecordingRunner(
        {
            "get pods": [
                (
                    0,
                    '{"items": [1, "x", null, {"metadata": [], "status": {"conditions": "no",'
                    ' "containerStatuses": [{"restartCount": "9999999999999"}]}}]}',
                )
            ]
        }
    )
    pods = list_pods(runner, NS)
    assert [(p.name, p.ready, p.restarts, p.release) for p in pods] == [("?", False, 0, None)] * 4


def test_control_characters_never_reach_the_terminal_and_long_text_is_shortened() -> None:
    assert shown("ok\x1b[2J\x07\u202egnp.exe\u2066 done") == "ok[2Jgnp.exe done"
    assert shown("x" * 5000, 100).endswith("... (4900 more characters)")


def test_the_real_runner_decodes_bad_bytes_and_refuses_a_huge_answer(tmp_path: Path) -> None:
    binary = tmp_path / "kubectl"
    binary.write_text("#!/bin/sh\nprintf 'caf\\351 \\033[31mred'\nhead -c 5000 /dev/zero >&2\n")
    binary.chmod(0o755)
    done = SubprocessKubectl(binary).run(["get", "pods"], input_text=None, timeout_s=10)
    assert done.stdout == "caf\ufffd \x1b[31mred"
    with pytest.raises(DeployError, match=r"printed 5000 bytes on stderr, more than the 1000"):
        SubprocessKubectl(binary, max_output_bytes=1000).run(
            ["get", "pods"], input_text=None, timeout_s=10
        )


def test_garbage_from_kubectl_after_apply_goes_through_the_undo(releases: Releases) -> None:
    hostile = "\x1b]0;pwned\x07" + "[" * 50_000
    runner = RecordingRunner(
        rolled(
            releases,
            **{
                "rollout status": [
                    (1, "error: timed out waiting for the condition \x1b[31m\u202e"),
                    (0, "rolled out"),
                ],
                "get pods": [(0, hostile)],
            },
        )
    )
    result = invoke(runner, deploy_args(releases, "--timeout-s", "30"))
    assert result.exit_code == 1, result.output
    assert "failed at step 'rollout'" in result.stderr
    assert (
        "The pods could not be listed" in result.stderr
        or "Not ready" in result.stderr
        or ("See kubectl describe" in result.stderr)
    )
    assert f"Rolled back: deployment/triton runs release {releases.old} again" in result.stderr
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert UNDO in runner.lines
    assert pointer(releases) == releases.old


# -- the lock ----------------------------------------------------------------------------------


def test_a_deploy_is_refused_while_someone_else_holds_the_lock(releases: Releases) -> None:
    held = lease_json("alice@laptop (pid 7)", since="2099-01-01T10:00:00.000000Z")
    runner = RecordingRunner(rolled(releases, **{"get lease/triton-deploy": [(0, held)]}))
    result = invoke(runner, deploy_args(releases))
    assert result.exit_code == 1, result.output
    assert (
        "Environment staging is being deployed by alice@laptop (pid 7) (Lease triton-deploy "
        f"in {NS}, held since 2099-01-01T10:00:00.000000Z, until 2099-01-01T11:00:00Z)"
    ) in result.stderr
    assert "--break-lock" in result.stderr
    assert runner.lines == [RENDER, GET_LEASE]
    assert pointer(releases) == releases.old


def test_break_lock_takes_it_on_purpose_against_the_version_read(releases: Releases) -> None:
    held = lease_json("alice@laptop (pid 7)", version="41", since="2099-01-01T10:00:00.000000Z")
    runner = RecordingRunner(rolled(releases, **{"get lease/triton-deploy": [(0, held)]}))
    result = invoke(runner, deploy_args(releases, "--break-lock"))
    assert result.exit_code == 1, result.output  # the smoke URL answers nothing
    assert "Broke the deploy lock held by alice@laptop (pid 7)" in result.stderr
    taken = runner.calls[2]
    assert taken.line == REPLACE
    assert '"resourceVersion": "41"' in (taken.input_text or "")
    assert runner.lines[-1] == REPLACE  # given back


def test_an_expired_lock_is_taken_without_breaking_it(releases: Releases) -> None:
    stale = lease_json("ci run 1", since="2001-01-01T00:00:00.000000Z", duration_s=60)
    runner = RecordingRunner(rolled(releases, **{"get lease/triton-deploy": [(0, stale)]}))
    result = invoke(runner, deploy_args(releases))
    assert "being deployed by" not in result.stderr
    assert "Broke" not in result.stderr
    assert runner.lines[:3] == [RENDER, GET_LEASE, REPLACE]


def test_losing_the_race_for_the_lock_is_refused_before_apply(releases: Releases) -> None:
    runner = RecordingRunner(
        rolled(
            releases,
            create=[
                (1, 'Error from server (AlreadyExists): leases "triton-deploy" already exists')
            ],
        )
    )
    result = invoke(runner, deploy_args(releases))
    assert result.exit_code == 1, result.output
    assert "Environment staging could not be locked" in result.stderr
    assert "AlreadyExists" in result.stderr
    assert APPLY not in runner.lines


# -- drift and generations ---------------------------------------------------------------------


def test_drift_is_refused_unless_taken_over(releases: Releases) -> None:
    script = rolled(releases)
    script["get deployment/triton"] = [
        Completed((), 0, deployment_json("by-hand", 3)),
        Completed((), 0, deployment_json(releases.new, 4)),
    ]
    runner = RecordingRunner(script)
    result = invoke(runner, deploy_args(releases))
    assert result.exit_code == 1, result.output
    assert (
        f"deployment/triton in {NS} runs release by-hand, but the staging pointer names "
        f"{releases.old}"
    ) in result.stderr
    assert "--take-over" in result.stderr
    assert runner.lines == [RENDER, *LOCK, GET, *UNLOCK]

    again = RecordingRunner(script)
    result = invoke(again, deploy_args(releases, "--take-over"))
    assert APPLY in again.lines


def test_an_undo_never_returns_over_someone_elses_apply(releases: Releases) -> None:
    script = rolled(releases)
    script["get deployment/triton"] = [
        Completed((), 0, deployment_json(releases.old, 3)),
        Completed((), 0, deployment_json(releases.new, 4)),
        Completed((), 0, deployment_json("theirs", 5)),
    ]
    runner = RecordingRunner(script)
    result = invoke(runner, deploy_args(releases, "--timeout-s", "30"))
    assert result.exit_code == 1, result.output
    assert "was changed by someone else since this deploy applied it (generation 5" in (
        result.stderr
    )
    assert "Not undone: deployment/triton was changed by someone else meanwhile" in result.stderr
    assert "rollout undo" not in " ".join(runner.lines)
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, GET, *UNLOCK]


# -- signals -----------------------------------------------------------------------------------


def _signal(number: int, then: tuple[int, str]) -> Outcome:
    def send() -> tuple[int, str]:
        os.kill(os.getpid(), number)
        return then

    return send


def test_sigterm_during_the_rollout_undoes_at_once(releases: Releases) -> None:
    runner = RecordingRunner(
        rolled(
            releases,
            **{"rollout status": [_signal(signal.SIGTERM, (1, "cut")), (0, "rolled out")]},
        )
    )
    result = invoke(runner, deploy_args(releases, "--timeout-s", "30"))
    assert result.exit_code == 1, result.output
    assert "was interrupted at step 'rollout'. SIGTERM received" in result.stderr
    assert f"Rolled back: deployment/triton runs release {releases.old} again" in result.stderr
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, UNDO, WAIT, *UNLOCK]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_second_signal_stops_the_undo_and_says_what_it_left(releases: Releases) -> None:
    runner = RecordingRunner(
        rolled(
            releases,
            **{
                "rollout status": [
                    _signal(signal.SIGINT, (1, "cut")),
                    _signal(signal.SIGINT, (1, "cut")),
                ]
            },
        )
    )
    result = invoke(runner, deploy_args(releases, "--timeout-s", "30"))
    assert result.exit_code == 1, result.output
    assert "The undo was issued (deployment/triton goes back to release" in result.stderr
    assert "a second signal (SIGINT) stopped the undo" in result.stderr
    assert "The deploy lock stays held" in result.stderr
    assert runner.lines == [RENDER, *LOCK, GET, APPLY, GET, WAIT, GET, UNDO, WAIT]
    assert pointer(releases) == releases.old


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--timeout-s", "1e300"),
        ("--timeout-s", "21601"),
        ("--smoke-timeout-s", "1e300"),
        ("--smoke-timeout-s", "inf"),
        ("--smoke-timeout-s", "abc"),
    ],
)
def test_an_absurd_timeout_is_a_usage_error_before_any_kubectl_call(
    releases: Releases, option: str, value: str
) -> None:
    # 1e300 used to pass the option check and overflow the deadline arithmetic after apply.
    runner = RecordingRunner()

    result = invoke(runner, deploy_args(releases, option, value))

    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.stderr
    assert runner.calls == []
