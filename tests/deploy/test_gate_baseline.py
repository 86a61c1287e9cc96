"""The throughput baseline: a median of the replaced deployment's gates; unchanged models.

Records are written to a real file:// store as the gate writes them; identities come from
real releases and stored units (``gate_identity``). The measurements are built as bench
reports them; the same rule against a real Triton is in tests/integration/test_gate.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.deploy.gate_baseline import Baseline, find_baseline
from orchestrator.deploy.gate_checks import (
    GateCheck,
    confirm_throughput,
    level_checks,
    pending_levels,
)
from orchestrator.deploy.gate_config import ModelBudget
from orchestrator.deploy.gate_identity import Identity, identity_of, serving_digest
from orchestrator.deploy.unit import store_unit
from orchestrator.performance.report import BenchReport, LevelResult
from orchestrator.releases.gate_records import write_gate_record
from orchestrator.releases.manifest import build_release
from orchestrator.releases.stores import Store, open_store
from orchestrator.releases.sync import sync_release
from tests.support.golden_versions import write_affine_version

# The pod spec of a unit, as `kubectl kustomize` renders it; {release} and {cpu} vary.
UNIT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: triton
  namespace: triton-staging
spec:
  template:
    metadata:
      annotations:
        triton-orchestrator/release: {release}{extra}
    spec:
      containers:
        - name: triton
          image: triton-orchestrator/triton:24.10
          env:
            - name: MODEL_REPOSITORY
              value: s3://models/releases/{release}
          resources:
            limits:
              cpu: "{cpu}"
"""

# What the last measured passing record of the replaced deployment says at concurrency 1:
# a quiet-moment high (the 1,631 infer/s of the recorded rehearsal), after four ordinary gates.
HISTORY = (1400.0, 1450.0, 1380.0, 1420.0, 1631.0)


def _unit(store: Store, release: str, *, cpu: str = "4", extra: str = "") -> str:
    text = UNIT.format(release=release, cpu=cpu, extra=extra)
    digest = hashlib.sha256(text.encode()).hexdigest()
    store_unit(store, digest, text)
    return digest


def _release(store: Store, repo: Path, offsets: dict[str, float]) -> Any:
    for model, offset in offsets.items():
        write_affine_version(repo, model, 1, offset=offset)
    release = build_release(repo)
    sync_release(release, store)
    return release


def _level(throughput: float) -> LevelResult:
    # duration 1 s, batch size 1: the throughput is the completed requests.
    return LevelResult(
        concurrency=1,
        batch_size=1,
        requests=int(throughput),
        failures=0,
        duration_s=1.0,
        p50_ms=1.0,
        p90_ms=2.0,
        p95_ms=3.0,
        p99_ms=5.0,
        avg_ms=1.5,
        server_queue_ms=0.1,
        server_compute_ms=0.5,
        server_avg_batch=1.0,
        windows=3,
        stable=True,
        client_cpu_fraction=0.2,
    )


def _report(throughput: float) -> BenchReport:
    return BenchReport(
        "m", "127.0.0.1:1", "http", "orchestrator", 1, 1.0, "golden", (_level(throughput),)
    )


def _throughput(checks: list[GateCheck]) -> GateCheck:
    return next(check for check in checks if check.name == "throughput")


# (what the push changed, the new measurement at concurrency 1 (first, second), passes)
CASES = [
    # An equivalent model, unchanged: a noisy low moment (the recorded 1,051 then 1,259).
    ("nothing", (1051.0, 1259.0), True),
    # Only a pod-template annotation: no pod runs faster or slower for it.
    ("annotation", (1051.0, 1259.0), True),
    # An equivalent retrain measured at a noisy moment: above 0.8 x the median (1,420).
    ("model", (1051.0, 1259.0), True),
    # A retrain made 2x slower: below 0.8 x the median, twice.
    ("model", (700.0, 720.0), False),
    # The same model given half the CPU: its throughput halves, and it is compared.
    ("cpu", (700.0, 720.0), False),
    # The same release redeployed with half the CPU: compared against its own gates.
    ("cpu, same release", (700.0, 720.0), False),
]


@pytest.mark.parametrize(("changed", "measured", "passes"), CASES)
def test_the_throughput_verdict_compares_what_changed_against_a_median(
    tmp_path: Path, changed: str, measured: tuple[float, float], passes: bool
) -> None:
    store = open_store((tmp_path / "store").as_uri())
    old = _release(store, tmp_path / "old", {"m": 1.0, "other": 1.0})
    offset = 1.0 + 2**-4 if changed == "model" else 1.0
    other = 1.0 if changed == "cpu, same release" else 1.0 + 2**-4
    new = _release(store, tmp_path / "new", {"m": offset, "other": other})
    old_unit = _unit(store, old.id)
    new_unit = _unit(
        store,
        new.id,
        cpu="2" if changed.startswith("cpu") else "4",
        extra='\n        example.com/revision: "2"' if changed == "annotation" else "",
    )
    previous = identity_of(store, old, old_unit)
    current = identity_of(store, new, new_unit)
    for throughput in HISTORY:  # oldest first; the quiet high is the newest record
        body = {
            "passed": True,
            "identity": previous.as_dict(),
            "bench": {"m": {"levels": [{"concurrency": 1, "throughput_per_s": throughput}]}},
        }
        write_gate_record(store, old.id, "staging", body)

    baseline = find_baseline(store, old.id, "staging", previous=previous, current=current)
    before = find_baseline(store, old.id, "staging", runs={"m": 1})  # the old rule
    assert baseline is not None and before is not None
    first, second = (_report(value) for value in measured)
    checks = level_checks("m", first, ModelBudget(), baseline, "none")
    verdict = _throughput(confirm_throughput(checks, [second], ModelBudget()))
    old_verdict = _throughput(
        confirm_throughput(
            level_checks("m", first, ModelBudget(), before, "none"), [second], ModelBudget()
        )
    )

    assert verdict.passed is passes, verdict.detail
    # The old rule (the newest record alone, whatever changed) failed every one of them.
    assert old_verdict.passed is False
    assert old_verdict.budget == pytest.approx(0.8 * 1631.0)
    if changed in ("nothing", "annotation"):
        assert baseline.unchanged == frozenset({"m"})
        assert verdict.budget is None
        assert "unchanged since the baseline" in verdict.detail
        assert "throughput not compared" in verdict.detail
    else:
        assert baseline.unchanged == frozenset()
        assert verdict.budget == pytest.approx(0.8 * 1420.0)  # the median of five
        assert "the median of 5 gates of release" in verdict.detail
        assert "1631, 1420, 1380, 1450, 1400" in verdict.detail


def test_a_cpu_cut_on_the_same_release_is_measured_against_the_same_release_s_own_gates(
    tmp_path: Path,
) -> None:
    # A manifest-only push: the pointer's previous release is the release itself.
    store = open_store((tmp_path / "store").as_uri())
    release = _release(store, tmp_path / "r", {"m": 1.0})
    four, two = _unit(store, release.id), _unit(store, release.id, cpu="2")
    assert serving_digest(store, four, release.id) != serving_digest(store, two, release.id)
    previous, current = identity_of(store, release, four), identity_of(store, release, two)
    body = {
        "passed": True,
        "identity": previous.as_dict(),
        "bench": {"m": {"levels": [{"concurrency": 1, "throughput_per_s": 1000.0}]}},
    }
    write_gate_record(store, release.id, "staging", body)

    baseline = find_baseline(store, release.id, "staging", previous=previous, current=current)

    assert baseline is not None and baseline.unchanged == frozenset()
    assert baseline.throughput == {"m": {1: 1000.0}}
    assert not _throughput(level_checks("m", _report(500.0), ModelBudget(), baseline, "")).passed


def test_the_median_takes_the_same_model_from_any_release_and_skips_other_pod_specs(
    tmp_path: Path,
) -> None:
    store = open_store((tmp_path / "store").as_uri())
    a = _release(store, tmp_path / "a", {"m": 1.0, "other": 1.0})
    b = _release(store, tmp_path / "b", {"m": 1.0, "other": 3.0})  # m's bytes kept
    c = _release(store, tmp_path / "c", {"m": 5.0, "other": 3.0})
    ua, ub, ub_small = _unit(store, a.id), _unit(store, b.id), _unit(store, b.id, cpu="1")

    def record(release: str, identity: Identity, throughput: float, **extra: Any) -> str:
        levels = [{"concurrency": 1, "throughput_per_s": throughput}]
        body = {"passed": True, "identity": identity.as_dict(), "bench": {"m": {"levels": levels}}}
        return write_gate_record(store, release, "staging", {**body, **extra}).key

    record(a.id, identity_of(store, a, ua), 900.0)  # the same m, same spec, release a
    record(b.id, identity_of(store, b, ub_small), 100.0)  # m on 1 CPU: another thing
    record(b.id, identity_of(store, b, ub), 1100.0, passed=False)  # a failed gate
    record(b.id, identity_of(store, b, ub), 5000.0, forced=True)  # a forced promotion
    newest = record(b.id, identity_of(store, b, ub), 1000.0)
    record(c.id, identity_of(store, c, _unit(store, c.id)), 7.0)  # another model, newer

    previous = identity_of(store, b, ub)
    baseline = find_baseline(
        store, b.id, "staging", previous=previous, current=identity_of(store, c, _unit(store, c.id))
    )

    assert baseline is not None
    assert baseline.samples == {"m": {1: (1000.0, 900.0)}}
    assert baseline.throughput == {"m": {1: 950.0}}
    assert baseline.record_key == newest and len(baseline.record_keys) == 2
    # Without the replaced deployment's identity (a format-1 pointer): its release's own.
    legacy = find_baseline(store, b.id, "staging")
    assert legacy is not None and legacy.samples == {"m": {1: (1000.0, 100.0)}}


def test_an_unknown_pod_spec_is_never_unchanged(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())
    release = _release(store, tmp_path / "r", {"m": 1.0})
    missing = "0" * 64  # the store holds no such unit (deployed before units were kept)

    assert serving_digest(store, missing, release.id) is None
    unknown = identity_of(store, release, missing)
    assert unknown.serving is None and unknown.of("m") is None
    assert identity_of(store, release, None).of("m") is None
    # A record that claims an identity that is not a digest is an older record's shape.
    assert Identity.from_record({"identity": {"serving": "x", "models": {}}}) is None
    assert Identity.from_record({"identity": {"serving": "a" * 64, "models": {"m": 1}}}) == (
        Identity("a" * 64, {})
    )


# (floor's baseline, the measurements a level would give in turn, measurements taken,
#  passes): the rule of gate_load.load_model, judged by pending_levels/confirm_throughput.
ATTEMPTS = [
    # The recorded load-10 rehearsal (push 1, production): an equivalent retrain measured
    # 364 then 976 against a floor of 0.8 x 1,708; a third measurement reaches the floor.
    (1708.0, (364.0, 976.0, 1500.0), 3, True),
    # The recorded load-12 rehearsal (push 4, production): 320 then 266 within seconds (one
    # busy moment), against 0.8 x 1,431; they agree, and still say nothing of the model.
    (1431.0, (320.0, 266.0, 1200.0), 3, True),
    # A model made 2x slower on a quiet machine: below the floor every time, it fails.
    (1000.0, (500.0, 510.0, 520.0, 505.0, 900.0), 4, False),
    # ...and on a noisy one: every one of the four measurements below the floor.
    (1000.0, (500.0, 250.0, 350.0, 300.0, 900.0), 4, False),
]


@pytest.mark.parametrize(("before", "offered", "taken", "passes"), ATTEMPTS)
def test_a_level_below_the_floor_is_measured_until_it_passes_or_repeats(
    before: float, offered: tuple[float, ...], taken: int, passes: bool
) -> None:
    budget = ModelBudget()
    baseline = find_baseline_of(before)
    checks = level_checks("m", _report(offered[0]), budget, baseline, "none")
    further: list[BenchReport] = []
    while pending_levels(checks, further, budget):
        further.append(_report(offered[1 + len(further)]))

    verdict = _throughput(confirm_throughput(checks, further, budget))

    assert 1 + len(further) == taken
    assert verdict.passed is passes, verdict.detail
    assert verdict.measured == max(offered[:taken])
    if passes:
        assert verdict.detail.endswith(
            "a later measurement passed: "
            + " then ".join(f"{value:.1f}" for value in offered[:taken])
            + " infer/s"
        )
    # The old rule (two measurements, whatever they said) failed the noisy equivalents.
    assert _throughput(confirm_throughput(checks, further[:1], budget)).passed is False


def find_baseline_of(throughput: float) -> Baseline:
    """A baseline of one gate that measured ``throughput`` at concurrency 1."""
    return Baseline("r0", "gates/r0/staging/k.json", {"m": {1: throughput}})


def test_a_sample_is_the_best_measurement_its_gate_judged(tmp_path: Path) -> None:
    store = open_store((tmp_path / "store").as_uri())

    def level(concurrency: int, throughput: float) -> dict[str, float]:
        return {"concurrency": concurrency, "throughput_per_s": throughput}

    report = {
        "levels": [level(1, 232.0), level(4, 1700.0)],
        # Measured again below the floor: 1,018 then 1,176 (the passing one); a level the
        # first measurement does not have is no sample.
        "confirmations": [
            {"levels": [level(1, 1018.0), level(8, 9999.0)]},
            {"levels": [level(1, 1176.0)]},
        ],
    }
    write_gate_record(store, "r0", "staging", {"passed": True, "bench": {"m": report}})
    older = {"levels": [level(1, 300.0)], "confirmation": {"levels": [level(1, 900.0)]}}
    write_gate_record(store, "r1", "staging", {"passed": True, "bench": {"m": older}})

    baseline = find_baseline(store, "r0", "staging")
    legacy = find_baseline(store, "r1", "staging")  # a record of the second-measurement era

    assert baseline is not None and baseline.samples == {"m": {1: (1176.0,), 4: (1700.0,)}}
    assert legacy is not None and legacy.samples == {"m": {1: (900.0,)}}
