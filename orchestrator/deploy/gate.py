"""The gate: is the release an environment runs good enough to promote? Measured, then recorded.

Against the release the environment pointer names (``run_gate``):

1. **golden smoke** of every served version (``serving.golden_probe``, with the release's
   golden files fetched from the store and checked against its manifest);
2. Triton's own counters (``/metrics``) are read, then per model a short closed-loop
   **load** (``performance.bench``, the built-in generator) at the levels of
   ``deployment/gates.yaml``: p99 latency against its budget, throughput against a
   fraction of what the replaced deployment measured at the same concurrency in the same
   environment (the median of its newest passing gates, ``gate_baseline``; a model whose
   files and pod spec did not change is measured and recorded, not compared; without a
   baseline the check says "no baseline" and passes; a failing level is measured
   again before it fails, ``gate_load``), failed requests against
   ``max_failures``, and at least ``min_requests`` completed per level ("nothing
   measured" otherwise);
3. the counters again: per model version, ``nv_inference_request_failure`` may not move
   more than ``max_failures``, and the average queue time per request (delta
   ``nv_inference_queue_duration_us`` / delta ``nv_inference_request_success``) must stay
   within ``max_queue_us``.

Triton is reached at ``url`` and ``metrics_url`` (both, or neither: counters from another
server than the load would prove nothing), else through ONE ``kubectl port-forward
pod/NAME`` of both the HTTP port (8000) and the metrics port (8002), so the load and the
counters come from the same pod: a pod of the gated release, found once no other
release's pod is left (``deploy.watch.new_pod_target``). The smoke failing skips the
load (the gate has failed already). Every run that gets as far as measuring writes a record
(``releases.gate_records``: ``gates/<id>/<env>/<time>-<random>.json``, never
overwriting one), passed or not; ``promote`` reads them.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.client.metrics import scrape_metrics
from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.deploy import render as render_mod
from orchestrator.deploy.gate_baseline import Baseline, find_baseline
from orchestrator.deploy.gate_checks import GateCheck, metric_checks
from orchestrator.deploy.gate_config import DEFAULT_GATES, GateConfig, load_gate_config
from orchestrator.deploy.gate_identity import Identity, identity_of
from orchestrator.deploy.gate_load import load_model
from orchestrator.deploy.hints import store_args
from orchestrator.deploy.kubectl import KubectlRunner, forward_ports
from orchestrator.deploy.release_files import fetch_probe_files
from orchestrator.deploy.watch import new_pod_target
from orchestrator.errors import ConfigError, GateError, OrchestratorError
from orchestrator.performance.report import LevelResult
from orchestrator.releases.environments import read_environment
from orchestrator.releases.gate_records import GateRecord, write_gate_record
from orchestrator.releases.manifest import (
    RELEASE_FILENAME,
    Release,
    parse_release_document,
    release_prefix,
)
from orchestrator.releases.stores.base import Store
from orchestrator.serving.golden_probe import probe
from orchestrator.serving.triton.flags import PRODUCTION_PORTS

__all__ = ["GateCheck", "GateOptions", "GateResult", "check_gate_config", "run_gate"]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GateOptions:
    """How to gate: the gates file, where Triton is, which release is expected, deadlines.

    Attributes:
        gates: the gates file (levels and budgets).
        manifests: the kustomize folder (for the namespace of the port-forward).
        url: Triton's HTTP ``HOST:PORT``; with ``metrics_url``, instead of port-forward.
        metrics_url: Triton's metrics ``HOST:PORT`` (the same server as ``url``).
        release_id: the release the pointer must name (a check, not a choice).
        smoke_timeout_s: the golden smoke's budget, and the port-forward's.
    """

    gates: Path = DEFAULT_GATES
    manifests: Path = render_mod.DEFAULT_MANIFESTS
    url: str | None = None
    metrics_url: str | None = None
    release_id: str | None = None
    smoke_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if (self.url is None) != (self.metrics_url is None):
            raise ConfigError(
                "Give both --url and --metrics-url (the HTTP and metrics ports of the same "
                "Triton), or neither (kubectl port-forward to a pod of the release forwards "
                "both). The counters must come from the server that took the load."
            )
        if not self.smoke_timeout_s > 0:
            raise ConfigError(f"smoke_timeout_s {self.smoke_timeout_s} must be positive.")


@dataclass(frozen=True)
class GateResult:
    """A gate run: passed or not, every check, and the record written to the store."""

    passed: bool
    environment: str
    release_id: str
    replaced_release_id: str | None
    checks: tuple[GateCheck, ...]
    record: GateRecord

    @property
    def key(self) -> str:
        """The record's key in the store."""
        return self.record.key

    @property
    def body(self) -> Mapping[str, Any]:
        """The record as stored."""
        return self.record.body

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the stored record plus its key."""
        return {**self.record.body, "key": self.record.key}


@dataclass
class _Run:
    """What one gate run measured so far."""

    smoke: dict[str, Any] = field(default_factory=dict)
    bench: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: list[GateCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_gate(
    store: Store,
    environment: str,
    *,
    runner: KubectlRunner,
    options: GateOptions,
    progress: Progress | None = None,
) -> GateResult:
    """Gate the release ``environment`` runs; write the record (passed or not) and return it.

    Args:
        store: the store with the environment pointer, the releases and the gate records.
        environment: the overlay and pointer name (``staging``).
        runner: runs kubectl (the port-forward when ``options.url`` is None).
        options: the gates file, endpoints, the expected release, deadlines.
        progress: called with one line per long step.

    Returns:
        The result; ``passed`` is False when any check failed (the caller decides the
        exit status: the CLI exits 1).

    Raises:
        GateError: the environment has no pointer, or it names another release than
            ``options.release_id``.
        ConfigError: the gates file is wrong, or names a model the release does not serve.
        DeployError, StorageError: the release cannot be read from the store.

    Example:
        >>> result = run_gate(open_store("s3://models/prod"), "staging",
        ...                   runner=SubprocessKubectl(), options=GateOptions())  # doctest: +SKIP
        >>> result.passed, result.key  # doctest: +SKIP
        (True, 'gates/3f1c.../staging/20261202T041500123456Z-9a3b0c1d.json')
    """
    say = progress or (lambda _message: None)
    pointer = read_environment(store, environment)
    if pointer is None:
        raise GateError(
            f"Environment {environment!r} has no pointer in {store.url}: nothing was deployed "
            f"there, so there is nothing to gate. Deploy first: orchestrator deploy "
            f"{store_args(store)} --env {environment} --release ID."
        )
    release_id = pointer.release_id
    if options.release_id is not None and options.release_id != release_id:
        raise GateError(
            f"--release {options.release_id} is not what {environment} runs: its pointer in "
            f"{store.url} names {release_id}. Deploy {options.release_id} first, or gate the "
            "release the environment runs (leave out --release)."
        )
    release = _read_release(store, release_id)
    config = check_gate_config(store, release_id, options.gates)
    # An overlay that does not render is a setup error, not a verdict on the release.
    namespace = (
        render_mod.render(runner, options.manifests, environment).namespace
        if options.url is None
        else None
    )
    replaced = pointer.previous_release_id
    identity = identity_of(store, release, pointer.unit)
    baseline = find_baseline(
        store,
        replaced,
        environment,
        previous=_previous_identity(store, replaced, pointer.previous_unit),
        current=identity,
        runs={model.name: config.budget(model.name).baseline_runs for model in release.models},
    )
    no_baseline = _no_baseline(replaced, environment)
    started, clock = datetime.now(UTC), time.monotonic()
    run = _Run()
    if baseline is None:
        run.notes.append(f"No throughput baseline: {no_baseline}; the throughput checks pass.")
    elif baseline.unchanged:
        run.notes.append(
            f"Unchanged since release {replaced} (the same files and pod spec): "
            f"{', '.join(sorted(baseline.unchanged))}; their throughput is measured and "
            "recorded, not compared."
        )
    say(f"Gating release {release_id} in {environment}")
    with tempfile.TemporaryDirectory(prefix="orchestrator-gate-") as temp:
        golden = fetch_probe_files(store, release, Path(temp))
        try:
            with _endpoints(runner, namespace, release_id, options) as (url, metrics_url, where):
                run.notes.append(f"Measured through {where}.")
                _measure(
                    run,
                    release,
                    config,
                    baseline,
                    no_baseline,
                    golden,
                    url,
                    metrics_url,
                    options.smoke_timeout_s,
                    say,
                )
        except OrchestratorError as exc:
            # Triton could not be reached at all: a failed gate, recorded like any other.
            run.checks.append(GateCheck("endpoint", False, detail=str(exc)))
    # A pass needs a measured level of every model: checks that all passed over nothing
    # measured (a smoke-only run, a load that never started) are not a pass.
    measured = all(_levels(run.bench.get(model.name)) for model in release.models)
    passed = bool(run.checks) and measured and all(check.passed for check in run.checks)
    body = {
        "passed": passed,
        "forced": False,
        "reason": None,
        "replaced_release": replaced,
        "baseline_record": baseline.record_key if baseline else None,
        "baseline_records": list(baseline.record_keys) if baseline else [],
        "unchanged_models": sorted(baseline.unchanged) if baseline else [],
        "identity": identity.as_dict(),
        "started": _stamp(started),
        "finished": _stamp(datetime.now(UTC)),
        "duration_s": round(time.monotonic() - clock, 2),
        "gates": {
            "path": str(config.path),
            "text": config.text,
            "budgets": {m.name: config.budget(m.name).as_dict() for m in release.models},
        },
        "smoke": run.smoke,
        "bench": run.bench,
        "metrics": run.metrics,
        "checks": [check.as_dict() for check in run.checks],
        "notes": run.notes,
    }
    record = write_gate_record(store, release_id, environment, body)
    logger.info("Gate of %s in %s: %s", release_id, environment, "passed" if passed else "failed")
    return GateResult(passed, environment, release_id, replaced, tuple(run.checks), record)


def check_gate_config(store: Store, release_id: str, gates: Path) -> GateConfig:
    """Read ``gates`` and check it against the release: its model names and time budget.

    Raises:
        ConfigError: the file is wrong, names a model the release does not serve, or its
            levels add up to more than ``gate_config.MAX_GATE_S`` for this release.
        GateError, StorageError: the release cannot be read from the store.

    Example:
        >>> check_gate_config(store, "3f1c", Path("deployment/gates.yaml"))  # doctest: +SKIP
        GateConfig(path=PosixPath('deployment/gates.yaml'), ...)
    """
    release = _read_release(store, release_id)
    config = load_gate_config(gates)
    served = [model.name for model in release.models]
    config.check_models(served, release_id)
    config.check_time(served, release_id)
    return config


def _levels(report: Any) -> list[Any]:
    levels = report.get("levels") if isinstance(report, dict) else None
    return levels if isinstance(levels, list) else []


def _read_release(store: Store, release_id: str) -> Release:
    key = release_prefix(release_id) + RELEASE_FILENAME
    found = store.read(key)
    if found is None:
        raise GateError(
            f"The pointer names release {release_id}, but {store.url} has no {key}. Check "
            f"orchestrator releases list {store_args(store)}; deploy a complete release."
        )
    return parse_release_document(found.data, f"{store.url}/{key}")


def _previous_identity(store: Store, replaced: str | None, unit: str | None) -> Identity | None:
    """What the replaced deployment served, as far as the store still says."""
    if replaced is None:
        return None
    found = store.read(release_prefix(replaced) + RELEASE_FILENAME)
    if found is None:
        return None
    try:
        release = parse_release_document(found.data, f"{store.url}/{replaced}")
    except OrchestratorError as exc:
        logger.warning("The replaced release %s cannot be read: %s", replaced, exc)
        return None
    return identity_of(store, release, unit)


def _no_baseline(replaced: str | None, environment: str) -> str:
    if replaced is None:
        return f"the first release in {environment} (no replaced release)"
    return f"the replaced release {replaced} has no passing measured gate record in {environment}"


@contextmanager
def _endpoints(
    runner: KubectlRunner, namespace: str | None, release_id: str, options: GateOptions
) -> Iterator[tuple[str, str, str]]:
    if options.url is not None and options.metrics_url is not None:
        yield options.url, options.metrics_url, f"{options.url} (metrics {options.metrics_url})"
        return
    assert namespace is not None  # rendered by run_gate whenever there is no --url
    # A pod of the gated release by name, once no other release's pod is left: a
    # port-forward to svc/ may pick an old pod still terminating and Ready (kubectl's
    # GetFirstPod does not skip them; KUBERNETES_FACTS.md), and measure the wrong release.
    target = new_pod_target(runner, namespace, release_id, timeout_s=options.smoke_timeout_s)
    ports = (PRODUCTION_PORTS["http"], PRODUCTION_PORTS["metrics"])
    with forward_ports(runner, namespace, target, ports, timeout_s=options.smoke_timeout_s) as (
        url,
        metrics_url,
    ):
        yield (
            url,
            metrics_url,
            f"kubectl port-forward {target} {ports[0]} {ports[1]} in {namespace}",
        )


def _measure(
    run: _Run,
    release: Release,
    config: GateConfig,
    baseline: Baseline | None,
    no_baseline: str,
    golden: Path,
    url: str,
    metrics_url: str,
    smoke_timeout_s: float,
    say: Progress,
) -> None:
    say("Golden smoke of every served version")
    report = probe(url, golden, timeout_s=smoke_timeout_s)
    run.smoke = {
        "ok": report.ok,
        "checked": list(report.checked),
        "failures": list(report.failures),
    }
    run.checks.append(
        GateCheck(
            "golden smoke",
            report.ok,
            measured=float(len(report.checked)),
            detail="; ".join(report.failures[:5]) or f"checked {', '.join(report.checked)}",
        )
    )
    if not report.ok:
        run.notes.append("The golden smoke failed: the load and the counters were skipped.")
        return
    try:
        before = scrape_metrics(metrics_url)
    except OrchestratorError as exc:
        run.checks.append(GateCheck("metrics", False, detail=str(exc)))
        run.notes.append("Triton's counters could not be read: the load was skipped.")
        return
    # The load's time budget, derived from the levels (checked against MAX_GATE_S).
    budget_s = config.time_budget_s(m.name for m in release.models)
    deadline = time.monotonic() + budget_s
    for model in release.models:
        budget = config.budget(model.name)
        if time.monotonic() > deadline:
            detail = f"the gate's load took over its time budget of {budget_s:.0f} s: not loaded"
            run.checks.append(GateCheck("time budget", False, model.name, detail=detail))
            continue
        say(
            f"Load on {model.name}: concurrency {', '.join(map(str, budget.concurrency))}, "
            f"{budget.max_windows} x {budget.window_s:g} s windows each"
        )
        newest = golden / model.name / str(max(model.versions)) / GOLDEN_FILENAME
        try:
            load = load_model(
                url, model.name, budget, newest, baseline, no_baseline, _level_line(say, model.name)
            )
        except OrchestratorError as exc:
            run.checks.append(GateCheck("load", False, model.name, detail=str(exc)))
            continue
        run.bench[model.name] = load.report
        run.checks += load.checks
        # Measuring a slow level again is not the levels' time: the next model keeps its own.
        deadline += load.again_s
    try:
        after = scrape_metrics(metrics_url)
    except OrchestratorError as exc:
        run.checks.append(GateCheck("metrics", False, detail=str(exc)))
        return
    versions = [(m.name, str(v)) for m in release.models for v in m.versions]
    budgets = {m.name: config.budget(m.name) for m in release.models}
    checks, deltas = metric_checks(versions, before, after, budgets, baseline)
    run.checks += checks
    run.metrics = {key: delta.as_dict() for key, delta in deltas.items()}


def _level_line(say: Progress, model: str) -> Callable[[LevelResult], None]:
    """One progress line per measured level, so a long load is never silent."""

    def level(result: LevelResult) -> None:
        say(
            f"  {model} at concurrency {result.concurrency}: "
            f"{result.throughput_per_s:,.0f} infer/s, p99 {result.p99_ms:.1f} ms, "
            f"{result.requests - result.failures} requests completed"
        )

    return level


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
