"""Print the markdown tables of benchmarks/README.md from the results files.

.venv/bin/python -m benchmarks.table
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _conditions(data: dict[str, Any]) -> str:
    before = data["machine"]["load_average_1_5_15_before"]
    after = data["machine"]["load_average_1_5_15_after"]
    return f"{data['finished_utc']}, load {before[0]}→{after[0]}"


def _per_s(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}/s"


def main() -> None:
    """Print one goal table and one detail table per benchmark."""
    print("| comparison | goal | measured | met | when, 1-min load before→after |")
    print("|---|---|---|---|---|")
    batching = _load("dynamic_batching")
    if batching and batching["goal_2x_at_32_with_p99_no_worse"]:
        goal = batching["goal_2x_at_32_with_p99_no_worse"]
        print(
            f"| dynamic batching on/off, digits_cnn, c=32 | ≥2× throughput, p99 no worse | "
            f"{goal['throughput_ratio_on_over_off_at_32']}×, p99 {goal['p99_on_ms']:.1f} vs "
            f"{goal['p99_off_ms']:.1f} ms | {'yes' if goal['met'] else 'no'} | "
            f"{_conditions(batching)} |"
        )
    tuned = _load("tuned_vs_shipped")
    if tuned:
        goal = tuned["goal_tuned_never_worse"]
        same = not tuned["tune"]["diff"]
        note = " (tune kept the shipped config: this is an A/A run, the gap is noise)"
        print(
            f"| tuned vs shipped, best throughput with p99 ≤ {tuned['latency_budget_ms']} ms | "
            f"tuned ≥ shipped | {goal['ratio']}× ({_per_s(goal['best_within_budget_tuned_per_s'])}"
            f" vs {_per_s(goal['best_within_budget_shipped_per_s'])}) | "
            f"{'yes' if goal['met'] else 'no'}{note if same else ''} | {_conditions(tuned)} |"
        )
    ceiling = _load("ceiling")
    if ceiling:
        ratios = ", ".join(
            f"c={r['concurrency']}: {r.get('digits_over_identity', '-')}×"
            for r in ceiling["levels"]
        )
        met = ceiling["goal_at_least_0_8"]["met"]
        print(
            f"| digits_cnn vs identity (server ceiling) | ≥0.8× | {ratios} | "
            f"{'yes' if met else 'no'} | {_conditions(ceiling)} |"
        )
    wrk = _load("generator_vs_wrk")
    if wrk:
        ratios = ", ".join(
            f"c={r['concurrency']}: {r['ratio']}× ({_per_s(r['orchestrator_median_per_s'])} vs "
            f"{_per_s(r['wrk_median_per_s'])}; CPU/request {r['orchestrator_cpu_us_per_request']}"
            f" vs {r['wrk_cpu_us_per_request']} µs)"
            for r in wrk["levels"]
        )
        met = wrk["goal_within_10_percent"]["met"]
        print(
            f"| orchestrator generator vs wrk, same endpoint | within ±10% | {ratios} | "
            f"{'yes' if met else 'no'} | {_conditions(wrk)} |"
        )
    ort = _load("triton_vs_ort")
    if ort:
        parts = ", ".join(
            f"B={b['batch_size']}: {_per_s(b['triton_http_concurrency_1']['throughput_per_s'])} vs "
            f"{_per_s(b['onnxruntime_in_process']['throughput_per_s'])} ({b['triton_over_ort']}×)"
            for b in ort["batches"]
        )
        print(
            f"| Triton (HTTP, c=1) vs ONNX Runtime in-process, rows/s | (where the time goes) | "
            f"{parts} | - | {_conditions(ort)} |"
        )
    _issue_25_goals()
    if batching:
        print("\n**Dynamic batching on vs off (digits_cnn, HTTP, 1 row/request, medians)**\n")
        print("| concurrency | on infer/s | off infer/s | on p99 ms | off p99 ms | on avg batch |")
        print("|---|---|---|---|---|---|")
        for r in batching["levels"]:
            on, off = r["on"], r["off"]
            print(
                f"| {r['concurrency']} | {_per_s(on['throughput_per_s'])} | "
                f"{_per_s(off['throughput_per_s'])} | {on['p99_ms']} | {off['p99_ms']} | "
                f"{on['server_avg_batch']} |"
            )
    if tuned:
        print(f"\n**tune winner**: {tuned['tune']['winner']}\n")
        print("| concurrency | shipped infer/s | tuned infer/s | shipped p99 ms | tuned p99 ms |")
        print("|---|---|---|---|---|")
        for r in tuned["levels"]:
            print(
                f"| {r['concurrency']} | {_per_s(r['shipped']['throughput_per_s'])} | "
                f"{_per_s(r['tuned']['throughput_per_s'])} | {r['shipped']['p99_ms']} | "
                f"{r['tuned']['p99_ms']} |"
            )
    _issue_25_details()


def _issue_25_goals() -> None:
    defaults = _load("batching_defaults")
    if defaults:
        parts = "; ".join(
            f"{tool}: c=1 {g['default_over_off'].get('c1')}×, "
            f"c=32 {g['default_over_off'].get('c32')}×"
            for tool, g in defaults["goal"].items()
        )
        met = all(g["met"] for g in defaults["goal"].values())
        print(
            f"| `dynamic_batching {{ }}` (generated default) over no batching | ≥0.9× at c=1, "
            f"≥1.8× at c=32 | {parts} | {'yes' if met else 'no'} | {_conditions(defaults)} |"
        )
    cold = _load("cold_start")
    if cold:
        parts = "; ".join(
            f"{name} ({r['bytes'] / 1e6:,.1f} MB): ready {r['ratio_s3_over_disk_ready_s']}×, "
            f"startup probe {r['ratio_s3_over_disk_probe_passed_s']}×"
            for name, r in cold["releases"].items()
        )
        print(
            f"| cold start, release from S3 (moto) over local disk | (measured) | {parts} | - | "
            f"{_conditions(cold)} |"
        )


def _issue_25_details() -> None:
    defaults, cold = _load("batching_defaults"), _load("cold_start")
    if defaults:
        print(
            "\n**Batching defaults (digits_cnn, HTTP, 1 row/request, medians; generator / wrk)**\n"
        )
        print("| concurrency | as generated before | `dynamic_batching { }` | no batching |")
        print("|---|---|---|---|")
        for r in defaults["levels"]:
            cells = [
                " / ".join(
                    _per_s(r[f"{key}/{tool}"]["throughput_per_s"])
                    for tool in ("generator", "wrk")
                    if f"{key}/{tool}" in r
                )
                for key in ("as_generated_old", "default", "off")
            ]
            print(f"| {r['concurrency']} | {' | '.join(cells)} |")
    if cold:
        print("\n**Cold start: process start to ready / to the startup probe passing (medians)**\n")
        print("| release | bytes | S3 ready | S3 probe | disk ready | disk probe | copy MB/s |")
        print("|---|---|---|---|---|---|---|")
        for name, r in cold["releases"].items():
            s3, disk = r["s3"], r["local_disk"]
            print(
                f"| {name} | {r['bytes']:,} | {s3['ready_s_median']} s | "
                f"{s3['probe_passed_s_median']} s | {disk['ready_s_median']} s | "
                f"{disk['probe_passed_s_median']} s | {r.get('copy_mb_per_s', '-')} |"
            )


if __name__ == "__main__":
    main()
