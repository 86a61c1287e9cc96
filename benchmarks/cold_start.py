"""Cold start of a release from object storage against the same release on local disk.

The shipped repository (``model_repository/``, the selected versions) is built into a
release and synced to a moto S3 server on loopback; the same files also sit in a local
folder. tritonserver then starts with production's flags (``production_args``, through
``local_args``: free ports and the CPU stand-in backend are the only differences) once on
``s3://127.0.0.1:PORT/bucket/releases/<id>`` (Triton copies the release into
``TRITON_AWS_MOUNT_DIRECTORY``, as in a pod) and once on the local folder, alternating,
``--repeats`` times each. Measured from process start: the readiness probe's
``/v2/health/ready`` answering 200, and the startup probe (``golden_probe`` run as the
kubelet runs it: ``/usr/bin/python3``, the standard library, the pod's environment)
passing. A second release adds one incompressible file so that the whole is 1 GiB
(``--large-mib``), to show how the copy scales.

    .venv/bin/python -m benchmarks.cold_start [--repeats 5] [--large-repeats 3]

The configs are served as KIND_CPU (``KIND_GPU`` cannot load on a CPU with
``--model-control-mode=none``): the only change to the shipped files. moto on loopback
stands in for S3 (no network between them): the ratio measures Triton's copy and our
machine, not a cloud's bandwidth.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, alternate, record, workdir
from benchmarks.sync_setup import new_bucket, repository_files, repository_size, s3_server
from orchestrator.core.model_config import load_config, render_config, with_cpu_instances
from orchestrator.releases.manifest import build_release, release_prefix
from orchestrator.releases.stores import open_store
from orchestrator.releases.sync import sync_release
from orchestrator.repository.layout import version_manifest, version_numbers, write_manifest
from orchestrator.serving.triton import (
    TritonInstall,
    assemble_backend_dir,
    find_tritonserver,
    free_port,
)
from orchestrator.serving.triton.flags import local_args

SHIPPED = ROOT / "model_repository"
PROBE = ROOT / "orchestrator" / "serving" / "golden_probe"
SYSTEM_PYTHON = "/usr/bin/python3"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def cpu_copy(destination: Path, large_mib: int = 0) -> Path:
    """The shipped repository with KIND_CPU configs, plus ``large_mib`` MiB in one file."""
    shutil.copytree(SHIPPED, destination)
    for config_path in destination.glob("*/config.pbtxt"):
        config = with_cpu_instances(load_config(config_path))
        config_path.write_text(render_config(config))
    if large_mib:
        model = destination / "digits_cnn"
        folder = model / str(max(version_numbers(model)))
        padding = large_mib * (1 << 20) - repository_size(destination)
        with (folder / "padding.bin").open("wb") as handle:
            while padding > 0:
                chunk = min(padding, 16 << 20)
                handle.write(os.urandom(chunk))
                padding -= chunk
        write_manifest(folder, version_manifest(folder))
    return destination


def publish_release(repository: Path, endpoint_url: str, bucket: str) -> tuple[str, float]:
    """Build and sync a release; its ``s3://host:port/bucket/...`` URL and the sync time."""
    store = open_store(f"s3://{bucket}/prod", endpoint_url=endpoint_url)
    release = build_release(repository)
    started = time.monotonic()
    sync_release(release, store)
    host = endpoint_url.removeprefix("http://")
    url = f"s3://{host}/{bucket}/prod/{release_prefix(release.id)}".rstrip("/")
    return url, time.monotonic() - started


def _ready(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        connection.request("GET", "/v2/health/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_once(
    install: TritonInstall, backends: Path, repository: str, scratch: Path, timeout_s: float
) -> dict[str, Any]:
    """Start tritonserver on ``repository`` with production's flags; time ready and probe."""
    ports = {name: free_port() for name in ("--http-port", "--grpc-port", "--metrics-port")}
    args = local_args(
        repository,
        {name: str(port) for name, port in ports.items()},
        [f"--backend-directory={backends}"],
    )
    mount = scratch / f"mount-{time.monotonic_ns()}"
    mount.mkdir()  # the emptyDir
    pod_env = {
        **CREDENTIALS,
        "MODEL_REPOSITORY": repository,
        "TRITON_AWS_MOUNT_DIRECTORY": str(mount),
    }
    env = {
        **os.environ,
        **pod_env,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "LD_LIBRARY_PATH": os.pathsep.join(str(d) for d in install.library_dirs),
    }
    probe_env = {**{k: v for k, v in pod_env.items() if not k.startswith("AWS_")}}
    probe_env["PATH"] = "/usr/bin:/bin"
    http_port = ports["--http-port"]
    probe = [SYSTEM_PYTHON, str(PROBE), "--url", f"127.0.0.1:{http_port}", "--timeout-s", "8"]
    log = scratch / "tritonserver.log"
    result: dict[str, Any] = {}
    started = time.monotonic()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(install.binary), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        while not _ready(http_port):
            if process.poll() is not None or time.monotonic() - started > timeout_s:
                tail = log.read_text(errors="replace").splitlines()[-15:]
                return {"error": f"not ready (rc {process.poll()})", "log_tail": tail}
            time.sleep(0.02)
        result["ready_s"] = round(time.monotonic() - started, 3)
        for attempt in range(1, 11):
            checked = subprocess.run(
                probe, env=probe_env, capture_output=True, text=True, timeout=10, check=False
            )
            if checked.returncode == 0:
                result["probe_passed_s"] = round(time.monotonic() - started, 3)
                result["probe_attempts"] = attempt
                result["probe_output"] = checked.stdout.strip()
                break
            result["probe_error"] = checked.stderr.strip()[-300:]
        result["copied_bytes"] = sum(p.stat().st_size for p in mount.rglob("*") if p.is_file())
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(mount, ignore_errors=True)
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if key in run]
    return round(float(statistics.median(values)), 3) if values else None


def compare(
    install: TritonInstall,
    backends: Path,
    local: Path,
    s3_url: str,
    scratch: Path,
    repeats: int,
    timeout_s: float,
) -> dict[str, Any]:
    """S3 and local disk alternating; medians, ratios and every run."""
    runs = alternate(
        repeats,
        {
            "s3": lambda: start_once(install, backends, s3_url, scratch, timeout_s),
            "local_disk": lambda: start_once(install, backends, str(local), scratch, timeout_s),
        },
    )
    for where, measured in runs.items():
        for run in measured:
            print(where, {k: v for k, v in run.items() if k != "probe_output"}, flush=True)
    summary: dict[str, Any] = {
        "files": len(repository_files(local)),
        "bytes": repository_size(local),
    }
    for where, measured in runs.items():
        summary[where] = {
            "ready_s_median": _median(measured, "ready_s"),
            "probe_passed_s_median": _median(measured, "probe_passed_s"),
            "failed_runs": sum(1 for run in measured if "probe_passed_s" not in run),
            "runs": measured,
        }
    for key in ("ready_s_median", "probe_passed_s_median"):
        s3, disk = summary["s3"][key], summary["local_disk"][key]
        summary[f"ratio_s3_over_disk_{key.removesuffix('_median')}"] = (
            round(s3 / disk, 2) if s3 and disk else None
        )
    s3_ready, disk_ready = summary["s3"]["ready_s_median"], summary["local_disk"]["ready_s_median"]
    if s3_ready and disk_ready and s3_ready > disk_ready and summary["bytes"] >= 100e6:
        # What the copy adds, as a rate (large releases only: small ones are all overhead);
        # the manifests' startup budget assumed 50 MB/s.
        summary["copy_mb_per_s"] = round(summary["bytes"] / 1e6 / (s3_ready - disk_ready), 1)
    return summary


def main() -> None:
    """Run and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="Starts per place (shipped).")
    parser.add_argument("--large-mib", type=int, default=1024, help="Size of the large release.")
    parser.add_argument("--large-repeats", type=int, default=3, help="Starts per place (large).")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="Per start, at most.")
    args = parser.parse_args()
    if not Path(SYSTEM_PYTHON).is_file():
        sys.exit(f"{SYSTEM_PYTHON} is missing: the startup probe runs with the system Python.")
    load = os.getloadavg()
    os.environ.update(CREDENTIALS)  # the in-process sync reads them too
    os.environ.pop("AWS_PROFILE", None)
    results: dict[str, Any] = {}
    install = find_tritonserver()
    with workdir() as tmp, s3_server() as server:
        os.environ["XDG_CACHE_HOME"] = str(tmp / "xdg-cache")
        backends = assemble_backend_dir(install, tmp / "backends")
        sizes = {"shipped": (0, args.repeats)}
        if args.large_mib:
            sizes["large"] = (args.large_mib, args.large_repeats)
        for name, (mib, repeats) in sizes.items():
            local = cpu_copy(tmp / name, mib)
            bucket = new_bucket(server, CREDENTIALS)
            url, sync_s = publish_release(local, server.endpoint_url, bucket)
            print(f"{name}: {repository_size(local):,} bytes synced in {sync_s:.1f} s", flush=True)
            scratch = tmp / f"scratch-{name}"
            scratch.mkdir()
            results[name] = {
                "sync_s": round(sync_s, 2),
                **compare(install, backends, local, url, scratch, repeats, args.timeout_s),
            }
            shutil.rmtree(local)
    record(
        "cold_start",
        load,
        {
            "flags": local_args("<repository>", {}, []),
            "substitutions": "free ports, --backend-directory (the CPU stand-in), KIND_CPU",
            "probe": f"{SYSTEM_PYTHON} orchestrator/serving/golden_probe --timeout-s 8",
            "startup_probe_period_s": 10,
            "releases": results,
        },
    )


if __name__ == "__main__":
    main()
