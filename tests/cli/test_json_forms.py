"""The ``--format json`` contract, byte for byte, of every result type the commands print.

Each expected line (``tests/assets/json_forms/``) was captured before the result types all
took over their own JSON forms: from the converters ``cli/output/jsondata.py`` used to
register, or from the type's ``as_dict()`` where it already had one. Automation reads
these lines, so a changed key, order, rounding or type fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli.output.jsondata import JsonOutput, SupportsAsDict, echo_json
from orchestrator.client import ModelState
from orchestrator.core.digest import FileDigest
from orchestrator.core.findings import Finding
from orchestrator.core.golden import Mismatch, Tolerance
from orchestrator.core.tensors import ServingSignature, TensorSpec
from orchestrator.deploy.cluster import Pod
from orchestrator.deploy.gate import GateResult
from orchestrator.deploy.gate_checks import GateCheck
from orchestrator.deploy.promote import PromoteReport
from orchestrator.deploy.rollout import DeployReport
from orchestrator.deploy.status import EnvironmentStatus, PodModels, Rollout
from orchestrator.performance.candidates import Candidate
from orchestrator.performance.report import BenchReport, LevelResult
from orchestrator.performance.trials import Comparison, Trial
from orchestrator.performance.tune import TuneReport
from orchestrator.releases.catalog import GcReport, ReleaseInfo
from orchestrator.releases.diff import ModelChange, ReleaseDiff
from orchestrator.releases.gate_records import GateRecord
from orchestrator.releases.manifest import Release, ReleaseModel
from orchestrator.releases.sync import SyncPlan, SyncReport, Transfer
from orchestrator.repository.exports import BundleResult, ExportsReport
from orchestrator.repository.listing import ModelListing, VersionListing
from orchestrator.repository.publish import PublishResult
from orchestrator.serving.container.image import BuiltImage
from orchestrator.serving.inference import InferResult
from orchestrator.serving.serve import ServeReport
from orchestrator.serving.smoke import SmokeReport, SmokeResult
from orchestrator.serving.swap import SwapReport

SHA_A = "a" * 64
SHA_B = "b" * 64


def _serve() -> ServeReport:
    return ServeReport(
        http_url="http://127.0.0.1:8000",
        grpc_url="127.0.0.1:8001",
        metrics_url="http://127.0.0.1:8002/metrics",
        startup_s=1.23456,
        log_path=Path("/tmp/triton.log"),
        models=(
            ModelState("cancer_mlp", "1", "READY", ""),
            ModelState("broken", "2", "UNAVAILABLE", "load failed"),
        ),
    )


def _smoke() -> SmokeReport:
    return SmokeReport(
        results=(
            SmokeResult("cancer_mlp", "1", "http", max_abs_error=1.5e-7, latency_ms=2.34567),
            SmokeResult("broken", "2", "grpc", problems=("no such model",)),
            SmokeResult(
                "m",
                "3",
                "http",
                max_abs_error=0.5,
                latency_ms=1.0,
                worst=Mismatch("probabilities", (0, 1), 0.9, 0.4, 0.5, 0.001),
            ),
        ),
        tolerances={"cancer_mlp": Tolerance(rtol=1e-3, atol=1e-5)},
    )


def _infer() -> InferResult:
    signature = ServingSignature(
        inputs=(TensorSpec("x", "FP32", (-1, 4)),),
        outputs=(
            TensorSpec("probabilities", "FP32", (-1, 2)),
            TensorSpec("label", "BYTES", (-1, 1)),
        ),
    )
    return InferResult(
        model="cancer_mlp",
        version="1",
        signature=signature,
        outputs={
            "probabilities": np.array([[0.25, 0.75]], dtype=np.float32),
            "label": np.array([[b"benign"], ["malign\xe9"]], dtype=object),
            "extra": np.array([1, 2], dtype=np.int64),
        },
        latency_ms=3.14159,
    )


def _swap() -> SwapReport:
    return SwapReport(
        model="cancer_mlp",
        from_versions=(1,),
        to_version=2,
        load_s=0.12345,
        smoke=_smoke(),
        total_s=1.5,
        cpu_override=True,
    )


def _swap_unchanged() -> SwapReport:
    return SwapReport("cancer_mlp", (2,), 2, 0.0, None, 0.0004, False)


def _publish(status: str = "published") -> PublishResult:
    return PublishResult(
        model="cancer_mlp",
        version=2,
        path=Path("model_repository/cancer_mlp/2"),
        config_path=Path("model_repository/cancer_mlp/config.pbtxt"),
        config_written=status == "published",
        files={"model.onnx": FileDigest(SHA_A, 1234), "golden.npz": FileDigest(SHA_B, 56)},
        status="published" if status == "published" else "unchanged",
    )


def _publish_update_config() -> PublishResult:
    dropped = "# tune: batching 100us pref 4/8, 2 inst: 1200.0/s at 32 (was 900.0/s)\n"
    return replace(_publish(), comment_dropped=dropped)


def _publish_comment_kept() -> PublishResult:
    return replace(_publish(), comment_kept=True)


def _exports() -> ExportsReport:
    return ExportsReport(
        folder=Path("models/exports"),
        repository=Path("model_repository"),
        results=(
            BundleResult(Path("models/exports/cancer_mlp"), _publish()),
            BundleResult(Path("models/exports/other.onnx"), _publish("unchanged")),
        ),
    )


def _listings() -> list[ModelListing]:
    return [
        ModelListing(
            name="cancer_mlp",
            backend="onnxruntime",
            version_policy="latest 1",
            versions=(
                VersionListing(1, False, 100, SHA_A),
                VersionListing(2, True, 200, SHA_B, {"accuracy": 0.97}),
            ),
        ),
        ModelListing("broken", "", "", (), error="config.pbtxt: syntax error"),
    ]


def _release(created: str = "2026-12-07T00:00:00Z") -> Release:
    return Release(
        id="r1",
        models=(ReleaseModel("cancer_mlp", (1, 2)),),
        files={
            "cancer_mlp/config.pbtxt": FileDigest(SHA_A, 56),
            "cancer_mlp/2/model.onnx": FileDigest(SHA_B, 1234),
        },
        created=created,
    )


def _sync() -> SyncReport:
    plan = SyncPlan(
        release=_release(),
        store_url="s3://bucket/prefix",
        complete=False,
        uploads=(Transfer("cancer_mlp/2/model.onnx", FileDigest(SHA_B, 1234)),),
        copies=(
            Transfer(
                "cancer_mlp/config.pbtxt",
                FileDigest(SHA_A, 56),
                source_key="prefix/releases/r0/cancer_mlp/config.pbtxt",
            ),
        ),
        unchanged=(),
        release_url="s3://127.0.0.1:9000/bucket/prefix/releases/r1",
    )
    return SyncReport(plan=plan, dry_run=False, wrote_manifest=True, elapsed_s=0.98765)


def _release_infos() -> list[ReleaseInfo]:
    return [ReleaseInfo("r1", _release(), ("staging",)), ReleaseInfo("r2", None, ())]


def _gc() -> GcReport:
    return GcReport(
        deleted=("a",),
        kept=("b", "c"),
        protected=("c",),
        deleted_objects=3,
        dry_run=True,
        pinned_by={"c": ("production (previous)",)},
    )


def _level(concurrency: int, p99_ms: float) -> LevelResult:
    return LevelResult(
        concurrency=concurrency,
        batch_size=1,
        requests=200,
        failures=0,
        duration_s=2.0,
        p50_ms=1.23456,
        p90_ms=2.0,
        p95_ms=2.5,
        p99_ms=p99_ms,
        avg_ms=1.5,
        server_queue_ms=0.1,
        server_compute_ms=0.9,
        server_avg_batch=1.0,
        windows=3,
        stable=True,
        client_cpu_fraction=0.25,
    )


def _tune() -> TuneReport:
    bench = BenchReport(
        model="cancer_mlp",
        url="127.0.0.1:8000",
        protocol="http",
        engine="threads",
        batch_size=1,
        window_s=2.0,
        inputs="golden",
        levels=(_level(1, 3.0), _level(32, 30.0)),
    )
    best = Trial(Candidate(True, 100, (4, 8), 2, 0), bench)
    failed = Trial(Candidate(False), None, error="load failed", phase="reference")
    return TuneReport(
        model="cancer_mlp",
        config_path=Path("model_repository/cancer_mlp/config.pbtxt"),
        latency_budget_ms=10.0,
        trials=(best, failed),
        best=best,
        closest=None,
        diff="--- a\n+++ b\n",
        written=True,
        comparisons=(Comparison("chosen", best.candidate.label, 100.0, None),),
        levels=(1, 32),
    )


def _tune_no_winner() -> TuneReport:
    return TuneReport("m", Path("m/config.pbtxt"), None, (), None, None, "")


def _findings() -> list[Finding]:
    return [
        Finding("config-syntax", "error", Path("m/config.pbtxt"), 2, "bad", "fix it"),
        Finding("no-golden", "warning", Path("m/1"), None, "no golden.npz", "export again"),
    ]


def _bench() -> BenchReport:
    return BenchReport(
        model="cancer_mlp",
        url="127.0.0.1:8000",
        protocol="grpc",
        engine="threads",
        batch_size=4,
        window_s=2.0,
        inputs="golden",
        levels=(_level(1, 3.0),),
        error="",
        first_failure="",
    )


def _image() -> BuiltImage:
    return BuiltImage("sha256:" + SHA_A, ("triton:dev",), "Dockerfile.triton", (("A", "1"),))


def _diff() -> ReleaseDiff:
    return ReleaseDiff(
        old_id="r0",
        new_id="r1",
        against="staging",
        models=(
            ModelChange("cancer_mlp", "changed", versions_added=(2,), versions_removed=(1,)),
            ModelChange("digits_cnn", "added", versions_added=(1,), identities={"1": SHA_A}),
        ),
        unchanged_models=("other",),
        old_unit=SHA_B,
    )


def _deploy(dry_run: bool = False) -> DeployReport:
    return DeployReport(
        environment="staging",
        release_id="r1",
        namespace="models",
        model_repository="s3://127.0.0.1:9000/bucket/prefix/releases/r1",
        previous_release_id="r0",
        commands=("kubectl apply -f -", "kubectl rollout status deployment/triton"),
        rendered="kind: Deployment\n",
        checked=("triton-abc",),
        dry_run=dry_run,
        notes=("smoke passed",),
        unit=SHA_A,
        previous_unit=None,
    )


def _promote() -> PromoteReport:
    return PromoteReport(
        store_url="s3://bucket/prefix",
        source="staging",
        target="production",
        release_id="r1",
        outcome="promoted",
        record_key="prefix/gates/r1/staging.json",
        forced=False,
        deploy=_deploy(),
        target_checked=True,
    )


def _gate() -> GateResult:
    record = GateRecord(
        key="prefix/gates/r1/staging.json",
        release_id="r1",
        environment="staging",
        passed=False,
        forced=False,
        created="2026-12-07T00:00:00Z",
        body={"release": "r1", "passed": False, "checks": [{"name": "p99", "passed": False}]},
    )
    checks = (GateCheck("p99", False, "cancer_mlp", "1", 32, 12.345678, 10.0, "over"),)
    return GateResult(False, "staging", "r1", "r0", checks, record)


def _status() -> EnvironmentStatus:
    return EnvironmentStatus(
        environment="staging",
        namespace="models",
        pointer_release="r1",
        previous_release="r0",
        template_release="r1",
        rollout=Rollout("complete", 2, 2, 2, 2, ""),
        pods=(Pod("triton-abc", True, "r1", "Running", 0, ()),),
        models=(PodModels("triton-abc", "r1", ("cancer_mlp/1",), (), ("extra/1",)),),
        drift=("triton-abc serves extra/1",),
        pointer_unit=SHA_A,
        previous_unit=None,
        template_unit=SHA_A,
    )


GOLDEN = Path(__file__).resolve().parents[1] / "assets" / "json_forms"

# Each result (or list of results) a command prints, by the name of its golden file.
RESULTS: dict[str, Callable[[], JsonOutput]] = {
    "serve": _serve,
    "smoke": _smoke,
    "infer": _infer,
    "swap": _swap,
    "swap_unchanged": _swap_unchanged,
    "publish": _publish,
    "publish_unchanged": lambda: _publish("unchanged"),
    "publish_update_config": _publish_update_config,
    "publish_comment_kept": _publish_comment_kept,
    "publish_exports": _exports,
    "list": _listings,
    "sync": _sync,
    "releases_list": _release_infos,
    "releases_gc": _gc,
    "tune": _tune,
    "tune_no_winner": _tune_no_winner,
    # Types that had their own as_dict() before the converters moved.
    "validate": _findings,
    "bench": _bench,
    "image": _image,
    "releases_diff": _diff,
    "deploy": _deploy,
    "deploy_dry_run": lambda: _deploy(dry_run=True),
    "promote": _promote,
    "gate": _gate,
    "status": _status,
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_json_line_is_byte_for_byte_the_golden_one(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    echo_json(RESULTS[name]())
    assert capsys.readouterr().out == (GOLDEN / f"{name}.json").read_text(encoding="utf-8")


def test_every_golden_file_has_a_result() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.json")) == sorted(RESULTS)


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_the_json_form_is_the_types_own_as_dict_and_plain_data(name: str) -> None:
    built = RESULTS[name]()
    results = built if isinstance(built, list) else [built]
    for result in results:
        assert "as_dict" in type(result).__dict__, f"{type(result).__name__} has no as_dict()"
        # Plain JSON-ready data: serializable without any hook, and unchanged by a round trip
        # (no tuples, paths or numpy values left inside).
        assert isinstance(result, SupportsAsDict)
        data = result.as_dict()
        assert json.loads(json.dumps(data)) == data
