"""``orchestrator tune``'s config against the shipped one, same server, same run.

First ``tune`` searches (its own local Triton) for the highest throughput within the
latency budget; then one Triton serves ``digits_cnn`` (shipped config) and
``digits_cnn_tuned`` (the winner) side by side and both are measured at every level,
alternating.

    .venv/bin/python -m benchmarks.tuned_vs_shipped [--bundle DIR] [--latency-budget-ms 20]

Goal: the tuned config is never worse (throughput within the budget, at every level).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from benchmarks.common import (
    add_common_arguments,
    add_model,
    digits_cnn,
    record,
    renamed,
    serving,
    side_by_side,
    workdir,
)
from orchestrator.performance.tune import TuneOptions, tune


def main() -> None:
    """Run and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--latency-budget-ms", type=float, default=20.0)
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--tune-window-s", type=float, default=1.0)
    args = parser.parse_args()
    levels = tuple(int(c) for c in args.concurrency.split(","))
    load = os.getloadavg()
    with workdir() as tmp:
        model = digits_cnn(args, tmp)
        search = tmp / "search"
        add_model(search, "digits_cnn", model.onnx, renamed(model.config_text, "digits_cnn"))
        if model.golden is not None:
            (search / "digits_cnn" / "1" / "golden.npz").write_bytes(model.golden.read_bytes())
        tuned = tune(
            TuneOptions(
                "digits_cnn",
                search,
                latency_budget_ms=args.latency_budget_ms,
                max_trials=args.max_trials,
                concurrency=levels,
                window_s=args.tune_window_s,
            ),
            on_trial=lambda t: print(f"tune: measured {t.candidate.label}", flush=True),
        )
        repo = tmp / "repo"
        add_model(repo, "digits_cnn", model.onnx, renamed(model.config_text, "digits_cnn"))
        add_model(
            repo, "digits_cnn_tuned", model.onnx, renamed(tuned.tuned_config, "digits_cnn_tuned")
        )
        rows = []
        with serving(repo) as server:
            for concurrency in levels:
                models = {"shipped": "digits_cnn", "tuned": "digits_cnn_tuned"}
                row: dict[str, Any] = {"concurrency": concurrency}
                row.update(
                    side_by_side(server.http_url, models, concurrency, args, golden=model.golden)
                )
                rows.append(row)
                print(row, flush=True)
    budget = args.latency_budget_ms

    def best(key: str) -> float:
        fits = [
            r[key]["throughput_per_s"]
            for r in rows
            if r[key]["p99_ms"] is not None and r[key]["p99_ms"] <= budget
        ]
        return max(fits, default=0.0)

    shipped_best, tuned_best = best("shipped"), best("tuned")
    record(
        "tuned_vs_shipped",
        load,
        {
            "model": model.source,
            "latency_budget_ms": budget,
            "window_s": args.window_s,
            "repeats": args.repeats,
            "tune": {
                "trials": [
                    {
                        "candidate": t.candidate.label,
                        "phase": t.phase,
                        "score_per_s": round(t.score(budget), 1),
                        "error": t.error,
                    }
                    for t in tuned.trials
                ],
                "winner": tuned.best.candidate.label if tuned.best else None,
                "diff": tuned.diff,
            },
            "levels": rows,
            "goal_tuned_never_worse": {
                "best_within_budget_shipped_per_s": shipped_best,
                "best_within_budget_tuned_per_s": tuned_best,
                "ratio": round(tuned_best / shipped_best, 3) if shipped_best else None,
                "met": tuned_best >= shipped_best,
            },
        },
    )


if __name__ == "__main__":
    main()
