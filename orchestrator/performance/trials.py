"""What ``tune`` measured: trials, the two reference configs, and the low-load rule.

- References: every search is compared with ``dynamic_batching { }`` (what ``publish``
  generates; the first step of the "Recommended Configuration Process" in Triton's
  dynamic batcher guide) and no batching, each with the current instance count and
  threads, whatever the current config is.
- The low-load rule: a candidate that does more than ``LOW_CONCURRENCY_LOSS_PCT`` fewer
  inferences per second at concurrency 1 than ``dynamic_batching { }`` may not win
  unless the user optimises for throughput only, so that a queue delay or preferred
  sizes that pay only under heavy load do not slow down every quiet hour.
- ``measurement_comment`` writes the comparison above a written config.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from orchestrator.performance.candidates import Candidate
from orchestrator.performance.report import BenchReport, LevelResult

__all__ = [
    "DEFAULT_REFERENCE",
    "LOW_CONCURRENCY_LOSS_PCT",
    "REFERENCES",
    "Comparison",
    "Trial",
    "comparisons",
    "fast_enough_when_quiet",
    "measurement_comment",
    "reference_candidates",
]

LOW_CONCURRENCY_LOSS_PCT = 10.0
DEFAULT_REFERENCE = "dynamic_batching { }"
# name -> whether dynamic batching is on (no queue delay, no preferred sizes).
REFERENCES: dict[str, bool] = {DEFAULT_REFERENCE: True, "no batching": False}


@dataclass(frozen=True)
class Trial:
    """One measured candidate; ``error`` says why it could not be loaded or measured.

    ``phase`` is "search", "reference" (``dynamic_batching { }`` and no batching, measured
    whatever the current config), or "confirm" for the re-measurements of the winner and
    the current config that decide whether the change holds up.
    """

    candidate: Candidate
    report: BenchReport | None
    error: str = ""
    phase: str = "search"

    def best_level(self, latency_budget_ms: float | None) -> LevelResult | None:
        """The highest-throughput level within the budget (None when none fits)."""
        if self.report is None or self.error:
            return None
        return self.report.best(latency_budget_ms)

    def score(self, latency_budget_ms: float | None) -> float:
        """Throughput at the best level within the budget; 0 when none fits."""
        level = self.best_level(latency_budget_ms)
        return level.throughput_per_s if level is not None else 0.0

    def throughput_at(self, concurrency: int) -> float | None:
        """Inferences per second at one level (None when not measured)."""
        if self.report is None or self.error:
            return None
        found = [lv.throughput_per_s for lv in self.report.levels if lv.concurrency == concurrency]
        return found[0] if found else None

    def as_dict(self, latency_budget_ms: float | None = None) -> dict[str, Any]:
        """The JSON form, scored against ``latency_budget_ms`` (None: any latency fits)."""
        level = self.best_level(latency_budget_ms)
        return {
            "candidate": self.candidate.as_dict(),
            "label": self.candidate.label,
            "phase": self.phase,
            "score_per_s": round(self.score(latency_budget_ms), 2),
            "best_level": level.as_dict() if level is not None else None,
            "error": self.error,
            "levels": [lv.as_dict() for lv in self.report.levels] if self.report else [],
        }


@dataclass(frozen=True)
class Comparison:
    """One config's medians at the low and the high level, for the report and the comment.

    ``role`` is "chosen", "current", or a name of ``REFERENCES``.
    """

    role: str
    label: str
    low_per_s: float | None
    high_per_s: float | None


def _reference(base: Candidate, batching: bool) -> Candidate:
    return replace(base, dynamic_batching=batching, max_queue_delay_us=0, preferred_batch_sizes=())


def reference_candidates(current: Candidate, max_batch_size: int) -> list[Candidate]:
    """``REFERENCES`` with the current instances and threads, less the current config itself.

    Example:
        >>> [c.label for c in reference_candidates(Candidate(True, 100), 8)]
        ['batching 0us, 1 inst', 'no batching, 1 inst']
    """
    if max_batch_size <= 0:
        return []
    found = [_reference(current, batching) for batching in REFERENCES.values()]
    return [candidate for candidate in found if candidate != current]


def _default(trials: list[Trial]) -> Candidate | None:
    """``dynamic_batching { }`` with the current config's instances and threads."""
    first = next((t for t in trials if t.phase in ("search", "reference")), None)
    return _reference(first.candidate, True) if first is not None else None


def median_at(trials: list[Trial], candidate: Candidate, concurrency: int) -> float | None:
    """The median throughput of every measurement of ``candidate`` at one level."""
    values = [
        value
        for t in trials
        if t.candidate == candidate and (value := t.throughput_at(concurrency)) is not None
    ]
    return float(statistics.median(values)) if values else None


def fast_enough_when_quiet(trial: Trial, trials: list[Trial], throughput_only: bool) -> bool:
    """Within ``LOW_CONCURRENCY_LOSS_PCT`` of ``dynamic_batching { }`` at concurrency 1.

    Medians over every measurement in ``trials``; true when there is nothing to compare
    with (a model without batching, or the reference could not be measured).
    """
    if throughput_only:
        return True
    default = _default(trials)
    if default is None or trial.candidate == default:
        return True
    reference = median_at(trials, default, 1)
    if reference is None:
        return True
    own = median_at(trials, trial.candidate, 1)
    return own is not None and own >= reference * (1 - LOW_CONCURRENCY_LOSS_PCT / 100)


def comparisons(
    trials: list[Trial], current: Trial | None, best: Trial | None, levels: tuple[int, int]
) -> tuple[Comparison, ...]:
    """The chosen config, the current one and the references, at the low and high level."""
    roles: list[tuple[str, Candidate]] = []
    if best is not None:
        roles.append(("chosen", best.candidate))
    if current is not None and (best is None or current.candidate != best.candidate):
        roles.append(("current", current.candidate))
    default = _default(trials)
    if default is not None:
        roles += [(name, _reference(default, on)) for name, on in REFERENCES.items()]
    low, high = levels
    return tuple(
        Comparison(
            role,
            candidate.label,
            median_at(trials, candidate, low),
            median_at(trials, candidate, high),
        )
        for role, candidate in roles
        if any(t.candidate == candidate and t.report is not None for t in trials)
    )


def measurement_comment(
    found: tuple[Comparison, ...],
    levels: tuple[int, int],
    latency_budget_ms: float | None,
    throughput_only: bool,
    when: datetime | None = None,
) -> str:
    """The ``#`` lines written above a tuned config.pbtxt: the measurement behind it.

    Example:
        >>> print(measurement_comment((), (1, 32), 20.0, False), end="")  # doctest: +ELLIPSIS
        # Written by `orchestrator tune --write` at ...; p99 <= 20.0 ms; at most 10% below...
        # Measured inferences/s at concurrency 1 / 32 (medians, one local Triton):
        # Re-run `orchestrator tune` on production hardware: these numbers come from this machine.
    """
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    budget = f"p99 <= {latency_budget_ms} ms" if latency_budget_ms is not None else "no p99 limit"
    objective = (
        "throughput only (--throughput-only)"
        if throughput_only
        else f"at most {LOW_CONCURRENCY_LOSS_PCT:.0f}% below {DEFAULT_REFERENCE} at concurrency 1"
    )
    low, high = levels
    lines = [
        f"Written by `orchestrator tune --write` at {stamp}; {budget}; {objective}.",
        f"Measured inferences/s at concurrency {low} / {high} (medians, one local Triton):",
    ]

    def rate(value: float | None) -> str:
        return f"{value:,.0f}" if value is not None else "-"

    lines += [f"  {c.role}: {c.label}: {rate(c.low_per_s)} / {rate(c.high_per_s)}" for c in found]
    lines.append(
        "Re-run `orchestrator tune` on production hardware: these numbers come from this machine."
    )
    return "".join(f"# {line}\n" for line in lines)
