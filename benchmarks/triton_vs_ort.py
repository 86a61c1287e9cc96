"""Triton against ONNX Runtime in-process for the same batches: where the time goes.

For each batch size B: ONNX Runtime runs digits_cnn on B golden rows in this process
(the compute limit: no server, no network), and Triton serves the same B-row request at
concurrency 1 (so every execution is exactly that batch). Triton's statistics split its
side into queue and compute; the rest of the client latency is HTTP and the stand-in
backend's request handling.

    .venv/bin/python -m benchmarks.triton_vs_ort [--bundle DIR] [--batch-sizes 1,8,32]
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from benchmarks.common import benchmark_parser, digits_workspace, int_list, measure, record


def ort_rows_per_s(
    session: ort.InferenceSession, batch: NDArray[Any], seconds: float
) -> dict[str, Any]:
    """Rows/s and the median time of one run, over ``seconds`` of back-to-back runs."""
    for _ in range(20):
        session.run(None, {"input": batch})
    times = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        session.run(None, {"input": batch})
        times.append(time.perf_counter() - start)
    return {
        "throughput_per_s": round(len(times) * batch.shape[0] / sum(times), 1),
        "median_run_ms": round(statistics.median(times) * 1000, 4),
        "runs": len(times),
    }


def main() -> None:
    """Run and record."""
    parser = benchmark_parser(__doc__)
    parser.add_argument("--batch-sizes", type=int_list, default="1,8,32")
    args = parser.parse_args()
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        session = ort.InferenceSession(str(model.onnx), providers=["CPUExecutionProvider"])
        rows = workspace.golden_rows()["input"]
        results = []
        with workspace.serve() as server:
            for size in args.batch_sizes:
                batch = np.concatenate([rows] * (-(-size // rows.shape[0])))[:size]
                in_process = ort_rows_per_s(session, batch, args.window_s * 3)
                served = measure(
                    server.http_url, "digits_cnn", 1, args, batch_size=size, golden=model.golden
                )
                row = {
                    "batch_size": size,
                    "onnxruntime_in_process": in_process,
                    "triton_http_concurrency_1": served,
                    "triton_over_ort": round(
                        served["throughput_per_s"] / in_process["throughput_per_s"], 3
                    ),
                }
                results.append(row)
                print(row, flush=True)
    record(
        "triton_vs_ort",
        load,
        {"model": model.source, "window_s": args.window_s, "batches": results},
    )


if __name__ == "__main__":
    main()
