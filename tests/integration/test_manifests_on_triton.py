"""The production overlay's container, run by the local Triton against a release in S3.

No cluster runs here, so this gets as close as the machine allows: the rendered
production Deployment's container ``command``/``args`` (``$(VAR)`` expanded from its
``env`` as the kubelet does), its ``env``, ports and probes are taken from the manifest
and run as they are. The only substitutions, each standing in for what a pod has:

- ``--backend-directory`` is added: the CPU stand-in backend instead of the image's own;
- the ports 8000/8001/8002 become free ones (here and in the probes that name them);
- ``MODEL_REPOSITORY`` is the release in the moto S3 server
  (``s3://127.0.0.1:PORT/bucket/...``, what ``deploy`` writes), and
  ``TRITON_AWS_MOUNT_DIRECTORY`` a temporary folder (the emptyDir);
- the S3 server's keys are in the environment (the optional Secret; IRSA in a cluster);
- the startup probe's script path is this checkout's file (the image's copy of it), run
  by the machine's ``/usr/bin/python3`` with a bare PATH: the standard library only, as
  in the image.

Releases are published with ``--instance-kind KIND_CPU``: ``KIND_GPU`` cannot load on a
CPU in ``--model-control-mode=none`` (there is no load API call to override it).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from orchestrator.core.model_config import load_config, render_config, with_cpu_instances
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import open_store
from orchestrator.releases.sync import sync_release
from orchestrator.repository.generate import GenerationOptions
from orchestrator.repository.layout import version_manifest, write_manifest
from orchestrator.repository.publish import publish
from orchestrator.serving import golden_probe
from orchestrator.serving.triton import TritonInstall, assemble_backend_dir, free_port
from rehearsal.s3_server import S3Server
from tests.manifests.manifests import K8S, ROOT, container_port, find, render
from tests.support.onnx_models import affine_model, make_bundle
from training.bundle import write_bundle

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

PROBE_IN_IMAGE = "/opt/triton-orchestrator/golden_probe"
SYSTEM_PYTHON = Path("/usr/bin/python3")


@dataclass
class Pod:
    """One 'pod': the running tritonserver with the manifest's settings."""

    process: subprocess.Popen[bytes]
    started: float
    ports: dict[int, int]  # manifest port -> local port
    container: dict[str, Any]
    grace_s: int
    env: dict[str, str]
    log: Path

    @property
    def http(self) -> str:
        return f"127.0.0.1:{self.ports[8000]}"

    def probe_command(self) -> list[str]:
        command = list(self.container["startupProbe"]["exec"]["command"])
        assert command[:2] == ["python3", PROBE_IN_IMAGE]
        command[:2] = [str(SYSTEM_PYTHON), str(ROOT / "orchestrator/serving/golden_probe")]
        return [_local_ports(part, self.ports) for part in command]

    def run_startup_probe(self) -> subprocess.CompletedProcess[str]:
        """The exec probe as the kubelet runs it: the command, its timeout, the pod's env."""
        probe_env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}
        probe_env["PATH"] = "/usr/bin:/bin"
        # The pod's /tmp is an emptyDir of its own: the probe records its progress there.
        probe_env["TMPDIR"] = str(self.log.with_suffix(".tmp"))
        Path(probe_env["TMPDIR"]).mkdir(exist_ok=True)
        return subprocess.run(
            self.probe_command(),
            env=probe_env,
            capture_output=True,
            text=True,
            timeout=self.container["startupProbe"]["timeoutSeconds"],
            check=False,
        )

    def http_probe(self, name: str) -> int | None:
        get = self.container[name]["httpGet"]
        port = self.ports[container_port(self.container, get["port"])]
        return _get(port, get["path"], float(self.container[name]["timeoutSeconds"]))

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _get(port: int, path: str, timeout_s: float) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def _local_ports(argument: str, ports: dict[int, int]) -> str:
    for production, local in ports.items():
        argument = re.sub(rf"(?<![0-9]){production}(?![0-9])", str(local), argument)
    return argument


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    objects = render(K8S / "overlays" / "production")
    pod = find(objects, "Deployment", "triton")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return {"container": container, "grace_s": pod["terminationGracePeriodSeconds"]}


def startup_budget_s(container: dict[str, Any]) -> int:
    probe = container["startupProbe"]
    return int(
        probe.get("initialDelaySeconds", 0) + probe["failureThreshold"] * probe["periodSeconds"]
    )


@pytest.fixture
def start_pod(
    tritonserver: TritonInstall,
    production: dict[str, Any],
    s3_server: S3Server,
    tmp_path: Path,
) -> Iterator[Any]:
    pods: list[Pod] = []
    backends = assemble_backend_dir(tritonserver, tmp_path / "work")

    def start(model_repository: str) -> Pod:
        container = production["container"]
        env = {e["name"]: e["value"] for e in container["env"]}
        env["MODEL_REPOSITORY"] = model_repository
        env["TRITON_AWS_MOUNT_DIRECTORY"] = str(tmp_path / f"release-copy-{len(pods)}")
        env["TRITON_GCS_MOUNT_DIRECTORY"] = env["TRITON_AWS_MOUNT_DIRECTORY"]
        Path(env["TRITON_AWS_MOUNT_DIRECTORY"]).mkdir()  # the emptyDir's mount point
        env.update(s3_server.credentials_env())
        ports = {p["containerPort"]: free_port() for p in container["ports"]}
        args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in container["args"]]
        assert container["command"] == ["tritonserver"]
        command = [
            str(tritonserver.binary),
            *(_local_ports(a, ports) for a in args),
            f"--backend-directory={backends}",
        ]
        process_env = {
            **os.environ,
            **env,
            # The python backend stub imports onnxruntime from the first python3 on PATH.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "LD_LIBRARY_PATH": os.pathsep.join(str(d) for d in tritonserver.library_dirs),
        }
        log = tmp_path / f"pod-{len(pods)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=process_env,
                start_new_session=True,
            )
        pod = Pod(process, time.monotonic(), ports, container, production["grace_s"], env, log)
        pods.append(pod)
        return pod

    yield start
    for pod in pods:
        pod.stop()


def _wait_ready(pod: Pod, deadline_s: float) -> float:
    """Seconds from process start to /v2/health/ready (the readiness probe's answer)."""
    while time.monotonic() - pod.started < deadline_s:
        if pod.process.poll() is not None:
            pytest.fail(f"tritonserver exited with {pod.process.returncode}:\n{pod.log_tail()}")
        if pod.http_probe("readinessProbe") == 200:
            return time.monotonic() - pod.started
        time.sleep(0.1)
    pytest.fail(f"not ready within {deadline_s} s:\n{pod.log_tail()}")


def _wait_until_read(connection: socket.socket, server_port: int, timeout_s: float = 30) -> None:
    """Until the server has read all that ``connection`` sent: its end of the connection
    has an empty receive queue (``rx_queue`` in /proc/net/tcp, proc(5))."""
    # 127.0.0.1 as /proc/net/tcp writes it (the address's bytes in host order), then the port
    client, server = (f"0100007F:{port:04X}" for port in (connection.getsockname()[1], server_port))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == (server, client) and fields[4].endswith(":00000000"):
                return
        time.sleep(0.01)
    pytest.fail(f"Triton did not read the request's first bytes within {timeout_s} s")


def _wait_in_log(pod: Pod, text: str, timeout_s: float = 30) -> None:
    """Until ``text`` is in the pod's log (Triton's own account of what it is doing)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in pod.log.read_text(errors="replace"):
            return
        time.sleep(0.01)
    pytest.fail(f"{text!r} not in the log within {timeout_s} s:\n{pod.log_tail()}")


def _release_url(
    repository: Path, s3_server: S3Server, bucket: str, *, validate: bool = True
) -> str:
    store = open_store(f"s3://{bucket}/prod", endpoint_url=s3_server.endpoint_url)
    release = build_release(repository, validate=None if validate else lambda _root: [])
    sync_release(release, store)
    host = s3_server.endpoint_url.removeprefix("http://")
    return f"s3://{host}/{bucket}/prod/{release_prefix(release.id)}".rstrip("/")


def _published(tmp_path: Path, names: tuple[str, ...]) -> Path:
    repository = tmp_path / "repository"
    for name in names:
        bundle = make_bundle(tmp_path / f"bundle-{name}", name=name)
        publish(bundle, repository, options=GenerationOptions(instance_kind="KIND_CPU"))
    return repository


def _replace_model(version_folder: Path, model_bytes: bytes) -> None:
    (version_folder / "model.onnx").write_bytes(model_bytes)
    write_manifest(version_folder, version_manifest(version_folder))


def _other_weights(version_folder: Path) -> bytes:
    model = onnx.load(version_folder / "model.onnx")
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == "two":
            model.graph.initializer[index].CopyFrom(
                numpy_helper.from_array(np.array(2.5, dtype=np.float32), "two")
            )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_production_container_serves_a_good_release_and_drains_on_sigterm(
    start_pod: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    repository = _published(tmp_path, ("alpha", "beta"))
    pod = start_pod(_release_url(repository, s3_server, s3_bucket))
    budget = startup_budget_s(pod.container)
    ready_s = _wait_ready(pod, budget)
    probe = pod.run_startup_probe()
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["golden", "probe:", "ok", "alpha/1", "beta/1"]
    assert time.monotonic() - pod.started < budget
    logger.info("good release: ready after %.1f s", ready_s)
    # The probe found Triton's copies under TRITON_AWS_MOUNT_DIRECTORY: one mkdtemp
    # folder per model.
    copies = sorted(Path(pod.env["TRITON_AWS_MOUNT_DIRECTORY"]).iterdir())
    assert len(copies) == 2 and all(re.fullmatch(r"folder\w{6}", c.name) for c in copies)
    model_dir = golden_probe.find_model_dirs(pod.env)
    assert {model_dir("alpha"), model_dir("beta")} == set(copies)
    # Readiness and liveness answer on the manifest's paths and port; metrics on its port.
    assert pod.http_probe("readinessProbe") == 200
    assert pod.http_probe("livenessProbe") == 200
    assert _get(pod.ports[8002], "/metrics", 5) == 200
    # The post-rollout smoke (deploy's call) through the "Service", with local files.
    report = golden_probe.probe(pod.http, repository, timeout_s=30)
    assert (report.ok, report.checked, report.failures) == (True, ("alpha/1", "beta/1"), ())

    # A request in flight when SIGTERM arrives (its body still being sent) is answered,
    # and the process exits within the grace period left after the preStop pause.
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    ).encode()
    connection = socket.create_connection(("127.0.0.1", pod.ports[8000]), timeout=60)
    connection.sendall(
        b"POST /v2/models/alpha/infer HTTP/1.1\r\nHost: triton\r\n"
        b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    _wait_until_read(connection, pod.ports[8000])  # the request is in Triton's hands
    pod.process.send_signal(signal.SIGTERM)
    terminated = time.monotonic()
    _wait_in_log(pod, "Signal (15) received")  # Triton is shutting down, the request open
    connection.sendall(body[10:])
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
        chunk = connection.recv(65536)
        if not chunk:
            break
        answer += chunk
    connection.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    outputs = {o["name"]: o["data"] for o in json.loads(answer.split(b"\r\n\r\n", 1)[1])["outputs"]}
    assert outputs["y"] == [3.0, 5.0, 7.0, 9.0]
    pause = pod.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    returncode = pod.process.wait(timeout=pod.grace_s - pause)
    exit_s = time.monotonic() - terminated
    logger.info("SIGTERM to exit: %.1f s (rc %d)", exit_s, returncode)
    assert returncode == 0, pod.log_tail()


def test_a_release_that_answers_wrongly_never_passes_the_startup_probe(
    start_pod: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    repository = _published(tmp_path, ("alpha", "beta"))
    _replace_model(repository / "beta" / "1", _other_weights(repository / "beta" / "1"))
    pod = start_pod(_release_url(repository, s3_server, s3_bucket))
    _wait_ready(pod, startup_budget_s(pod.container))
    # Triton itself is ready, so plain HTTP probes would let traffic in; the exec probe
    # does not, however often the kubelet runs it.
    assert pod.http_probe("readinessProbe") == 200
    for _ in range(3):
        probe = pod.run_startup_probe()
        assert probe.returncode == 1
        assert "golden probe: FAILED beta/1: output 'y'[0] is 3.5, expected 3.0" in probe.stderr
        assert "alpha/1" not in probe.stderr


def test_a_release_with_one_broken_model_makes_triton_exit_non_zero(
    start_pod: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    repository = _published(tmp_path, ("alpha", "beta"))
    _replace_model(repository / "beta" / "1", b"not an onnx graph")
    # `release` refuses this (validation); it stands for what only the load finds, such
    # as a GPU that cannot hold the model, so the validator is left out here.
    pod = start_pod(_release_url(repository, s3_server, s3_bucket, validate=False))
    budget = startup_budget_s(pod.container)
    while pod.process.poll() is None and time.monotonic() - pod.started < budget:
        assert pod.http_probe("readinessProbe") != 200
        time.sleep(0.2)
    assert pod.process.returncode not in (None, 0), pod.log_tail()
    assert "failed to load all models" in pod.log_tail()
    log = pod.log.read_text(errors="replace")
    assert re.search(r"failed to load 'beta' version 1", log), log[-3000:]


def test_shipped_repository_release_starts_within_the_startup_budget(
    start_pod: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """MEASURED: process start to ready, and to the startup probe's pass (see README)."""
    repository = tmp_path / "shipped"
    for model in sorted(p for p in (ROOT / "model_repository").iterdir() if p.is_dir()):
        target = repository / model.name
        for version in (v for v in model.iterdir() if v.is_dir()):
            (target / version.name).mkdir(parents=True)
            for file in version.iterdir():
                (target / version.name / file.name).write_bytes(file.read_bytes())
        cpu = with_cpu_instances(load_config(model / "config.pbtxt"))
        (target / "config.pbtxt").write_text(render_config(cpu))
    pod = start_pod(_release_url(repository, s3_server, s3_bucket))
    budget = startup_budget_s(pod.container)
    ready: list[float] = []
    watcher = threading.Thread(target=lambda: ready.append(_wait_ready(pod, budget)))
    watcher.start()
    # The kubelet's schedule: a run every periodSeconds from the start (no initial delay),
    # the container killed after failureThreshold failures in a row.
    spec = pod.container["startupProbe"]
    failures = 0
    while True:
        tick = time.monotonic()
        probe = pod.run_startup_probe()
        if probe.returncode == 0:
            break
        failures += 1
        assert failures < spec["failureThreshold"], probe.stderr
        time.sleep(max(0.0, spec["periodSeconds"] - (time.monotonic() - tick)))
    probe_s = time.monotonic() - pod.started
    watcher.join()
    assert probe.stdout.split()[3:] == ["cancer_mlp/1", "digits_cnn/1"]
    print(  # noqa: T201 - the measurement the README's startup budget quotes
        f"\nshipped release from S3: ready {ready[0]:.1f} s, startup probe passed "
        f"{probe_s:.1f} s after {failures} failed run(s)"
    )
    assert probe_s < budget


def test_a_release_of_20_models_with_1mib_golden_inputs_passes_the_startup_probe(
    start_pod: Any, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """MEASURED (issue 19.5): each run checks what its budget allows, the next resumes."""
    features = 1 << 17  # 2 rows x 131072 float32 = 1 MiB of golden input per model
    x = np.random.default_rng(0).normal(size=(2, features)).astype(np.float32)
    repository = tmp_path / "repository"
    for index in range(20):
        name = f"wide{index:02d}"
        bundle = tmp_path / f"bundle-{name}"
        write_bundle(
            bundle,
            onnx_bytes=affine_model(features).SerializeToString(),
            golden_inputs={"x": x},
            golden_outputs={"y": x * 2 + 1},
            metadata={"model_name": name, "signature": {}},
        )
        publish(bundle, repository, options=GenerationOptions(instance_kind="KIND_CPU"))
    assert (repository / "wide00" / "1" / "golden.npz").stat().st_size > 2 << 20
    pod = start_pod(_release_url(repository, s3_server, s3_bucket))
    budget = startup_budget_s(pod.container)
    spec = pod.container["startupProbe"]
    runs: list[float] = []
    while True:  # the kubelet's schedule, as in the shipped-release test
        tick = time.monotonic()
        probe = pod.run_startup_probe()
        runs.append(time.monotonic() - tick)
        assert "Traceback" not in probe.stderr, probe.stderr
        if probe.returncode == 0:
            break
        assert len(runs) < spec["failureThreshold"], probe.stderr
        time.sleep(max(0.0, spec["periodSeconds"] - (time.monotonic() - tick)))
    passed_s = time.monotonic() - pod.started
    assert len(probe.stdout.split()[3:]) == 20
    assert max(runs) < spec["timeoutSeconds"]
    print(  # noqa: T201 - the measurement the report quotes
        f"\n20 models x 1 MiB golden: startup probe passed {passed_s:.1f} s after start, "
        f"{len(runs)} run(s) of at most {max(runs):.1f} s (timeoutSeconds "
        f"{spec['timeoutSeconds']}), budget {budget} s"
    )
    assert passed_s < budget
