"""digits_cnn with dynamic batching on vs off, same server, same run, concurrency 1 to 64.

Both configs are served at once by one local Triton (``digits_cnn`` as shipped, and
``digits_cnn_nobatch``: the same file and config without ``dynamic_batching``); levels
alternate between the two (--repeats runs each, rotating who goes first; medians are
reported) so drift on the machine hits both alike. HTTP, one row per
request, golden inputs.

    .venv/bin/python -m benchmarks.dynamic_batching [--bundle DIR] [--window-s 2]

Goal: at concurrency 32, batching on gives at least 2x the throughput with p99 no worse.
"""

from __future__ import annotations

import os

from benchmarks.common import benchmark_parser, compare_levels, digits_workspace, record

LEVELS = (1, 2, 4, 8, 16, 32, 64)


def main() -> None:
    """Run and record."""
    args = benchmark_parser(__doc__, concurrency=",".join(map(str, LEVELS))).parse_args()
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        config_on = workspace.add("digits_cnn")
        workspace.add("digits_cnn_nobatch", dynamic_batching=None)
        rows = compare_levels(workspace, {"on": "digits_cnn", "off": "digits_cnn_nobatch"}, args)
    at32 = next((r for r in rows if r["concurrency"] == 32), None)
    goal = None
    if at32 and at32["on"]["throughput_per_s"] and at32["off"]["throughput_per_s"]:
        on, off = at32["on"], at32["off"]
        ratio = on["throughput_per_s"] / off["throughput_per_s"]
        goal = {
            "throughput_ratio_on_over_off_at_32": round(ratio, 2),
            "p99_on_ms": on["p99_ms"],
            "p99_off_ms": off["p99_ms"],
            "met": ratio >= 2.0 and on["p99_ms"] <= off["p99_ms"],
        }
    record(
        "dynamic_batching",
        load,
        {
            "model": model.source,
            "config_on": config_on,
            "window_s": args.window_s,
            "max_windows": args.max_windows,
            "repeats": args.repeats,
            "levels": rows,
            "goal_2x_at_32_with_p99_no_worse": goal,
        },
    )


if __name__ == "__main__":
    main()
