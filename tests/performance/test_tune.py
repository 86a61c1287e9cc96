"""Pure parts of tune: candidates applied to configs, diffs, writing config.pbtxt."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.core.digest import file_digest
from orchestrator.core.model_config import load_config, parse_config, render_config
from orchestrator.errors import ConfigError
from orchestrator.performance.candidates import (
    Candidate,
    apply_candidate,
    candidates,
    config_diff,
    current_candidate,
)
from orchestrator.performance.report import BenchReport, LevelResult
from orchestrator.performance.trials import reference_candidates
from orchestrator.performance.tune import (
    Trial,
    TuneOptions,
    TuneReport,
    tune_report,
    write_config,
)
from tests.support.onnx_models import AFFINE_CONFIG

CONFIG = parse_config(AFFINE_CONFIG.format(name="affine", max_batch_size=16, delay_us=500))


def test_current_candidate_reads_batching_instances_and_threads():
    config = parse_config(
        'name: "m" max_batch_size: 8 instance_group [{ kind: KIND_GPU count: 3 }] '
        "dynamic_batching { max_queue_delay_microseconds: 250 preferred_batch_size: [4, 8] } "
        'parameters { key: "intra_op_thread_count" value { string_value: "2" } }'
    )
    assert current_candidate(config) == Candidate(True, 250, (4, 8), 3, 2)
    assert current_candidate(parse_config('name: "m"')) == Candidate(False)


def test_applying_the_current_candidate_changes_nothing():
    same = apply_candidate(CONFIG, current_candidate(CONFIG))
    assert render_config(same) == render_config(CONFIG)
    assert config_diff(CONFIG, same) == ""


def test_applying_a_candidate_changes_only_the_tuned_fields():
    tuned = apply_candidate(CONFIG, Candidate(True, 100, (4, 8), 2, 1))
    assert tuned.dynamic_batching.max_queue_delay_microseconds == 100
    assert list(tuned.dynamic_batching.preferred_batch_size) == [4, 8]
    assert [g.count for g in tuned.instance_group] == [2]
    assert tuned.instance_group[0].kind == CONFIG.instance_group[0].kind  # still KIND_GPU
    assert tuned.parameters["intra_op_thread_count"].string_value == "1"
    assert tuned.input == CONFIG.input and tuned.output == CONFIG.output
    diff = config_diff(CONFIG, tuned)
    assert "-  max_queue_delay_microseconds: 500" in diff
    assert "+  max_queue_delay_microseconds: 100" in diff


def test_turning_batching_off_removes_the_dynamic_batching_block():
    tuned = apply_candidate(CONFIG, Candidate(False))
    assert not tuned.HasField("dynamic_batching")
    assert "dynamic_batching" not in render_config(tuned)


def test_a_model_without_batching_cannot_get_dynamic_batching():
    config = parse_config('name: "m" max_batch_size: 0')
    with pytest.raises(ConfigError, match="max_batch_size 0"):
        apply_candidate(config, Candidate(True, 100))
    assert list(candidates("batching", Candidate(False), 0, 2)) == []


def test_batching_stage_tries_off_every_delay_and_preferred_sizes_within_max_batch():
    base = current_candidate(CONFIG)
    labels = [c.label for c in candidates("batching", base, 4, 2)]
    assert labels == [
        "no batching, 1 inst",
        "batching 0us, 1 inst",
        "batching 100us, 1 inst",
        "batching 500us, 1 inst",
        "batching 2000us, 1 inst",
        "batching 500us pref 4, 1 inst",
    ]


def _tuned_report(tmp_path: Path, candidate: Candidate) -> TuneReport:
    model_dir = tmp_path / "affine"
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "1" / "model.onnx").write_bytes(b"weights")
    path = model_dir / "config.pbtxt"
    path.write_text(render_config(CONFIG))
    trial = Trial(candidate, None)
    tuned = apply_candidate(CONFIG, candidate)
    return TuneReport(
        "affine",
        path,
        None,
        (trial,),
        trial,
        trial,
        config_diff(CONFIG, tuned),
        render_config(tuned),
    )


def test_write_config_replaces_only_config_pbtxt(tmp_path: Path):
    report = _tuned_report(tmp_path, Candidate(True, 100, (), 2))
    weights = tmp_path / "affine" / "1" / "model.onnx"
    digest = file_digest(weights)
    written = write_config(report)
    assert written.written
    config = load_config(report.config_path)
    assert config.dynamic_batching.max_queue_delay_microseconds == 100
    assert config.instance_group[0].count == 2
    assert file_digest(weights) == digest
    assert sorted(p.name for p in report.config_path.parent.iterdir()) == ["1", "config.pbtxt"]


def test_write_config_refuses_when_no_candidate_met_the_budget(tmp_path: Path):
    report = _tuned_report(tmp_path, Candidate(True, 100))
    failed = TuneReport("affine", report.config_path, 1.0, report.trials, None, None, "")
    with pytest.raises(ConfigError, match="no candidate kept p99 within 1.0 ms"):
        write_config(failed)


def test_report_without_a_fitting_trial_has_no_best_and_the_current_config_as_tuned():
    trials = [Trial(current_candidate(CONFIG), None, "load failed")]
    report = tune_report(TuneOptions("affine", latency_budget_ms=1.0), CONFIG, Path("c"), trials)
    assert report.best is None and report.closest is None and report.diff == ""


def _measured(
    candidate: Candidate, throughput_per_s: float, p99_ms: float, phase: str = "search"
) -> Trial:
    level = LevelResult(
        8, 1, int(throughput_per_s), 0, 1.0, 1, 1, 1, p99_ms, 1, 0, 0, 1, 3, True, 0
    )
    report = BenchReport("affine", "h:1", "http", "orchestrator", 1, 1.0, "random", (level,))
    return Trial(candidate, report, phase=phase)


@pytest.mark.parametrize(
    ("candidate_per_s", "winner"),
    [(1040.0, 0), (1100.0, 1)],
    ids=["within-noise-keeps-current", "clear-win-changes"],
)
def test_a_candidate_must_beat_the_current_config_by_the_margin(candidate_per_s, winner):
    trials = [
        _measured(current_candidate(CONFIG), 1000.0, 5.0),
        _measured(Candidate(True, 100), candidate_per_s, 5.0),
        _measured(Candidate(False), 5000.0, 50.0),  # fastest, but over the budget
    ]
    report = tune_report(TuneOptions("affine", latency_budget_ms=10.0), CONFIG, Path("c"), trials)
    assert report.best is trials[winner]
    assert (report.diff == "") == (winner == 0)
    assert report.closest is trials[0]


@pytest.mark.parametrize(
    ("confirmed_per_s", "change_stands"),
    [(950.0, False), (1200.0, True)],
    ids=["lucky-window-is-undone", "confirmed-win-stands"],
)
def test_a_winner_must_still_win_on_the_median_after_re_measuring(confirmed_per_s, change_stands):
    current, candidate = current_candidate(CONFIG), Candidate(True, 100)
    trials = [
        _measured(current, 1000.0, 5.0),
        _measured(candidate, 1200.0, 5.0),
        _measured(candidate, confirmed_per_s, 5.0, "confirm"),
        _measured(current, 1000.0, 5.0, "confirm"),
        _measured(current, 1000.0, 5.0, "confirm"),
        _measured(candidate, confirmed_per_s, 5.0, "confirm"),
    ]
    report = tune_report(TuneOptions("affine", latency_budget_ms=10.0), CONFIG, Path("c"), trials)
    assert report.best is (trials[1] if change_stands else trials[0])


def _at_levels(
    candidate: Candidate, per_s: dict[int, float], phase: str = "search", p99_ms: float = 5.0
) -> Trial:
    levels = tuple(
        LevelResult(c, 1, int(rate), 0, 1.0, 1, 1, 1, p99_ms, 1, 0, 0, 1, 3, True, 0)
        for c, rate in sorted(per_s.items())
    )
    report = BenchReport("affine", "h:1", "http", "orchestrator", 1, 1.0, "random", levels)
    return Trial(candidate, report, phase=phase)


DEFAULT = Candidate(True)  # dynamic_batching { }
OFF = Candidate(False)
DELAYED = Candidate(True, 100, (4, 8))


def _against_references(delayed_at_1: float) -> list[Trial]:
    # The current config (500 us) and the delayed candidate lose at concurrency 1 and win
    # at 32; the references are dynamic_batching { } and no batching.
    return [
        _at_levels(current_candidate(CONFIG), {1: 1000.0, 32: 5000.0}),
        _at_levels(DEFAULT, {1: 2000.0, 32: 5200.0}, "reference"),
        _at_levels(OFF, {1: 2100.0, 32: 2500.0}, "reference"),
        _at_levels(DELAYED, {1: delayed_at_1, 32: 9000.0}),
    ]


@pytest.mark.parametrize(
    ("delayed_at_1", "throughput_only", "winner"),
    [(1500.0, False, DEFAULT), (1850.0, False, DELAYED), (1500.0, True, DELAYED)],
    ids=["25%-slower-at-1-never-wins", "within-10%-at-1-wins", "throughput-only-lets-it-win"],
)
def test_a_candidate_more_than_10pct_slower_than_the_default_at_concurrency_1_never_wins(
    delayed_at_1: float, throughput_only: bool, winner: Candidate
) -> None:
    trials = _against_references(delayed_at_1)
    options = TuneOptions("affine", concurrency=(32,), throughput_only=throughput_only)
    report = tune_report(options, CONFIG, Path("c"), trials)
    assert report.best is not None and report.best.candidate == winner
    assert report.levels == (1, 32)
    roles = {c.role: (c.low_per_s, c.high_per_s) for c in report.comparisons}
    assert roles["dynamic_batching { }"] == (2000.0, 5200.0)
    assert roles["no batching"] == (2100.0, 2500.0)
    assert roles["current"] == (1000.0, 5000.0)


def test_tune_always_measures_concurrency_1_and_both_references() -> None:
    assert TuneOptions("affine", concurrency=(8, 32)).levels == (1, 8, 32)
    assert reference_candidates(current_candidate(CONFIG), 16) == [DEFAULT, OFF]
    assert reference_candidates(DEFAULT, 16) == [OFF]  # the current config is not measured twice
    assert reference_candidates(DEFAULT, 0) == []


def test_write_config_records_the_measurement_that_chose_it_as_a_comment(tmp_path: Path):
    trials = _against_references(1850.0)
    options = TuneOptions("affine", latency_budget_ms=20.0, concurrency=(32,))
    judged = tune_report(options, CONFIG, Path("c"), trials)
    report = _tuned_report(tmp_path, judged.best.candidate)  # type: ignore[union-attr]
    report = replace(
        report, comparisons=judged.comparisons, levels=judged.levels, latency_budget_ms=20.0
    )
    write_config(report)
    text = report.config_path.read_text()
    comment = [line for line in text.splitlines() if line.startswith("#")]
    assert comment[0].startswith("# Written by `orchestrator tune --write` at ")
    assert "p99 <= 20.0 ms; at most 10% below dynamic_batching { } at concurrency 1" in comment[0]
    assert "# Measured inferences/s at concurrency 1 / 32 (medians, one local Triton):" in comment
    assert "#   chosen: batching 100us pref 4/8, 1 inst: 1,850 / 9,000" in comment
    assert "#   dynamic_batching { }: batching 0us, 1 inst: 2,000 / 5,200" in comment
    assert "#   no batching: no batching, 1 inst: 2,100 / 2,500" in comment
    assert current_candidate(load_config(report.config_path)) == DELAYED
