"""``orchestrator tune``'s config against the shipped one, same server, same run.

First ``tune`` searches (its own local Triton) for the highest throughput within the
latency budget; then one Triton serves ``digits_cnn`` (shipped config) and
``digits_cnn_tuned`` (the winner) side by side and both are measured at every level,
alternating.

    .venv/bin/python -m benchmarks.tuned_vs_shipped [--bundle DIR] [--latency-budget-ms 20]

Goal: the tuned config is never worse (throughput within the budget, at every level).
"""

from __future__ import annotations

import os
import shutil

from benchmarks.common import benchmark_parser, compare_levels, digits_workspace, record
from orchestrator.core.golden import golden_path
from orchestrator.performance.tune import TuneOptions, tune


def main() -> None:
    """Run and record."""
    parser = benchmark_parser(__doc__, concurrency="1,8,32")
    parser.add_argument("--latency-budget-ms", type=float, default=20.0)
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--tune-window-s", type=float, default=1.0)
    args = parser.parse_args()
    load = os.getloadavg()
    with digits_workspace(args) as workspace:
        model = workspace.model
        # tune searches on the repository as it is (digits_cnn only), with its golden rows.
        if model.golden is not None:
            shutil.copyfile(model.golden, golden_path(workspace.repo / "digits_cnn" / "1"))
        tuned = tune(
            TuneOptions(
                "digits_cnn",
                workspace.repo,
                latency_budget_ms=args.latency_budget_ms,
                max_trials=args.max_trials,
                concurrency=tuple(args.concurrency),
                window_s=args.tune_window_s,
            ),
            on_trial=lambda t: print(f"tune: measured {t.candidate.label}", flush=True),
        )
        workspace.add("digits_cnn_tuned", tuned.tuned_config)
        rows = compare_levels(
            workspace, {"shipped": "digits_cnn", "tuned": "digits_cnn_tuned"}, args
        )
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
