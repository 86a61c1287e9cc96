"""make pipeline's timing: each step's elapsed time, and a summary where failures stand out."""

from __future__ import annotations

from rehearsal.pipeline import StepResult, step_end, summary


def _step(name: str, exit_code: int, elapsed_s: float) -> StepResult:
    return StepResult(name, ("x",), exit_code, "", "", elapsed_s)


STEPS = [
    _step("publish", 0, 1.23),
    _step("deploy staging", 0, 12.5),
    _step("gate staging", 1, 31.04),
    _step("rollback staging (the gate failed)", 0, 8.0),
]


def test_each_step_ends_with_its_exit_status_and_time() -> None:
    assert step_end(STEPS[2]) == "-> exit 1 in 31.0 s"


def test_the_summary_aligns_every_step_and_marks_the_failed_ones() -> None:
    assert summary(STEPS).splitlines() == [
        "",
        "Summary:",
        "    step                                exit  seconds",
        "    publish                                0      1.2",
        "    deploy staging                         0     12.5",
        "!!  gate staging                           1     31.0  FAILED",
        "    rollback staging (the gate failed)     0      8.0",
        "    4 step(s), 1 failed, 52.8 s in all",
    ]


def test_on_a_terminal_only_the_failed_rows_are_red() -> None:
    lines = summary(STEPS, color=True).splitlines()
    red = [line for line in lines if line.startswith("\033[31m")]
    row = "!!  gate staging                           1     31.0  FAILED"
    assert red == [f"\033[31m\033[1m{row}\033[0m"]
    assert "\033[" not in "".join(line for line in lines if line not in red)


def test_a_run_without_steps_still_summarises() -> None:
    assert summary([]).splitlines()[-1] == "    0 step(s), 0 failed, 0.0 s in all"
