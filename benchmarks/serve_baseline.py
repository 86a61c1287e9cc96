"""Time from `orchestrator serve` to ready, and requests/s at concurrency 1 and 16.

The model is the shipped ``cancer_mlp`` (model_repository/cancer_mlp: a small MLP over 30
features) with its production config (backend onnxruntime, KIND_GPU, dynamic batching,
warm-up), served by the real local Triton through the stand-in backend on the CPU.

    .venv/bin/python -m benchmarks.serve_baseline [--repeats 3] [--window-s 5]

Writes benchmarks/results/serve_baseline.json with the machine, versions, load average
and command (``benchmarks.common.record``). The load is
``orchestrator.performance.traffic.Traffic``: one thread and one connection per unit of
concurrency, one request in flight on each, each request one golden row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from benchmarks.common import ROOT, record
from orchestrator.core.golden import golden_path, read_golden
from orchestrator.performance.traffic import Traffic

MODEL = "cancer_mlp"


def _startup_s(repo: Path) -> tuple[float, str, subprocess.Popen[str]]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--repo", str(repo), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    report = json.loads(process.stdout.readline())
    return time.monotonic() - started, report["http"], process


def _rps(
    url: str, inputs: dict[str, NDArray[Any]], concurrency: int, window_s: float
) -> tuple[float, int]:
    with Traffic(url, MODEL, inputs, protocol="http", concurrency=concurrency) as load:
        time.sleep(window_s)
        report = load.stop()
    return report.requests_per_s, report.failed


def main() -> None:
    """Run the measurements and record them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window-s", type=float, default=5.0)
    args = parser.parse_args()
    started_load = os.getloadavg()
    shipped = ROOT / "model_repository" / MODEL
    golden = read_golden(golden_path(shipped / "1"))
    inputs = {name: array[:1] for name, array in golden.inputs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        shutil.copytree(shipped, repo / MODEL)
        startups: list[float] = []
        rps: dict[int, list[float]] = {1: [], 16: []}
        failures = 0
        for _ in range(args.repeats):
            seconds, url, process = _startup_s(repo)
            startups.append(seconds)
            for concurrency in (1, 16):
                value, failed = _rps(url, inputs, concurrency, args.window_s)
                rps[concurrency].append(value)
                failures += failed
            process.terminate()
            process.wait(timeout=60)
    record(
        "serve_baseline",
        started_load,
        {
            "model": f"{MODEL} (shipped, production config)",
            "serve_to_ready_s_median": round(statistics.median(startups), 3),
            "serve_to_ready_s_all": [round(s, 3) for s in startups],
            "rps_median": {str(c): round(statistics.median(v), 1) for c, v in rps.items()},
            "rps_all": {str(c): [round(x, 1) for x in v] for c, v in rps.items()},
            "failed_requests": failures,
            "window_s": args.window_s,
            "repeats": args.repeats,
        },
    )


if __name__ == "__main__":
    main()
