"""Training and export time, held-out accuracy and parity error of each model, on this CPU.

Each run is a fresh ``python -m training <model> --format json`` process, so the wall time
includes importing torch; ``train_time_s`` is the training loop alone and ``total_time_s``
the whole ``train_and_export`` call (data, training, export, parity gate, writing).

    .venv/bin/python -m benchmarks.training_time [--repeats 3]

Writes benchmarks/results/training_time.json with the machine, versions and command
(``benchmarks.common.record``).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import alternate, record
from training import MODEL_NAMES


def _run(model: str, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "training", model, "--out", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    summary: dict[str, Any] = json.loads(result.stdout)
    summary["process_wall_s"] = round(time.monotonic() - started, 3)
    return summary


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(float(run[key]) for run in runs)), 3)


def main() -> None:
    """Run every model ``--repeats`` times, interleaved, and record medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:

        def trainer(name: str) -> Callable[[], dict[str, Any]]:
            # Every run exports into a folder of its own.
            return lambda: _run(name, Path(tempfile.mkdtemp(dir=tmp)) / name)

        runs = alternate(args.repeats, {name: trainer(name) for name in MODEL_NAMES})
    models = {
        name: {
            "train_time_s_median": _median(model_runs, "train_time_s"),
            "total_time_s_median": _median(model_runs, "total_time_s"),
            "process_wall_s_median": _median(model_runs, "process_wall_s"),
            "accuracy": sorted({run["metrics"]["accuracy"] for run in model_runs}),
            "parity_max_abs_error": max(
                p["max_abs_error"] for run in model_runs for p in run["parity"].values()
            ),
            "parity_max_rel_error": max(
                p["max_rel_error"] for run in model_runs for p in run["parity"].values()
            ),
            "identical_onnx_across_runs": len({run["onnx_sha256"] for run in model_runs}) == 1,
            "runs": model_runs,
        }
        for name, model_runs in runs.items()
    }
    record("training_time", load_before, {"models": models, "repeats": args.repeats})
    for name, model in models.items():
        print(
            f"{name}: accuracy {model['accuracy']}, train {model['train_time_s_median']} s, "
            f"total {model['total_time_s_median']} s, process {model['process_wall_s_median']} s, "
            f"parity max abs {model['parity_max_abs_error']:.2g}"
        )


if __name__ == "__main__":
    main()
