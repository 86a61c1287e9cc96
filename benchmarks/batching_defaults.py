"""The generated batching default against the former one and against no batching.

One local Triton serves digits_cnn three times: ``digits_cnn_old`` (the config ``publish``
generated before issue 25: preferred batch sizes 16/32/64 and a 100 us queue delay),
``digits_cnn`` (``dynamic_batching { }``, what ``publish`` generates now) and
``digits_cnn_off`` (no dynamic batching). At each concurrency level every config is
measured by the project's generator and by wrk (same golden row, same connections),
all six alternating and rotating who goes first; medians over --repeats.

    apt-get install -y wrk      # Debian's package; without it the generator runs alone
    .venv/bin/python -m benchmarks.batching_defaults [--concurrency 1,8,32] [--repeats 3]

Goal (issue 25): the generated default is within 10% of no batching at concurrency 1
and at least 1.8x it at concurrency 32, by both tools.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import alternate, benchmark_parser, digits_workspace, measure, record
from benchmarks.generator_vs_wrk import run_wrk, wrk_script
from orchestrator import client

FORMER_DEFAULT = """dynamic_batching {
  preferred_batch_size: 16
  preferred_batch_size: 32
  preferred_batch_size: 64
  max_queue_delay_microseconds: 100
}
"""
CONFIGS = {"as_generated_old": "digits_cnn_old", "default": "digits_cnn", "off": "digits_cnn_off"}


def main() -> None:
    """Run and record."""
    parser = benchmark_parser(__doc__, concurrency="1,8,32")
    parser.add_argument("--wrk-seconds", type=int, default=3, help="Length of one wrk run.")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install -y wrk): the generator runs alone.")
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        default = workspace.model.config_text
        if "dynamic_batching {\n}\n" not in default:
            sys.exit(f"{model.source}'s config is not the generated default dynamic_batching {{ }}")
        workspace.add("digits_cnn_old", default.replace("dynamic_batching {\n}\n", FORMER_DEFAULT))
        workspace.add("digits_cnn_off", dynamic_batching=None)
        rows = []
        with workspace.serve() as server:
            inputs = {"input": workspace.golden_rows()["input"][:1]}
            for level in args.concurrency:
                contestants: dict[str, Callable[[], dict[str, Any]]] = {}
                for key, name in CONFIGS.items():
                    contestants[f"{key}/generator"] = _ours(
                        server.http_url, name, level, args, model.golden
                    )
                    if wrk is not None:
                        request = client.encode_http_request(name, inputs)
                        folder = workspace.repo.parent / name
                        folder.mkdir(exist_ok=True)
                        script = wrk_script(folder, request)
                        contestants[f"{key}/wrk"] = _theirs(
                            wrk, server.http_url, request.path, script, level, args.wrk_seconds
                        )
                runs = alternate(args.repeats, contestants)
                row: dict[str, Any] = {"concurrency": level}
                for contestant, measured in runs.items():
                    good = [run for run in measured if "error" not in run]
                    row[contestant] = {
                        "throughput_per_s": _median(good, "throughput_per_s"),
                        "p99_ms": _median(good, "p99_ms"),
                        "runs": measured,
                    }
                rows.append(row)
                print(
                    {k: v if k == "concurrency" else v["throughput_per_s"] for k, v in row.items()}
                )
    record(
        "batching_defaults",
        load,
        {
            "model": model.source,
            "configs": CONFIGS,
            "former_default_block": FORMER_DEFAULT,
            "window_s": args.window_s,
            "wrk_seconds": args.wrk_seconds if wrk else None,
            "repeats": args.repeats,
            "levels": rows,
            "goal": _goal(rows, ["generator", "wrk"] if wrk else ["generator"]),
        },
    )


def _ours(
    url: str, model: str, level: int, args: Any, golden: Path | None
) -> Callable[[], dict[str, Any]]:
    return lambda: measure(url, model, level, args, golden=golden)


def _theirs(
    wrk: str, url: str, path: str, script: Path, level: int, seconds: int
) -> Callable[[], dict[str, Any]]:
    return lambda: run_wrk(wrk, url, path, script, level, seconds)


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    return round(float(statistics.median(run[key] for run in runs)), 3) if runs else None


def _goal(rows: list[dict[str, Any]], tools: list[str]) -> dict[str, Any]:
    """The default over no batching at c=1 (>= 0.9) and at c=32 (>= 1.8), per tool."""
    goal: dict[str, Any] = {}
    by_level = {row["concurrency"]: row for row in rows}
    for tool in tools:
        ratios = {}
        for level in (1, 32):
            row = by_level.get(level)
            if row is None:
                continue
            default = row[f"default/{tool}"]["throughput_per_s"]
            off = row[f"off/{tool}"]["throughput_per_s"]
            ratios[f"c{level}"] = round(default / off, 3) if default and off else None
        met = (ratios.get("c1") or 0) >= 0.9 and (ratios.get("c32") or 0) >= 1.8
        goal[tool] = {"default_over_off": ratios, "met": met}
    return goal


if __name__ == "__main__":
    main()
