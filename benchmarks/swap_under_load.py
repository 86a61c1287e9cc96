"""Publish-to-served time of a new version, and requests sent/failed during the swap.

For each repeat and each traffic protocol (gRPC and HTTP side by side), on a real local
Triton serving a copy of the shipped ``digits_cnn`` version 1: publish the same bundle
again as version 2, then ``swap`` to it while 8 threads send unpinned requests. Records
the publish time, the swap's load and total time, publish-to-served (publish + swap),
and the requests sent and failed while the swap ran. Then times ``orchestrator demo``
end to end (a fresh process each time, training included).

    .venv/bin/python -m benchmarks.swap_under_load [--repeats 3] [--demo-repeats 3]

Writes benchmarks/results/swap_under_load.json with the machine, versions and command
(``benchmarks.common.record``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, alternate, record
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import GOLDEN_FILENAME, golden_path, read_golden
from orchestrator.performance.traffic import Traffic
from orchestrator.repository.publish import publish
from orchestrator.serving.swap import serve_versions, swap
from orchestrator.serving.triton import ServerOptions, TritonServer

SHIPPED = ROOT / "model_repository"
MODEL = "digits_cnn"
CONCURRENCY = 8
BUNDLE_FILES = ("model.onnx", "export.json", GOLDEN_FILENAME)


def _one_swap(protocol: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(SHIPPED / MODEL, repo / MODEL)
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        for name in BUNDLE_FILES:
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
                published = publish(bundle, repo, MODEL, new_version=True)  # same bytes as v1
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
    # Side by side: the protocols alternate, rotating which goes first.
    runs = alternate(
        args.repeats, {"grpc": lambda: _one_swap("grpc"), "http": lambda: _one_swap("http")}
    )
    demo = [_demo_wall_s() for _ in range(args.demo_repeats)]
    keys = ("publish_s", "swap_load_s", "swap_total_s", "publish_to_served_s")
    record(
        "swap_under_load",
        load_before,
        {
            "model": f"{MODEL} (shipped version 1, published again as version 2)",
            "concurrency": CONCURRENCY,
            "median": {
                protocol: {key: _median(r, key) for key in keys} for protocol, r in runs.items()
            },
            "requests_failed_total": {
                p: sum(r["requests_failed"] for r in v) for p, v in runs.items()
            },
            "runs": {
                protocol: [
                    {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
                    for run in r
                ]
                for protocol, r in runs.items()
            },
            "demo_wall_s_median": round(statistics.median(demo), 1) if demo else None,
            "demo_wall_s_all": [round(s, 1) for s in demo],
            "repeats": args.repeats,
        },
    )


if __name__ == "__main__":
    main()
