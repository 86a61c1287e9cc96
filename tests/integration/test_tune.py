"""tune on a real local Triton: candidates load through the config override and compete."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.core.digest import file_digest
from orchestrator.core.model_config import load_config
from orchestrator.performance.candidates import Candidate, current_candidate
from orchestrator.performance.tune import TuneOptions, tune, write_config
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx

pytestmark = pytest.mark.integration

SHORT: dict[str, Any] = {"window_s": 0.2, "warmup_s": 0.1, "max_windows": 3}


@pytest.fixture
def repo(tmp_path: Path, write_model: Callable[..., Path]) -> Path:
    config = AFFINE_CONFIG.format(name="affine", max_batch_size=16, delay_us=500)
    write_model(tmp_path / "repo", "affine", config, make_affine_onnx)
    return tmp_path / "repo"


def test_tune_measures_the_current_config_first_and_writes_the_winner(repo: Path):
    config_path = repo / "affine" / "config.pbtxt"
    original = load_config(config_path)
    weights = repo / "affine" / "1" / "model.onnx"
    digest = file_digest(weights)
    options = TuneOptions(
        "affine", repo, latency_budget_ms=10_000, max_trials=3, concurrency=(4,), **SHORT
    )
    report = tune(options)
    search = [t for t in report.trials if t.phase == "search"]
    references = [t for t in report.trials if t.phase == "reference"]
    confirm = [t for t in report.trials if t.phase == "confirm"]
    assert len(search) == 3 and all(t.error == "" for t in report.trials)
    assert search[0].candidate == current_candidate(original)
    # dynamic_batching { } and no batching are measured whatever the current config, and
    # every trial at concurrency 1 as well as the levels asked for.
    assert [t.candidate for t in references] == [Candidate(True), Candidate(False)]
    assert all([lv.concurrency for lv in t.report.levels] == [1, 4] for t in report.trials)  # type: ignore[union-attr]
    assert report.best is not None and report.best in search + references
    assert len(confirm) in (0, 4)  # re-measured only when a candidate won the search
    if report.best is not search[0]:
        # A change only stands after the winner and the current config were re-measured.
        assert len(confirm) == 4
        assert {t.candidate for t in confirm} == {report.best.candidate, search[0].candidate}
    written = write_config(report)
    tuned = load_config(config_path)
    if report.diff:
        assert config_path.read_text().startswith("# Written by `orchestrator tune --write` at ")
    assert current_candidate(tuned) == report.best.candidate
    assert written.written == bool(report.diff)
    assert tuned.instance_group[0].kind == original.instance_group[0].kind  # still KIND_GPU
    assert file_digest(weights) == digest


def test_cli_tune_with_an_impossible_budget_shows_the_best_found_and_exits_1(repo: Path):
    before = (repo / "affine" / "config.pbtxt").read_text()
    args = ["tune", "--model", "affine", "--repo", str(repo), "--latency-budget-ms", "0.001"]
    args += ["--max-trials", "2", "--concurrency", "1", "--window-s", "0.2", "--write"]
    args += ["--format", "json", "--throughput-only"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["budget_met"] is False and data["best"] is None
    assert data["throughput_only"] is True
    assert [t["phase"] for t in data["trials"]] == ["search", "reference", "reference", "search"]
    assert "No candidate kept p99 within 0.001 ms. The lowest p99 found was" in result.stderr
    assert (repo / "affine" / "config.pbtxt").read_text() == before


def test_cli_tune_names_a_model_without_a_config(tmp_path: Path):
    result = CliRunner().invoke(cli, ["tune", "--model", "ghost", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: No model config at {tmp_path / 'ghost' / 'config.pbtxt'}." in result.stderr


def test_cli_tune_prints_every_trial_in_a_table(repo: Path):
    args = ["tune", "--model", "affine", "--repo", str(repo), "--max-trials", "2"]
    args += ["--concurrency", "2", "--window-s", "0.2", "--confirm-rounds", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "tune affine (no latency limit)" in result.stdout
    assert "batching 500us, 1 inst" in result.stdout and "current" in result.stdout
    assert "no batching, 1 inst" in result.stdout
    assert "compared with" in result.stdout and "infer/s at 1" in result.stdout
    assert "dynamic_batching { }" in result.stdout
    assert result.stderr.count("measured ") == 4  # the current config, 2 references, 1 search
