"""orchestrator gate against a real Triton: a pass, and a failure on each budget.

Triton is real (the session server, or one serving a release folder for the
port-forward test) and so are the golden probe, the load (bench) and Triton's own
counters on its metrics port; kubectl is the recording runner (the one fake of
Kubernetes). Every gate run writes a record beside the release in the store; a failing
one never replaces the records written before it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import struct
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from onnx import TensorProto

from orchestrator.cli import cli
from orchestrator.core.golden import golden_path, write_golden
from orchestrator.deploy import gate_config
from orchestrator.deploy.gate_baseline import find_baseline
from orchestrator.deploy.gate_identity import identity_of
from orchestrator.deploy.unit import store_unit
from orchestrator.releases.environments import set_environment
from orchestrator.releases.gate_records import gate_records, write_gate_record
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import Store, open_store
from orchestrator.releases.sync import sync_release
from orchestrator.serving.triton import ServerOptions, TritonServer, load_models
from rehearsal.recording import RecordingRunner, pods_json
from tests.conftest import Dest, make_dest
from tests.deploy.conftest import Releases, make_release
from tests.deploy.gates import FAST, gate_args, write_gates
from tests.support.delay_proxy import delaying_proxy
from tests.support.golden_versions import GOLDEN_X, write_affine_version
from tests.support.onnx_models import make_identity_onnx

pytestmark = pytest.mark.integration

NS = "triton-staging"
RENDER = "kubectl kustomize TMP"
PODS = f"kubectl get pods --namespace {NS} --selector app.kubernetes.io/name=triton --output=json"
FORWARD = f"kubectl port-forward --namespace {NS} pod/triton-new PORT:8000 PORT:8002"
MEASURED = {"golden smoke", "server latency", "p99 latency", "throughput", "failed requests"}
COUNTED = {"failure counter", "queue time"}


def _invoke(runner: RecordingRunner, args: list[str]) -> Result:
    result = CliRunner().invoke(cli, args, obj={"kubectl": runner})
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _direct(server: TritonServer) -> tuple[str, ...]:
    return ("--url", server.http_url, "--metrics-url", server.metrics_address, "--format", "json")


def _write_text_version(repo: Path, name: str) -> None:
    """An Identity on strings: text that is not UTF-8 fails inside the model (the stand-in
    decodes BYTES for ONNX Runtime), and Triton counts it in nv_inference_request_failure."""
    folder = repo / name / "1"
    make_identity_onnx(folder / "model.onnx", [("t", "u", TensorProto.STRING, ["N", 1])])
    text = np.array([[b"ok"], [b"fine"]])
    write_golden(golden_path(folder), {"t": text}, {"u": text})
    # No dynamic batching: a failing request runs alone and fails alone.
    (repo / name / "config.pbtxt").write_text(
        f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: 8\n'
        'input [ { name: "t" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
        'output [ { name: "u" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
        "instance_group [ { kind: KIND_GPU count: 1 } ]\n"
    )


# A python-backend model that answers correctly but only after SLOW_S seconds: the golden
# smoke (20 s budget) and bench's first request pass, while no request of the load can
# complete inside a level's windows (0.1 s warm-up + 3 x 0.3 s).
SLOW_S = 2.5
SLOW_MODEL = f"""import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        time.sleep({SLOW_S})
        answers = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            answers.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", x.copy())]))
        return answers
"""


def _write_slow_version(repo: Path, name: str) -> None:
    folder = repo / name / "1"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(SLOW_MODEL)
    write_golden(golden_path(folder), {"x": GOLDEN_X[:1]}, {"y": GOLDEN_X[:1]})
    (repo / name / "config.pbtxt").write_text(
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n"
    )


def _releases(
    tmp_path: Path, model: str, *, kind: str = "good", dest: Dest | None = None
) -> Releases:
    """``old`` (another model) and ``new`` serving ``model``; staging runs new, replacing old.

    In a file:// store, or in ``dest``; ``tmp_path / "new"`` holds the new release's files.
    """
    url = dest.url if dest is not None else (tmp_path / "store").as_uri()
    store = open_store(url, endpoint_url=dest.endpoint_url if dest is not None else None)
    old = make_release(tmp_path / "old", store, f"{model}_old")
    repo = tmp_path / "new"
    if kind == "wrong":
        # Loads and answers, but y = 2x + 1.5 where its golden data says 2x + 1.
        write_affine_version(repo, model, 1, offset=1.5, golden=False)
        expected = {"y": GOLDEN_X * 2 + 1, "s": GOLDEN_X.sum(axis=1, keepdims=True)}
        write_golden(golden_path(repo / model / "1"), {"x": GOLDEN_X}, expected)
    elif kind == "text":
        _write_text_version(repo, model)
    elif kind == "slow":
        _write_slow_version(repo, model)
    else:
        write_affine_version(repo, model, 1)
    release = build_release(repo)
    sync_release(release, store)
    set_environment(store, "staging", old)
    set_environment(store, "staging", release.id, expected_release_id=old)
    return Releases(url, store, old, release.id)


def _serve(server: TritonServer, triton_repo: Path, tmp_path: Path, model: str) -> None:
    """Serve the new release's ``model`` (its files, as synced) on the session server."""
    shutil.copytree(tmp_path / "new" / model, triton_repo / model)
    states = load_models(server.http_url, triton_repo, [model], cpu_override=True)
    assert {s.state for s in states} == {"READY"}, states


def _baseline(releases: Releases, model: str, throughput: float) -> str:
    """A passing record of the replaced release that measured ``throughput`` at concurrency 1."""
    levels = [{"concurrency": 1, "throughput_per_s": throughput}]
    body = {"passed": True, "bench": {model: {"levels": levels}}}
    return write_gate_record(releases.store, releases.old, "staging", body).key


def _failed(body: dict[str, object]) -> set[str]:
    checks = body["checks"]
    assert isinstance(checks, list)
    return {c["name"] for c in checks if not c["passed"]}


@pytest.mark.parametrize("store_kind", ["file", "s3"])
def test_a_passing_gate_writes_a_passing_record(
    triton_server: TritonServer,
    triton_repo: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    store_kind: str,
) -> None:
    dest = make_dest(store_kind, request, tmp_path)
    model = f"gate_pass_{store_kind}"
    releases = _releases(tmp_path, model, dest=dest)
    _serve(triton_server, triton_repo, tmp_path, model)
    baseline = _baseline(releases, model, 1.0)
    runner = RecordingRunner()
    endpoint = ("--endpoint-url", dest.endpoint_url) if dest.endpoint_url else ()

    result = _invoke(
        runner,
        gate_args(releases.url, write_gates(tmp_path), *endpoint, *_direct(triton_server)),
    )

    assert result.exit_code == 0, result.output
    assert runner.calls == []
    body = json.loads(result.stdout)
    assert body["passed"] is True
    assert (body["release"], body["replaced_release"]) == (releases.new, releases.old)
    assert body["baseline_record"] == baseline
    assert {c["name"] for c in body["checks"]} == MEASURED | COUNTED
    assert all(c["passed"] for c in body["checks"])
    assert body["smoke"] == {"ok": True, "checked": [f"{model}/1"], "failures": []}
    throughput = next(c for c in body["checks"] if c["name"] == "throughput")
    assert throughput["budget"] == 0.8 and throughput["measured"] > 0.8
    assert f"measured by release {releases.old}" in throughput["detail"]
    level = body["bench"][model]["levels"][0]
    assert level["concurrency"] == 1 and level["failures"] == 0
    counters = body["metrics"][f"{model}/1"]
    # Triton counted the load (and bench's first request and warm-up) and no failure.
    assert counters["success"] >= level["requests"] and counters["failure"] == 0
    assert body["gates"]["text"] == FAST
    assert body["gates"]["budgets"][model]["concurrency"] == [1]
    records = gate_records(releases.store, releases.new, "staging")
    assert [(r.key, r.passed) for r in records] == [(body["key"], True)]
    stored = dict(records[0].body)
    assert stored == {k: v for k, v in body.items() if k != "key"}


def test_a_p99_over_budget_fails_and_keeps_the_earlier_records(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_p99")
    _serve(triton_server, triton_repo, tmp_path, "gate_p99")
    earlier = write_gate_record(releases.store, releases.new, "staging", {"passed": True})
    gates = write_gates(tmp_path, FAST + "  p99_ms: 0.001\n")

    result = _invoke(RecordingRunner(), gate_args(releases.url, gates, *_direct(triton_server)))

    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["passed"] is False
    assert _failed(body) == {"p99 latency"}
    p99 = next(c for c in body["checks"] if c["name"] == "p99 latency")
    assert p99["budget"] == 0.001 and p99["measured"] > 0.001
    # The throughput check has no baseline: reported, not failed.
    throughput = next(c for c in body["checks"] if c["name"] == "throughput")
    assert throughput["passed"] and "no baseline: the replaced release" in throughput["detail"]
    records = gate_records(releases.store, releases.new, "staging")
    assert [(r.key, r.passed) for r in records] == [(earlier.key, True), (body["key"], False)]
    assert records[0].body == earlier.body


def test_a_throughput_below_the_replaced_release_fails(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_slow")
    _serve(triton_server, triton_repo, tmp_path, "gate_slow")
    baseline = _baseline(releases, "gate_slow", 1e9)

    result = _invoke(
        RecordingRunner(), gate_args(releases.url, write_gates(tmp_path), *_direct(triton_server))
    )

    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert _failed(body) == {"throughput"}
    throughput = next(c for c in body["checks"] if c["name"] == "throughput")
    assert throughput["budget"] == 0.8e9
    # Measured 4 times (throughput_attempts) before it failed, and it says so; the record
    # keeps every measurement.
    assert "; confirmed by 4 measurements: " in throughput["detail"]
    confirmations = body["bench"]["gate_slow"]["confirmations"]
    assert [[level["concurrency"] for level in c["levels"]] for c in confirmations] == [[1]] * 3
    assert body["bench"]["gate_slow"]["confirmation"] == confirmations[0]
    assert body["baseline_record"] == baseline
    assert [r.passed for r in gate_records(releases.store, releases.new, "staging")] == [False]
    # The baseline (the replaced release's record) is untouched.
    assert [r.key for r in gate_records(releases.store, releases.old, "staging")] == [baseline]


def test_wrong_golden_answers_fail_the_gate_before_any_load(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_wrong", kind="wrong")
    _serve(triton_server, triton_repo, tmp_path, "gate_wrong")
    earlier = write_gate_record(releases.store, releases.new, "staging", {"passed": False})

    result = _invoke(
        RecordingRunner(),
        gate_args(
            releases.url,
            write_gates(tmp_path),
            *_direct(triton_server)[:-2],
            "--format",
            "markdown",
        ),
    )

    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(
        f"### Gate: staging FAILED\n\n- release: `{releases.new}`\n"
        f"- replaces: `{releases.old}`\n- golden smoke: FAILED: gate_wrong/1: output 'y'"
    )
    assert "| golden smoke | release | 1 | - | **FAIL** | gate_wrong/1: output 'y'" in result.stdout
    assert "the load and the counters were skipped" in result.stdout
    records = gate_records(releases.store, releases.new, "staging")
    assert [r.key for r in records][0] == earlier.key and len(records) == 2
    assert records[1].body["bench"] == {} and records[1].body["smoke"]["ok"] is False


def _send_failing_requests(url: str, model: str, stop: threading.Event) -> None:
    """Another client's requests that fail inside the model (text that is not UTF-8)."""
    host, port = url.rsplit(":", 1)
    blob = struct.pack("<I", 2) + b"\xff\xfe"
    tensor = {"name": "t", "shape": [1, 1], "datatype": "BYTES"}
    parameters = {"binary_data_size": len(blob)}
    head = json.dumps({"inputs": [{**tensor, "parameters": parameters}]}).encode()
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(head)),
    }
    while not stop.wait(0.05):
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            connection.request("POST", f"/v2/models/{model}/infer", head + blob, headers)
            assert connection.getresponse().status == 500
        finally:
            connection.close()


def test_failures_counted_by_triton_fail_the_gate(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_fails", kind="text")
    _serve(triton_server, triton_repo, tmp_path, "gate_fails")
    stop = threading.Event()
    thread = threading.Thread(
        target=_send_failing_requests, args=(triton_server.http_url, "gate_fails", stop)
    )
    thread.start()
    try:
        result = _invoke(
            RecordingRunner(),
            gate_args(releases.url, write_gates(tmp_path), *_direct(triton_server)),
        )
    finally:
        stop.set()
        thread.join()

    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    # The load itself saw no failure: only Triton's counter tells.
    assert _failed(body) == {"failure counter"}
    counter = next(c for c in body["checks"] if c["name"] == "failure counter")
    assert counter["measured"] >= 1 and counter["budget"] == 0
    assert body["metrics"]["gate_fails/1"]["failure"] == counter["measured"]
    assert [r.passed for r in gate_records(releases.store, releases.new, "staging")] == [False]


def test_the_gate_reaches_triton_through_one_port_forward_of_both_ports(
    serve_stored_release: Callable[[Store, str, str], TritonServer], tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_forward")
    server = serve_stored_release(releases.store, releases.new, "gate_forward")
    runner = RecordingRunner(
        {"get pods": [(0, pods_json(("triton-new", releases.new, True, None, 0)))]},
        forward_to={8000: server.http_url, 8002: server.metrics_address},
    )

    result = _invoke(runner, gate_args(releases.url, write_gates(tmp_path)))

    assert result.exit_code == 0, result.output
    assert runner.lines == [RENDER, PODS, FORWARD]
    assert result.stdout.startswith(
        f"environment  staging\nrelease      {releases.new}\nreplaces     {releases.old}\n"
        "smoke        ok (gate_forward/1)\n"
    )
    assert "gate         PASSED (record gates/" in result.stdout
    assert (
        f"Note: No throughput baseline: the replaced release {releases.old} has no passing "
        "measured gate record in staging; the throughput checks pass.\n"
    ) in result.stderr
    assert f"Note: Measured through kubectl port-forward pod/triton-new 8000 8002 in {NS}." in (
        result.stderr
    )
    # Progress: a line per measured level, so a long load is never silent.
    assert re.search(
        r"^  gate_forward at concurrency 1: [\d,]+ infer/s, p99 [\d.]+ ms, \d+ requests completed$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    records = gate_records(releases.store, releases.new, "staging")
    assert [r.passed for r in records] == [True]
    assert records[0].body["metrics"]["gate_forward/1"]["failure"] == 0


class _KillAfterFirstLevel(logging.Handler):
    """SIGKILLs the server when bench logs its first finished level."""

    def __init__(self, server: TritonServer) -> None:
        super().__init__(logging.INFO)
        self.server, self.sent = server, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.sent and record.getMessage().startswith("concurrency 1:"):
            assert self.server.pid is not None
            os.kill(self.server.pid, signal.SIGKILL)
            self.sent = True


@pytest.mark.timeout(120)
def test_a_server_that_dies_during_the_load_fails_the_gate_with_the_load_error(
    tritonserver, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_gone")
    folder = Path(releases.store.url.removeprefix("file://")) / release_prefix(releases.new)
    server = TritonServer(ServerOptions(folder, workdir=tmp_path / "triton", stop_timeout_s=20))
    handler = _KillAfterFirstLevel(server)
    logger = logging.getLogger("orchestrator.performance.bench")
    previous = logger.level
    gates = write_gates(tmp_path, FAST.replace("[1]", "[1, 4]"))
    with server:
        load_models(server.http_url, folder, ["gate_gone"], cpu_override=True)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            result = _invoke(RecordingRunner(), gate_args(releases.url, gates, *_direct(server)))
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous)

    assert handler.sent
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert _failed(body) == {"load", "metrics"}
    load = next(c for c in body["checks"] if c["name"] == "load")
    assert load["model"] == "gate_gone"
    assert load["detail"].startswith("Stopped at concurrency 4: ")
    # The level measured before the server died is kept, and checked.
    assert [level["concurrency"] for level in body["bench"]["gate_gone"]["levels"]] == [1]
    assert "p99 latency" in {c["name"] for c in body["checks"]}
    assert [r.passed for r in gate_records(releases.store, releases.new, "staging")] == [False]


@pytest.mark.timeout(180)
def test_a_release_too_slow_to_complete_a_request_fails_with_nothing_measured(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_sleepy", kind="slow")
    _serve(triton_server, triton_repo, tmp_path, "gate_sleepy")

    result = _invoke(
        RecordingRunner(), gate_args(releases.url, write_gates(tmp_path), *_direct(triton_server))
    )

    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["passed"] is False
    assert _failed(body) == {"measured requests"}
    nothing = next(c for c in body["checks"] if c["name"] == "measured requests")
    assert nothing["measured"] == 0 and nothing["budget"] == 10
    assert nothing["detail"].startswith("nothing measured: 0 request(s) completed")
    # No p99 of 0 ms and no throughput of 0 was judged (or passed).
    assert not {"p99 latency", "throughput"} & {c["name"] for c in body["checks"]}
    assert "nothing measured" in result.stderr
    [record] = gate_records(releases.store, releases.new, "staging")
    assert record.passed is False
    # Even written as passing, that measurement is no baseline for the next release.
    write_gate_record(releases.store, releases.new, "staging", {**record.body, "passed": True})
    assert find_baseline(releases.store, releases.new, "staging") is None


@pytest.mark.timeout(180)
def test_a_50_ms_round_trip_to_the_cluster_does_not_change_the_verdict(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    releases = _releases(tmp_path, "gate_far")
    _serve(triton_server, triton_repo, tmp_path, "gate_far")
    # A latency budget a 50 ms round trip alone would break, were it judged at the client.
    gates = write_gates(
        tmp_path,
        "defaults:\n  concurrency: [1]\n  window_s: 0.5\n  warmup_s: 0.1\n  max_server_ms: 40\n",
    )
    metrics = ("--metrics-url", triton_server.metrics_address, "--format", "json")

    near = _invoke(
        RecordingRunner(),
        gate_args(releases.url, gates, "--url", triton_server.http_url, *metrics),
    )
    with delaying_proxy(triton_server.http_url, 0.05) as far_url:
        far = _invoke(RecordingRunner(), gate_args(releases.url, gates, "--url", far_url, *metrics))

    assert (near.exit_code, far.exit_code) == (0, 0), far.output
    near_body, far_body = json.loads(near.stdout), json.loads(far.stdout)
    verdicts = [
        [(c["name"], c["concurrency"], c["passed"]) for c in body["checks"]]
        for body in (near_body, far_body)
    ]
    assert verdicts[0] == verdicts[1]
    assert near_body["passed"] is far_body["passed"] is True

    def check(body: dict[str, object], name: str) -> dict[str, object]:
        checks = body["checks"]
        assert isinstance(checks, list)
        found: dict[str, object] = next(c for c in checks if c["name"] == name)
        return found

    # The delay was there (every request through the proxy took 50 ms more at the client),
    # and the server-side figure the verdict rests on did not see it.
    assert check(far_body, "p99 latency")["measured"] >= 50  # type: ignore[operator]
    assert check(near_body, "p99 latency")["measured"] < 40  # type: ignore[operator]
    assert check(far_body, "server latency")["measured"] < 40  # type: ignore[operator]


# A unit's manifests as the store keeps them (units/<digest>/manifests.yaml); only the pod
# spec counts for the throughput baseline (deploy.gate_identity).
UNIT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: triton
  namespace: triton-staging
spec:
  template:
    metadata:
      annotations:
        triton-orchestrator/release: {release}
    spec:
      containers:
        - name: triton
          env:
            - name: MODEL_REPOSITORY
              value: s3://models/releases/{release}
          resources:
            limits:
              cpu: "{cpu}"
"""


def _stored_unit(store: Store, release: str, cpu: str) -> str:
    text = UNIT.format(release=release, cpu=cpu)
    digest = hashlib.sha256(text.encode()).hexdigest()
    store_unit(store, digest, text)
    return digest


# (what the push changed besides the other model, does the gate pass)
UNCHANGED_CASES = [
    # The model's bytes and the pod spec are what the replaced deployment served: its
    # throughput is measured and recorded, not compared (the old rule failed it: 1e9).
    ("nothing", True),
    # The same bytes on half the CPU: compared, and below the baseline.
    ("cpu", False),
    # Units unknown (a format-1 pointer): nothing can be called unchanged; compared.
    ("no units", False),
]


@pytest.mark.parametrize(("changed", "passes"), UNCHANGED_CASES)
def test_an_unchanged_model_is_not_compared_and_a_cpu_cut_is(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path, changed: str, passes: bool
) -> None:
    tag = changed.replace(" ", "_")
    same, other = f"gate_same_{tag}", f"gate_other_{tag}"
    store = open_store((tmp_path / "store").as_uri())
    for model in (same, other):
        write_affine_version(tmp_path / "old", model, 1)
    old = build_release(tmp_path / "old")
    sync_release(old, store)
    shutil.copytree(tmp_path / "old" / same, tmp_path / "new" / same)  # the same bytes
    write_affine_version(tmp_path / "new", other, 1, offset=1.0 + 2**-4)  # a retrain
    new = build_release(tmp_path / "new")
    sync_release(new, store)
    units = changed != "no units"
    old_unit = _stored_unit(store, old.id, "4") if units else None
    new_unit = _stored_unit(store, new.id, "2" if changed == "cpu" else "4") if units else None
    set_environment(store, "staging", old.id, unit=old_unit)
    set_environment(store, "staging", new.id, expected_release_id=old.id, unit=new_unit)
    # The replaced deployment's gate measured `same` at an impossible 1e9 infer/s.
    identity = identity_of(store, old, old_unit) if units else None
    levels = [{"concurrency": 1, "throughput_per_s": 1e9}]
    body = {"passed": True, "bench": {same: {"levels": levels}, other: {"levels": []}}}
    if identity is not None:
        body["identity"] = identity.as_dict()
    write_gate_record(store, old.id, "staging", body)
    for model in (same, other):
        _serve(triton_server, triton_repo, tmp_path, model)

    result = _invoke(
        RecordingRunner(),
        gate_args((tmp_path / "store").as_uri(), write_gates(tmp_path), *_direct(triton_server)),
    )

    assert result.exit_code == (0 if passes else 1), result.output
    body = json.loads(result.stdout)
    throughput = {c["model"]: c for c in body["checks"] if c["name"] == "throughput"}
    assert throughput[same]["passed"] is passes
    assert throughput[same]["measured"] > 0
    if passes:
        assert throughput[same]["budget"] is None
        assert "unchanged since the baseline" in throughput[same]["detail"]
        assert body["unchanged_models"] == [same]
        assert f"Unchanged since release {old.id}" in " ".join(body["notes"])
    else:
        assert throughput[same]["budget"] == 0.8e9
        assert "; confirmed by " in throughput[same]["detail"]
        assert body["unchanged_models"] == []
    # The record keeps what was measured, so the next gate can tell the same thing apart.
    assert body["identity"] == identity_of(store, new, new_unit).as_dict()


def test_measuring_a_slow_level_again_does_not_spend_the_next_model_s_time_budget(
    triton_server: TritonServer,
    triton_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A time budget of exactly the levels' windows (no per-level or per-model room): the
    # first model's 4 measurements of a level below its floor take longer than that.
    monkeypatch.setattr(gate_config, "_LEVEL_OVERHEAD_S", 0.0)
    monkeypatch.setattr(gate_config, "_MODEL_OVERHEAD_S", 0.0)
    models = ("gate_again_a", "gate_again_b")
    store = open_store((tmp_path / "store").as_uri())
    old = make_release(tmp_path / "old", store, "gate_again_old")
    for model in models:
        write_affine_version(tmp_path / "new", model, 1)
    new = build_release(tmp_path / "new")
    sync_release(new, store)
    set_environment(store, "staging", old)
    set_environment(store, "staging", new.id, expected_release_id=old)
    levels = [{"concurrency": 1, "throughput_per_s": 1e9}]
    bench = {model: {"levels": levels} for model in models}
    write_gate_record(store, old, "staging", {"passed": True, "bench": bench})
    for model in models:
        _serve(triton_server, triton_repo, tmp_path, model)

    result = _invoke(
        RecordingRunner(),
        gate_args((tmp_path / "store").as_uri(), write_gates(tmp_path), *_direct(triton_server)),
    )

    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert _failed(body) == {"throughput"}  # no "time budget": both models were loaded
    assert set(body["bench"]) == set(models)
    for model in models:
        assert len(body["bench"][model]["confirmations"]) == 3
