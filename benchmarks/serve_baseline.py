"""Time from `orchestrator serve` to ready, and requests/s at concurrency 1 and 16.

The model is the test suite's small affine graph (x[N,4] -> y, s) with the production
config shape (backend onnxruntime, KIND_GPU, dynamic batching), served by the real
local Triton through the stand-in backend on the CPU.

    .venv/bin/python -m benchmarks.serve_baseline [--repeats 3] [--window-s 5]

Writes benchmarks/results/serve_baseline.json with the machine, versions, load average
and command (``benchmarks.common.record``). The load is ``orchestrator.performance.traffic.Traffic``:
one thread and one connection per unit of concurrency, one request in flight on each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import record
from orchestrator.performance.traffic import Traffic
from tests.onnx_models import AFFINE_CONFIG, make_affine_onnx


def _startup_s(repo: Path) -> tuple[float, str, subprocess.Popen[str]]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", str(repo), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    report = json.loads(process.stdout.readline())
    return time.monotonic() - started, report["http"], process


def _rps(url: str, concurrency: int, window_s: float) -> tuple[float, int]:
    x = np.ones((1, 4), dtype=np.float32)
    with Traffic(url, "affine", {"x": x}, protocol="http", concurrency=concurrency) as load:
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
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        make_affine_onnx(repo / "affine" / "1" / "model.onnx")
        config = AFFINE_CONFIG.format(name="affine", max_batch_size=64, delay_us=500)
        (repo / "affine" / "config.pbtxt").write_text(config)
        startups: list[float] = []
        rps: dict[int, list[float]] = {1: [], 16: []}
        failures = 0
        for _ in range(args.repeats):
            seconds, url, process = _startup_s(repo)
            startups.append(seconds)
            for concurrency in (1, 16):
                value, failed = _rps(url, concurrency, args.window_s)
                rps[concurrency].append(value)
                failures += failed
            process.terminate()
            process.wait(timeout=60)
    record(
        "serve_baseline",
        started_load,
        {
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
