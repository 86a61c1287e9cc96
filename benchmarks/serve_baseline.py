"""Time from `orchestrator serve` to ready, and requests/s at concurrency 1 and 16.

The model is the test suite's small affine graph (x[N,4] -> y, s) with the production
config shape (backend onnxruntime, KIND_GPU, dynamic batching), served by the real
local Triton through the stand-in backend on the CPU.

    .venv/bin/python -m benchmarks.serve_baseline [--repeats 3] [--window-s 5]

Writes benchmarks/results/serve_baseline.json with the machine, versions and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

from tests.onnx_models import AFFINE_CONFIG, make_affine_onnx

RESULTS = Path(__file__).parent / "results" / "serve_baseline.json"


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
    stop = time.monotonic() + window_s
    counts = [0] * concurrency
    failures = [0] * concurrency

    def worker(i: int) -> None:
        client = httpclient.InferenceServerClient(url)
        x = np.ones((1, 4), dtype=np.float32)
        tensor = httpclient.InferInput("x", [1, 4], "FP32")
        tensor.set_data_from_numpy(x)
        while time.monotonic() < stop:
            try:
                client.infer("affine", [tensor])
                counts[i] += 1
            except Exception:  # noqa: BLE001 - counted, the benchmark reports failures
                failures[i] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / window_s, sum(failures)


def main() -> None:
    """Run the measurements and record them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window-s", type=float, default=5.0)
    args = parser.parse_args()
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
    result = {
        "benchmark": "serve_baseline",
        "command": " ".join(
            [Path(sys.executable).name, "-m", "benchmarks.serve_baseline", *sys.argv[1:]]
        ),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "versions": {
            p: metadata.version(p) for p in ("nvidia-pytriton", "onnxruntime", "tritonclient")
        },
        "serve_to_ready_s_median": round(statistics.median(startups), 3),
        "serve_to_ready_s_all": [round(s, 3) for s in startups],
        "rps_median": {str(c): round(statistics.median(v), 1) for c, v in rps.items()},
        "rps_all": {str(c): [round(x, 1) for x in v] for c, v in rps.items()},
        "failed_requests": failures,
        "window_s": args.window_s,
        "repeats": args.repeats,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
