"""Per-level progress: a live line on a terminal; one plain line per level otherwise."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from orchestrator.cli.output.progress import LevelProgress, level_text, step_lines
from orchestrator.performance.report import LevelResult


def _level(concurrency: int, requests: int, p99_ms: float, *, stable: bool = True) -> LevelResult:
    return LevelResult(
        concurrency, 1, requests, 0, 1.0, 1.0, 1.0, 1.0, p99_ms, 1.0, 0.0, 0.0, 1.0, 3, stable,
        0.1,
    )  # fmt: skip


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_a_level_in_a_few_words() -> None:
    assert level_text(_level(4, 1523, 3.214)) == "concurrency 4: 1523.0 infer/s, p99 3.21 ms"
    assert level_text(_level(8, 10, 9.0, stable=False)).endswith(" (not stable)")


def test_without_a_terminal_each_level_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with LevelProgress("bench m", (1, 4), quiet=False, console=console) as progress:
        progress.level(_level(1, 900, 1.2))
        progress.level(_level(4, 1500, 3.8))
    assert capsys.readouterr().err == (
        "bench m: level 1/2, concurrency 1: 900.0 infer/s, p99 1.20 ms\n"
        "bench m: level 2/2, concurrency 4: 1500.0 infer/s, p99 3.80 ms\n"
    )
    assert out.getvalue() == ""  # nothing redrawn


def test_quiet_on_a_terminal_prints_lines_and_draws_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, out = _terminal()
    with LevelProgress("tune m", (2,), quiet=True, console=console) as progress:
        progress.measurement("current")
        progress.level(_level(2, 700, 2.0))
    assert capsys.readouterr().err == (
        "tune m current: level 1/1, concurrency 2: 700.0 infer/s, p99 2.00 ms\n"
    )
    assert out.getvalue() == ""


def test_on_a_terminal_the_line_names_the_running_level_and_the_last_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, out = _terminal()
    with LevelProgress("bench m", (1, 4), quiet=False, console=console) as progress:
        progress.level(_level(1, 900, 1.2))
        console.file.flush()
        progress._progress.refresh()
        drawn = out.getvalue()
    assert "bench m: concurrency 4" in drawn  # the level measured now
    assert "1/2" in drawn
    assert "last: concurrency 1: 900.0 infer/s, p99 1.20 ms" in drawn
    assert capsys.readouterr().err == ""  # no plain lines besides the live one


def test_a_new_tune_measurement_starts_its_levels_again(capsys: pytest.CaptureFixture[str]) -> None:
    with LevelProgress("tune m", (1, 4), quiet=True) as progress:
        for label in ("current", "dynamic_batching"):
            progress.measurement(label)
            progress.level(_level(1, 100, 1.0))
    err = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in err] == [
        "tune m current: level 1/2",
        "tune m dynamic_batching: level 1/2",
    ]


def test_step_lines_without_a_terminal_are_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    with step_lines(Console(file=out, force_terminal=False)) as say:
        say("Training digits_cnn")
        say("  epoch 3/30, loss 0.5000")
    assert capsys.readouterr().err == "Training digits_cnn\n  epoch 3/30, loss 0.5000\n"
    assert out.getvalue() == ""


def test_step_lines_on_a_terminal_keep_a_spinner_under_the_last_step() -> None:
    console, out = _terminal()
    with step_lines(console) as say:
        say("Loading PyTorch and the digits data")
        console.file.flush()
    drawn = out.getvalue()
    assert "Loading PyTorch and the digits data\n" in drawn  # the line itself, kept
    assert drawn.count("Loading PyTorch and the digits data") >= 2  # and the spinner's copy
