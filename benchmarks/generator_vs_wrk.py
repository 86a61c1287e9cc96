"""The project's load generator against wrk, same HTTP endpoint, same request, same load.

Both send the very same bytes (digits_cnn's golden rows, encoded once by tritonclient)
to one Triton with the same number of connections; they alternate, so drift hits both.
wrk runs with one thread, like the generator's one process. If the two agree, the
generator is not what limits the measured throughput.

    apt-get install -y wrk      # Debian's package; not a pip dependency
    .venv/bin/python -m benchmarks.generator_vs_wrk [--bundle DIR] [--concurrency 8,32]

Goal: the two throughputs (medians of --repeats alternating runs) are within 10% of each
other. Client CPU per request is recorded for both (wrk's from its rusage).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import alternate, benchmark_parser, digits_workspace, measure, record
from orchestrator import client

LUA = """wrk.method = "POST"
local f = io.open("{body}", "rb")
wrk.body = f:read("*a")
f:close()
{headers}
"""


def wrk_script(tmp: Path, request: client.HttpInferRequest) -> Path:
    """A wrk Lua script that posts exactly ``request``."""
    body = tmp / "body.bin"
    body.write_bytes(request.body)
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in request.headers)
    script = tmp / "post.lua"
    script.write_text(LUA.format(body=body, headers=headers))
    return script


def run_wrk(
    wrk: str, url: str, path: str, script: Path, connections: int, seconds: int
) -> dict[str, Any]:
    """Requests/s, p50/p99 (ms) and non-2xx count from wrk's --latency report."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    command.append(f"http://{url}{path}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return {
        "throughput_per_s": round(rps, 2),
        "p50_ms": percentile("50"),
        "p99_ms": percentile("99"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "client_cpu_us_per_request": round(cpu_s / max(1, total) * 1e6, 1),
        "command": " ".join(command),
    }


def main() -> None:
    """Run and record."""
    parser = benchmark_parser(__doc__, concurrency="8,32")
    parser.add_argument("--wrk-seconds", type=int, default=6)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed. On Debian/Ubuntu: sudo apt-get install -y wrk")
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        inputs = {"input": workspace.golden_rows()["input"][:1]}
        request = client.encode_http_request("digits_cnn", inputs)
        script = wrk_script(workspace.repo.parent, request)
        rows = []
        with workspace.serve() as server:
            for concurrency in args.concurrency:

                def ours(concurrency: int = concurrency) -> dict[str, Any]:
                    summary = measure(
                        server.http_url, "digits_cnn", concurrency, args, golden=model.golden
                    )
                    summary["client_cpu_us_per_request"] = round(
                        summary["client_cpu_fraction"] / summary["throughput_per_s"] * 1e6, 1
                    )
                    return summary

                def theirs(concurrency: int = concurrency) -> dict[str, Any]:
                    return run_wrk(
                        wrk, server.http_url, request.path, script, concurrency, args.wrk_seconds
                    )

                by_tool = alternate(args.repeats, {"orchestrator": ours, "wrk": theirs})
                runs = [
                    {tool: by_tool[tool][repeat] for tool in by_tool}
                    for repeat in range(args.repeats)
                ]
                print(concurrency, runs, flush=True)

                def median(who: str, key: str, runs: list[dict[str, Any]] = runs) -> float:
                    return round(float(statistics.median(run[who][key] for run in runs)), 2)

                row: dict[str, Any] = {
                    "concurrency": concurrency,
                    "orchestrator_median_per_s": median("orchestrator", "throughput_per_s"),
                    "wrk_median_per_s": median("wrk", "throughput_per_s"),
                    "orchestrator_cpu_us_per_request": median(
                        "orchestrator", "client_cpu_us_per_request"
                    ),
                    "wrk_cpu_us_per_request": median("wrk", "client_cpu_us_per_request"),
                    "runs": runs,
                }
                row["ratio"] = round(row["orchestrator_median_per_s"] / row["wrk_median_per_s"], 3)
                rows.append(row)
    ratios = [r["ratio"] for r in rows]
    record(
        "generator_vs_wrk",
        load,
        {
            "model": model.source,
            "window_s": args.window_s,
            "levels": rows,
            "goal_within_10_percent": {
                "ratios": ratios,
                "met": all(0.9 <= r <= 1.1 for r in ratios),
            },
        },
    )


if __name__ == "__main__":
    main()
