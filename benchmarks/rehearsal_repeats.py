"""Does the rehearsal's default gate pass an equivalent retrain, push after push?

The gate must not fail a model that is as good as the one it replaces because the
machine is small or busy. This plays the README's seed flow on ``make pipeline``'s
rehearsal (a scratch Git repository, fresh checkouts, moto S3, the played cluster whose
pods are local Tritons), with the committed ``deployment/gates.yaml``:

- push 0: the exports as committed (release A: the shipped digits_cnn);
- pushes 1..N: digits_cnn's bundle replaced in turn by an equivalent retrain (the same
  architecture and data, another seed: ``--bundle``, or trained once here) and by the
  shipped bundle again, so every gate measures a model against an equivalent one (the
  registry gives the reverted model its number back; each push is its own deployed unit).

Every push must pass its staging gate and its production gate; the record keeps each
push's verdict, the gate's throughput checks and the wall time.

    .venv/bin/python -m benchmarks.rehearsal_repeats [--pushes 10] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, record, workdir
from orchestrator.releases.gate_records import gate_records
from rehearsal.pipeline import Rehearsal, rehearsal

SHIPPED = ROOT / "models" / "exports" / "digits_cnn"


def main(argv: list[str] | None = None) -> int:
    """Run the pushes and record them; exit 1 when any gate failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=10, help="Pushes after the first.")
    parser.add_argument("--bundle", type=Path, help="An equivalent digits_cnn retrain.")
    parser.add_argument("--seed", type=int, default=2, help="Its seed when trained here.")
    args = parser.parse_args(argv)
    started = os.getloadavg()
    with workdir() as tmp:
        retrain = args.bundle or _train(tmp / "retrain", args.seed)
        pushes: list[dict[str, Any]] = []
        with rehearsal(tmp / "rehearsal", say=lambda line: None) as run:
            pushes.append(_push(run, "as committed", None))
            for number in range(1, args.pushes + 1):
                bundle, label = (retrain, "retrain") if number % 2 else (SHIPPED, "shipped")
                pushes.append(_push(run, label, bundle))
                print(f"push {number}/{args.pushes} ({label}): {pushes[-1]['verdict']}")
    passed = sum(1 for push in pushes[1:] if push["verdict"] == "passed")
    record(
        "rehearsal_repeats",
        started,
        {
            "gates": "deployment/gates.yaml (committed)",
            "retrain": str(args.bundle) if args.bundle else f"digits_cnn --seed {args.seed}",
            "pushes_after_the_first": args.pushes,
            "passed": passed,
            "pushes": pushes,
        },
    )
    return 0 if passed == args.pushes else 1


def _train(out: Path, seed: int) -> Path:
    command = [sys.executable, "-m", "training", "digits_cnn", "--out", str(out)]
    subprocess.run([*command, "--seed", str(seed)], check=True, cwd=ROOT)
    return out


def _push(run: Rehearsal, label: str, bundle: Path | None) -> dict[str, Any]:
    """One push through the whole pipeline: what it ran and what the gates said."""
    if bundle is not None:
        target = run.exports / "digits_cnn"
        shutil.rmtree(target)
        shutil.copytree(bundle, target)
        run.push(f"digits_cnn: {label}")
    first_step = len(run.steps)
    clock = time.monotonic()
    ok = run.pipeline()
    steps = run.steps[first_step:]
    failed = [step.name for step in steps if not step.ok]
    release = next((s.stdout.strip() for s in steps if s.name == "release id" and s.ok), None)
    return {
        "bundle": label,
        "release": release,
        "verdict": "passed" if ok else f"failed at {', '.join(failed) or 'an unknown step'}",
        "wall_s": round(time.monotonic() - clock, 1),
        "gates": _gate_figures(run, release) if release else {},
    }


def _gate_figures(run: Rehearsal, release: str) -> dict[str, Any]:
    """The throughput checks of the newest record of each environment for ``release``."""
    figures: dict[str, Any] = {}
    for environment in ("staging", "production"):
        records = gate_records(run.store, release, environment)
        if not records:
            continue
        body = records[-1].body
        figures[environment] = {
            "passed": body.get("passed"),
            "throughput": [
                {
                    key: check.get(key)
                    for key in ("model", "concurrency", "measured", "budget", "passed", "detail")
                }
                for check in body.get("checks", [])
                if check.get("name") == "throughput"
            ],
        }
    return figures


if __name__ == "__main__":
    sys.exit(main())
