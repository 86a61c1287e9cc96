"""The gate's load on one model: bench at the gates file's levels, a throughput fail confirmed.

A throughput check that fails on the first measurement is measured again at the levels
that failed (``bench`` once more, same windows) before it fails the gate: on a shared
machine or a busy node one short measurement can land on a noisy second, and "the new
model is slower" must not rest on one. Measuring stops at the first measurement at or
above the floor (the level passes), or after ``throughput_attempts`` (4) measurements in
all, every one below (it fails). Contention on a shared CPU only slows a server down, so
the best measurement is the one judged, and the one a later gate's baseline takes. The
check says which measurements it rests on; the record keeps them
(``bench.<model>.confirmations``; ``confirmation`` is the second measurement).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.deploy.gate_baseline import Baseline
from orchestrator.deploy.gate_checks import (
    GateCheck,
    confirm_throughput,
    level_checks,
    pending_levels,
)
from orchestrator.deploy.gate_config import ModelBudget
from orchestrator.errors import OrchestratorError
from orchestrator.performance.bench import bench
from orchestrator.performance.options import BenchOptions
from orchestrator.performance.report import BenchReport, LevelResult

__all__ = ["ModelLoad", "load_model"]

logger = logging.getLogger(__name__)


@dataclass
class ModelLoad:
    """What the load on one model measured (``report`` as recorded) and its checks.

    ``again_s``: the seconds spent measuring levels below the floor again (beyond the
    gates file's levels, so beyond the time budget derived from them).
    """

    report: dict[str, Any] = field(default_factory=dict)
    checks: list[GateCheck] = field(default_factory=list)
    again_s: float = 0.0


def load_model(
    url: str,
    model: str,
    budget: ModelBudget,
    golden: Path,
    baseline: Baseline | None,
    no_baseline: str,
    on_level: Callable[[LevelResult], None] | None = None,
) -> ModelLoad:
    """Measure ``model`` at ``budget``'s levels; a failed throughput level is measured again.

    ``on_level`` is called with each level as soon as it is measured (the gate's progress),
    the second measurement's levels included.

    Raises:
        OrchestratorError: the first load could not start (the model cannot be reached,
            its inputs do not fit); the caller records that as a failed ``load``.

    Example:
        >>> load_model("127.0.0.1:8000", "digits_cnn", ModelBudget(), golden,
        ...            None, "first release").checks[0].name  # doctest: +SKIP
        'p99 latency'
    """
    options = BenchOptions(
        url,
        model,
        concurrency=budget.concurrency,
        window_s=budget.window_s,
        warmup_s=budget.warmup_s,
        max_windows=budget.max_windows,
        golden=golden,
    )
    first = bench(options, on_level, engine="orchestrator")
    load = ModelLoad(first.as_dict(), level_checks(model, first, budget, baseline, no_baseline))
    further: list[BenchReport] = []
    why_not = ""
    started = time.monotonic()
    while slow := pending_levels(load.checks, further, budget):
        logger.info("Throughput of %s below its baseline at %s: measuring again", model, slow)
        try:
            again = bench(replace(options, concurrency=slow), on_level, engine="orchestrator")
        except OrchestratorError as exc:
            why_not = f"could not run: {exc}"
            break
        further.append(again)
        load.report.setdefault("confirmations", []).append(again.as_dict())
        if again.error:
            why_not = again.error
            break
    if further:
        load.report["confirmation"] = load.report["confirmations"][0]
    load.again_s = time.monotonic() - started
    load.checks = confirm_throughput(load.checks, further, budget, why_not)
    return load
