"""The throughput baseline: what the replaced deployment measured, as a median of its gates.

The gate compares a model's throughput with what the deployment it replaces measured at
the same concurrency in the same environment. One measurement is a poor yardstick on a
shared machine or a busy node: the same model, unchanged, measures 23-36% apart from one
gate to the next on a 2-core runner, so one quiet-moment high would set the floor for
every later release. The baseline is therefore:

- per model and concurrency, the **median** of the newest ``baseline_runs`` (gates file,
  default 5) passing, measured gate records in this environment of the **same thing**:
  the replaced release's model files under the replaced unit's pod spec
  (``gate_identity``), whichever release served it (a release that kept the model's bytes
  counts); a record without an identity (an older gate) counts when it is of the
  replaced release itself;
- ``unchanged`` names the models whose files AND pod spec are what the replaced
  deployment served: their throughput is not compared (a rollback would serve the same
  bytes on the same spec, so no verdict on them can be acted on); what they measure is
  recorded with the identity and joins the median of later gates, one sample of five;
- a level's sample is the best of its measurements (a level below the floor is measured
  again: ``gate_load``), the figure its gate judged; contention only slows a server;
- failed and forced records, and levels that measured nothing (a throughput that is not
  a finite number above 0, fewer completed requests than the record's ``min_requests``),
  are never samples.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.deploy.gate_config import ModelBudget
from orchestrator.deploy.gate_identity import Identity
from orchestrator.releases.gate_records import GATES_PREFIX, GateRecord, gate_records, read_record
from orchestrator.releases.stores.base import Store

__all__ = ["DEFAULT_BASELINE_RUNS", "MAX_RECORDS_READ", "Baseline", "find_baseline"]

logger = logging.getLogger(__name__)

DEFAULT_BASELINE_RUNS = ModelBudget.baseline_runs
# The newest records of an environment read for the median: a few weeks of releases.
MAX_RECORDS_READ = 60
_RECORD_KEY = re.compile(rf"{GATES_PREFIX}/([^/]+)/([^/]+)/([^/]+\.json)")


@dataclass(frozen=True)
class Baseline:
    """What the replaced deployment measured, per model: throughput and queue time.

    Attributes:
        release_id: the replaced release.
        record_key: the newest record the baseline uses.
        throughput: per model and concurrency, the median of ``samples``.
        queue_us: per model, the newest record's highest queue time per request (empty
            when it holds no counters).
        samples: per model and concurrency, the measurements the median is of, newest first.
        unchanged: models whose files and pod spec are what the replaced deployment served.
        record_keys: every record the baseline uses, newest first.
    """

    release_id: str
    record_key: str
    throughput: Mapping[str, Mapping[int, float]]
    queue_us: Mapping[str, float] = field(default_factory=dict)
    samples: Mapping[str, Mapping[int, tuple[float, ...]]] = field(default_factory=dict)
    unchanged: frozenset[str] = frozenset()
    record_keys: tuple[str, ...] = ()

    def describe(self, model: str, concurrency: int) -> str:
        """Where the figure for ``model`` at ``concurrency`` comes from, for a check's detail."""
        found = self.samples.get(model, {}).get(concurrency, ())
        if len(found) <= 1:
            return f"measured by release {self.release_id}"
        listed = ", ".join(f"{value:.0f}" for value in found)
        return (
            f"the median of {len(found)} gates of release {self.release_id}'s {model} "
            f"(the same files and pod spec): {listed}"
        )


def find_baseline(
    store: Store,
    replaced: str | None,
    environment: str,
    *,
    previous: Identity | None = None,
    current: Identity | None = None,
    runs: Mapping[str, int] | None = None,
) -> Baseline | None:
    """The baseline of the deployment ``environment``'s pointer replaced, or None.

    Args:
        store: the store with the gate records.
        replaced: the replaced release (the pointer's previous one); None: no baseline.
        environment: where the records were measured.
        previous: what the replaced deployment served (its release and unit); None or
            partly unknown: the replaced release's own records are the samples.
        current: what the gated deployment serves; a model whose ``of`` equals
            ``previous``'s is ``unchanged``.
        runs: per model, how many records the median is of (``DEFAULT_BASELINE_RUNS``).

    Returns:
        None when there is no replaced release, or no sample of any model.

    Example:
        >>> find_baseline(store, "3f1c", "staging").throughput["digits_cnn"][4]  # doctest: +SKIP
        812.5
    """
    if replaced is None:
        return None
    wanted = dict(runs or {})
    samples: dict[str, dict[int, list[float]]] = {}
    queue: dict[str, float] = {}
    used: list[str] = []
    for record in _candidates(store, replaced, environment, previous):
        bench = record.body.get("bench")
        if not record.passed or record.forced or not isinstance(bench, dict):
            continue
        kept = Identity.from_record(record.body)
        took = False
        for model, report in bench.items():
            name = str(model)
            if not _same(record, kept, name, replaced, previous):
                continue
            minimum = _recorded_min_requests(record.body, name)
            limit = wanted.get(name, DEFAULT_BASELINE_RUNS)
            sampled = False
            for concurrency, value in _best_levels(report, minimum).items():
                found = samples.setdefault(name, {}).setdefault(concurrency, [])
                if len(found) < limit:
                    found.append(value)
                    sampled = True
            recorded = _recorded_queue(record.body)
            if sampled and name not in queue and name in recorded:
                queue[name] = recorded[name]  # the newest record's, as the throughput's
            took = took or sampled
        if took:
            used.append(record.key)
        else:
            # A passing record without one measured level (an old gate that passed on
            # nothing measured) is no baseline: an empty measurement never becomes one.
            logger.info("Not a throughput sample (nothing measured): %s", record.key)
    if not used:
        return None
    logger.info("Throughput baseline: %s", ", ".join(used))
    return Baseline(
        replaced,
        used[0],
        {
            model: {level: statistics.median(values) for level, values in found.items()}
            for model, found in samples.items()
        },
        queue,
        {
            model: {level: tuple(values) for level, values in found.items()}
            for model, found in samples.items()
        },
        _unchanged(previous, current),
        tuple(used),
    )


def _unchanged(previous: Identity | None, current: Identity | None) -> frozenset[str]:
    if previous is None or current is None:
        return frozenset()
    return frozenset(
        model
        for model in current.models
        if current.of(model) is not None and current.of(model) == previous.of(model)
    )


def _same(
    record: GateRecord,
    kept: Identity | None,
    model: str,
    replaced: str,
    previous: Identity | None,
) -> bool:
    """Whether ``record`` measured the model the replaced deployment served."""
    wanted = previous.of(model) if previous is not None else None
    found = kept.of(model) if kept is not None else None
    if wanted is not None and found is not None:
        return found == wanted
    return record.release_id == replaced


def _candidates(
    store: Store, replaced: str, environment: str, previous: Identity | None
) -> Iterable[GateRecord]:
    """The records that may hold samples, newest first.

    With the replaced deployment's identity known, the environment's newest records of
    every release (another release may have served the same model); else the replaced
    release's own.
    """
    if previous is None or previous.serving is None:
        yield from reversed(gate_records(store, replaced, environment))
        return
    keys = []
    for found in store.list_objects(f"{GATES_PREFIX}/"):
        match = _RECORD_KEY.fullmatch(found.key)
        if match and match.group(2) == environment:
            keys.append((match.group(3), found.key))
    for _name, key in sorted(keys, reverse=True)[:MAX_RECORDS_READ]:
        record = read_record(store, key)
        if record is not None:
            yield record


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _recorded_queue(body: Mapping[str, Any]) -> dict[str, float]:
    """Per model, the highest average queue time per request a record's counters show."""
    metrics = body.get("metrics")
    queue: dict[str, float] = {}
    for key, delta in metrics.items() if isinstance(metrics, dict) else ():
        if not isinstance(key, str) or "/" not in key or not isinstance(delta, dict):
            continue
        value, success = _number(delta.get("queue_us_per_request")), _number(delta.get("success"))
        if value is None or value < 0 or not success or success <= 0:
            continue
        model = key.rsplit("/", 1)[0]
        queue[model] = max(queue.get(model, 0.0), value)
    return queue


def _recorded_min_requests(body: Mapping[str, Any], model: str) -> float:
    """The ``min_requests`` the record's gate judged ``model`` by (1 for older records)."""
    gates = body.get("gates")
    budgets = gates.get("budgets") if isinstance(gates, dict) else None
    budget = budgets.get(model) if isinstance(budgets, dict) else None
    found = _number(budget.get("min_requests")) if isinstance(budget, dict) else None
    return max(1.0, found) if found is not None else 1.0


def _best_levels(report: Any, min_requests: float) -> dict[int, float]:
    """Per concurrency, the best throughput a recorded load measured: the one its gate judged.

    Its levels, then the further measurements of a level below the floor.
    """
    if not isinstance(report, dict):
        return {}
    further = report.get("confirmations")
    if not isinstance(further, list):
        further = [report.get("confirmation")]
    best: dict[int, float] = {}
    for index, measurement in enumerate([report, *further[:20]]):
        levels = measurement.get("levels") if isinstance(measurement, dict) else None
        for level in levels if isinstance(levels, list) else []:
            measured = _measured_throughput(level, min_requests)
            if measured is None or (index and measured[0] not in best):
                continue  # a further measurement only of a level measured first
            best[measured[0]] = max(best.get(measured[0], 0.0), measured[1])
    return best


def _measured_throughput(level: Any, min_requests: float) -> tuple[int, float] | None:
    """(concurrency, throughput) of a recorded level that measured something, else None."""
    if not isinstance(level, dict):
        return None
    concurrency, value = level.get("concurrency"), _number(level.get("throughput_per_s"))
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or value is None:
        return None
    if value <= 0:
        return None
    requests, failures = _number(level.get("requests")), _number(level.get("failures"))
    if requests is not None and requests - (failures or 0.0) < min_requests:
        return None
    return concurrency, value
