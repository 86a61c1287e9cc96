"""Search dynamic-batching settings for a latency budget on a local Triton.

- Trial 0 is the model's current config; the two references of ``trials`` come next,
  whatever the current config: ``dynamic_batching { }`` (what ``publish`` generates) and
  no batching. Every candidate is measured at concurrency 1 too.
- A candidate that loses more than ``LOW_CONCURRENCY_LOSS_PCT`` at concurrency 1 against
  ``dynamic_batching { }`` cannot win unless ``throughput_only`` is set.
- Candidates change one group of settings at a time, greedily, each stage starting from
  the best so far: batching (off, or on with a queue delay and preferred batch sizes),
  then the instance count, then ONNX Runtime's ``intra_op_thread_count``.
- Each candidate is loaded through Triton's load API with a config override (``KIND_CPU``
  instead of ``KIND_GPU`` when no GPU is visible, as ``orchestrator serve`` does),
  measured with ``bench``, and scored by its highest throughput whose p99 latency fits
  the budget.
- The winner is never worse than the current config in the same run, because the
  current config competes too.
- ``write_config`` writes the winner's settings into ``<repo>/<model>/config.pbtxt``:
  the production config with only the tuned fields changed, checked by parsing it back,
  replaced atomically, under a comment recording the measurement that justified it (the
  winner and both references at concurrency 1 and at the highest level). Version
  folders are never touched.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator import client
from orchestrator.core.model_config import (
    CONFIG_FILENAME,
    ModelConfig,
    config_to_json,
    load_config,
    parse_config,
    render_config,
    with_cpu_instances,
)
from orchestrator.errors import ConfigError, OrchestratorError, ServerError
from orchestrator.performance.bench import bench
from orchestrator.performance.candidates import (
    Candidate,
    apply_candidate,
    candidates,
    config_diff,
    current_candidate,
)
from orchestrator.performance.inputs import find_golden
from orchestrator.performance.options import BenchOptions, check_open_files, check_timing
from orchestrator.performance.report import LevelResult
from orchestrator.performance.trials import (
    Comparison,
    Trial,
    comparisons,
    fast_enough_when_quiet,
    measurement_comment,
    reference_candidates,
)
from orchestrator.repository.layout import is_file
from orchestrator.serving.triton import ServerOptions, TritonServer, gpu_visible

__all__ = [
    "Trial",
    "TuneOptions",
    "TuneReport",
    "check_config_writable",
    "tune",
    "tune_report",
    "write_config",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneOptions:
    """What to tune and how long to measure each candidate.

    Attributes:
        model: the model's folder name in ``repository``.
        repository: the model repository (its config.pbtxt is the starting point).
        latency_budget_ms: p99 limit; None picks the highest throughput at any latency.
        max_trials: candidates measured, the current config included.
        concurrency: the levels each candidate is measured at.
        batch_size: rows per request.
        window_s, warmup_s, max_windows: per level, as in ``BenchOptions``.
        min_gain_pct: how much more throughput a candidate needs to replace the best so
            far (the current config first); smaller wins are treated as noise.
        confirm_rounds: re-measurements of the winner and of the current config (each)
            after the search; the change stands only if it wins on the median score.
        throughput_only: let a candidate win that loses more than
            ``LOW_CONCURRENCY_LOSS_PCT`` at concurrency 1 against ``dynamic_batching { }``.
        cpu_override: run KIND_GPU as KIND_CPU; decided by ``gpu_visible()`` when None.
        server: an explicit ``ServerOptions`` (a temporary local server when None).
    """

    model: str
    repository: Path = Path("model_repository")
    latency_budget_ms: float | None = None
    max_trials: int = 8
    concurrency: tuple[int, ...] = (1, 4, 16, 32)
    batch_size: int = 1
    window_s: float = 2.0
    warmup_s: float = 0.5
    max_windows: int = 5
    min_gain_pct: float = 5.0
    confirm_rounds: int = 2
    throughput_only: bool = False
    cpu_override: bool | None = None
    server: ServerOptions | None = None

    def __post_init__(self) -> None:
        if self.max_trials < 1:
            raise ConfigError(f"max_trials {self.max_trials} must be at least 1.")
        budget = self.latency_budget_ms
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise ConfigError(f"Latency budget {budget} ms must be a positive number.")
        # Before a server starts: the same checks each measurement's BenchOptions makes.
        check_timing(window_s=self.window_s, warmup_s=self.warmup_s)
        check_open_files(self.concurrency, "http")

    @property
    def levels(self) -> tuple[int, ...]:
        """The levels measured: ``concurrency`` with 1 always added (the low-load check)."""
        return tuple(sorted({1, *self.concurrency}))


@dataclass(frozen=True)
class TuneReport:
    """Every trial, the winner within the budget (None when none met it), and the diff."""

    model: str
    config_path: Path
    latency_budget_ms: float | None
    trials: tuple[Trial, ...]
    best: Trial | None
    closest: Trial | None
    diff: str
    tuned_config: str = field(repr=False, default="")
    written: bool = False
    comparisons: tuple[Comparison, ...] = ()
    levels: tuple[int, int] = (1, 1)
    throughput_only: bool = False

    @property
    def budget_met(self) -> bool:
        """Whether some candidate kept p99 within the budget."""
        return self.best is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every trial scored against the budget, the diff, the comparisons.

        Each comparison names its two levels in its keys (``per_s_at_1``, ``per_s_at_32``).
        """
        budget = self.latency_budget_ms
        low, high = self.levels
        return {
            "model": self.model,
            "config": str(self.config_path),
            "latency_budget_ms": budget,
            "budget_met": self.budget_met,
            "best": self.best.as_dict(budget) if self.best else None,
            "trials": [trial.as_dict(budget) for trial in self.trials],
            "diff": self.diff,
            "written": self.written,
            "throughput_only": self.throughput_only,
            "comparisons": [
                {
                    "role": c.role,
                    "label": c.label,
                    f"per_s_at_{low}": c.low_per_s,
                    f"per_s_at_{high}": c.high_per_s,
                }
                for c in self.comparisons
            ],
        }


def tune(
    options: TuneOptions,
    on_trial: Callable[[Trial], None] | None = None,
    *,
    on_measurement: Callable[[str], None] | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
) -> TuneReport:
    """Start a local Triton on the repository and search for the best settings.

    ``on_measurement`` is called with a candidate's label before it is measured, and
    ``on_level`` with each of its levels (progress for people); ``on_trial`` after.

    Raises:
        ConfigError: the model's config cannot be read.
        ServerError: the server cannot start, or the current config does not load.

    Example:
        >>> report = tune(TuneOptions("digits_cnn", latency_budget_ms=20))  # doctest: +SKIP
        >>> print(report.diff)  # doctest: +SKIP
    """
    config_path = options.repository / options.model / CONFIG_FILENAME
    if not is_file(config_path):
        raise ConfigError(
            f"No model config at {config_path}. Pass --repo with the repository that holds "
            f"{options.model}/config.pbtxt."
        )
    config = load_config(config_path)
    cpu = (not gpu_visible()) if options.cpu_override is None else options.cpu_override
    server_options = options.server or ServerOptions(options.repository)
    golden = find_golden(options.repository, options.model)
    trials: list[Trial] = []
    with TritonServer(server_options) as server:

        def measure(candidate: Candidate, phase: str = "search") -> Trial:
            if on_measurement is not None:
                on_measurement(candidate.label)
            measured = _trial(server, options, config, candidate, cpu, golden, on_level)
            trial = replace(measured, phase=phase)
            trials.append(trial)
            if on_trial is not None:
                on_trial(trial)
            return trial

        current = measure(current_candidate(config))
        if current.error:
            raise ServerError(
                f"The current config of {options.model!r} could not be measured: {current.error}"
            )
        references = [current]
        for reference in reference_candidates(current.candidate, config.max_batch_size):
            references.append(measure(reference, "reference"))
        best = _search(measure, references, config, options)
        if best is not current:
            # Measure the winner and the current config again, alternating, so that one
            # lucky window on a busy machine does not change the repository.
            for round_number in range(options.confirm_rounds):
                pair = (best.candidate, current.candidate)
                for candidate in pair if round_number % 2 == 0 else pair[::-1]:
                    measure(candidate, "confirm")
    return tune_report(options, config, config_path, trials)


def _search(
    measure: Callable[[Candidate, str], Trial],
    references: list[Trial],
    config: ModelConfig,
    options: TuneOptions,
) -> Trial:
    measured = list(references)
    current = references[0]
    best = current
    for trial in references[1:]:
        if fast_enough_when_quiet(trial, measured, options.throughput_only) and (
            not fast_enough_when_quiet(best, measured, options.throughput_only)
            or _beats(trial, best, options)
        ):
            best = trial
    tried = {t.candidate for t in references}
    count = 1
    for stage in ("batching", "instances", "threads"):
        for candidate in candidates(
            stage, best.candidate, config.max_batch_size, os.cpu_count() or 1
        ):
            if count >= options.max_trials:
                return best
            if candidate in tried:
                continue
            tried.add(candidate)
            count += 1
            trial = measure(candidate, "search")
            measured.append(trial)
            if fast_enough_when_quiet(trial, measured, options.throughput_only) and _beats(
                trial, best, options
            ):
                best = trial
    return best


def _beats(trial: Trial, best: Trial, options: TuneOptions) -> bool:
    # A change must win by a margin: on a noisy machine a tie is measurement noise, and
    # the config already in the repository keeps its place.
    budget = options.latency_budget_ms
    return trial.score(budget) > best.score(budget) * (1 + options.min_gain_pct / 100)


def _trial(
    server: TritonServer,
    options: TuneOptions,
    config: ModelConfig,
    candidate: Candidate,
    cpu: bool,
    golden: Path | None,
    on_level: Callable[[LevelResult], None] | None = None,
) -> Trial:
    try:
        candidate_config = apply_candidate(config, candidate)
        loaded = with_cpu_instances(candidate_config) if cpu else candidate_config
        client.load_model(server.http_url, options.model, config_to_json(loaded))
        report = bench(
            BenchOptions(
                url=server.http_url,
                model=options.model,
                concurrency=options.levels,
                batch_size=options.batch_size,
                window_s=options.window_s,
                warmup_s=options.warmup_s,
                max_windows=options.max_windows,
                golden=golden,
            ),
            on_level,
            engine="orchestrator",
        )
    except OrchestratorError as exc:
        logger.warning("Candidate %s failed: %s", candidate.label, exc)
        if not server.is_running:
            raise ServerError(
                f"Triton died while measuring {candidate.label}. Last lines of its log "
                f"({server.log_path}):\n{server.log_tail()}"
            ) from exc
        return Trial(candidate, None, str(exc))
    if report.error:
        return Trial(candidate, report, report.error)
    return Trial(candidate, report)


def tune_report(
    options: TuneOptions, config: ModelConfig, config_path: Path, trials: list[Trial]
) -> TuneReport:
    """Judge a search's trials: the winner within the budget, the closest miss, the diff.

    The best search or reference trial must beat the current config (the first search
    trial) by ``min_gain_pct``, and still win on the median of all its measurements,
    confirmations included; otherwise the current config stays. Unless
    ``throughput_only``, no trial wins that loses more than ``LOW_CONCURRENCY_LOSS_PCT``
    at concurrency 1 against ``dynamic_batching { }`` (medians); when the current config
    itself loses that much, the best trial that does not replaces it.

    Example:
        >>> report = tune_report(TuneOptions("m"), config, Path("c"), trials)  # doctest: +SKIP
        >>> report.best.candidate.label  # doctest: +SKIP
        'batching 100us'
    """
    budget = options.latency_budget_ms
    search = [t for t in trials if t.phase == "search"]
    contenders = [t for t in trials if t.phase in ("search", "reference")]
    best: Trial | None = None
    for trial in contenders:
        if (
            trial.best_level(budget) is not None
            and fast_enough_when_quiet(trial, trials, options.throughput_only)
            and (best is None or _beats(trial, best, options))
        ):
            best = trial
    current_ok = bool(search) and fast_enough_when_quiet(search[0], trials, options.throughput_only)
    if best is not None and search and best is not search[0] and current_ok:
        # The change holds only if it still wins on the median of all its measurements.
        def median_score(candidate: Candidate) -> float:
            scores = [t.score(budget) for t in trials if t.candidate == candidate]
            return float(statistics.median(scores))

        gain = 1 + options.min_gain_pct / 100
        if median_score(best.candidate) <= median_score(search[0].candidate) * gain:
            best = search[0] if search[0].best_level(budget) is not None else None
    measured = [t for t in trials if t.report is not None and t.report.levels and not t.error]
    closest = (
        min(measured, key=lambda t: min(level.p99_ms for level in t.report.levels))  # type: ignore[union-attr]
        if measured
        else None
    )
    chosen = best.candidate if best is not None else None
    tuned = apply_candidate(config, chosen) if chosen is not None else config
    levels = (min(options.levels), max(options.levels))
    return TuneReport(
        model=options.model,
        config_path=config_path,
        latency_budget_ms=budget,
        trials=tuple(trials),
        best=best,
        closest=closest,
        diff=config_diff(config, tuned, str(config_path)),
        tuned_config=render_config(tuned),
        comparisons=comparisons(trials, search[0] if search else None, best, levels),
        levels=levels,
        throughput_only=options.throughput_only,
    )


def _comment(report: TuneReport) -> str:
    return measurement_comment(
        report.comparisons, report.levels, report.latency_budget_ms, report.throughput_only
    )


def write_config(report: TuneReport) -> TuneReport:
    """Write the tuned config over ``config.pbtxt`` (only when it differs), atomically.

    Raises:
        ConfigError: no candidate met the budget, or the rendered config does not parse.
    """
    if report.best is None:
        raise ConfigError(
            f"Nothing to write: no candidate kept p99 within {report.latency_budget_ms} ms. "
            "Raise --latency-budget-ms or try more trials."
        )
    if not report.diff:
        return report
    checked = parse_config(_comment(report) + report.tuned_config, report.config_path)
    if checked.name and checked.name != report.model:
        raise ConfigError(f"Tuned config names {checked.name!r}, expected {report.model!r}.")
    folder = report.config_path.parent
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(prefix=".config.", suffix=".pbtxt", dir=folder)
        with os.fdopen(handle, "w") as stream:
            stream.write(_comment(report) + report.tuned_config)
        os.replace(temporary, report.config_path)
    except OSError as exc:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        raise ConfigError(f"Cannot write {report.config_path}: {exc.strerror or exc}.") from exc
    logger.info("Wrote tuned config %s", report.config_path)
    return replace(report, written=True)


def check_config_writable(repository: Path, model: str) -> None:
    """Make sure ``write_config`` will be able to replace the model's config.pbtxt.

    Called before a search whose result is to be written, so that a read-only
    repository fails in a second, not after every trial.

    Raises:
        ConfigError: the model folder does not take a new file.

    Example:
        >>> check_config_writable(Path("model_repository"), "digits_cnn")  # doctest: +SKIP
    """
    folder = repository / model
    try:
        handle, probe = tempfile.mkstemp(prefix=".config.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise ConfigError(
            f"--write cannot replace {folder / CONFIG_FILENAME}: {exc.strerror or exc}. Make "
            f"{folder} writable, or tune without --write and apply the printed diff by hand."
        ) from exc
    os.close(handle)
    Path(probe).unlink(missing_ok=True)
