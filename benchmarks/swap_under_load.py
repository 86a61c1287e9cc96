"""Publish-to-served time of a new version, and requests sent/failed during the swap.

For each repeat and each traffic protocol (gRPC and HTTP side by side), on a real local
Triton serving a copy of the shipped ``digits_cnn`` version 1: publish the same bundle
again as version 2, then ``swap`` to it while 8 threads send unpinned requests. Records
the publish time, the swap's load and total time, publish-to-served (publish + swap),
and the requests sent and failed while the swap ran. Then times ``orchestrator demo``
end to end (a fresh process each time, training included).

    .venv/bin/python -m benchmarks.swap_under_load [--repeats 3] [--demo-repeats 3]

Writes benchmarks/results/swap_under_load.json with the machine, versions and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import golden_path, read_golden
from orchestrator.performance.traffic import Traffic
from orchestrator.repository.publish import publish
from orchestrator.serving.swap import serve_versions, swap
from orchestrator.serving.triton import ServerOptions, TritonServer

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "model_repository"
MODEL = "digits_cnn"
RESULTS = Path(__file__).parent / "results" / "swap_under_load.json"
CONCURRENCY = 8


def _one_swap(protocol: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(SHIPPED / MODEL, repo / MODEL)
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        for name in ("model.onnx", "export.json", "golden.npz"):
            shutil.copy2(repo / MODEL / "1" / name, bundle / name)
        with TritonServer(ServerOptions(repo, workdir=Path(tmp) / "triton")) as server:
            serve_versions(server.http_url, repo, MODEL, [1])
            golden = read_golden(golden_path(repo / MODEL / "1"))
            inputs = {name: array[:1] for name, array in golden.inputs.items()}
            url = server.grpc_url if protocol == "grpc" else server.http_url
            traffic = Traffic(url, MODEL, inputs, protocol=protocol, concurrency=CONCURRENCY)  # type: ignore[arg-type]
            with traffic:
                traffic.wait_for(500, timeout_s=60)
                started = time.monotonic()
                sent_before = traffic.sent
                published = publish(bundle, repo, MODEL)
                publish_s = time.monotonic() - started
                report = swap(Endpoints(server.http_url, server.grpc_url), repo, MODEL, 2)
                sent_during = traffic.sent - sent_before
                load = traffic.stop()
    assert published.version == 2
    return {
        "publish_s": publish_s,
        "swap_load_s": report.load_s,
        "swap_total_s": report.total_s,
        "publish_to_served_s": publish_s + report.total_s,
        "requests_during_swap": sent_during,
        "requests_sent": load.sent,
        "requests_failed": load.failed,
    }


def _demo_wall_s() -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "orchestrator", "demo"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return time.monotonic() - started


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(r[key] for r in runs)), 3)


def main() -> None:
    """Run the measurements and record them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs: dict[str, list[dict[str, Any]]] = {"grpc": [], "http": []}
    for _ in range(args.repeats):
        for protocol in ("grpc", "http"):  # side by side, alternating
            runs[protocol].append(_one_swap(protocol))
    demo = [_demo_wall_s() for _ in range(args.demo_repeats)]
    keys = ("publish_s", "swap_load_s", "swap_total_s", "publish_to_served_s")
    result = {
        "benchmark": "swap_under_load",
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.swap_under_load", *sys.argv[1:]]
        ),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            p: metadata.version(p)
            for p in ("nvidia-pytriton", "onnxruntime", "tritonclient", "torch", "numpy")
        },
        "model": f"{MODEL} (shipped version 1, published again as version 2)",
        "concurrency": CONCURRENCY,
        "median": {
            protocol: {key: _median(r, key) for key in keys} for protocol, r in runs.items()
        },
        "requests_failed_total": {p: sum(r["requests_failed"] for r in v) for p, v in runs.items()},
        "runs": {
            protocol: [
                {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()} for run in r
            ]
            for protocol, r in runs.items()
        },
        "demo_wall_s_median": round(float(np.median(demo)), 1),
        "demo_wall_s_all": [round(s, 1) for s in demo],
        "repeats": args.repeats,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
