"""Run every recorded benchmark in sequence, each writing its own results file.

    .venv/bin/python -m benchmarks.suite [--bundle DIR] [--window-s 1] [--repeats 3]

``--bundle``, ``--window-s``, ``--max-windows`` and ``--repeats`` go to every script.
Without ``--bundle`` and without a shipped ``model_repository/digits_cnn``, digits_cnn is
trained once (``python -m training digits_cnn``) and that bundle is used by all scripts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

from benchmarks.common import ROOT

SCRIPTS = (
    "batching_defaults",
    "dynamic_batching",
    "ceiling",
    "generator_vs_wrk",
    "triton_vs_ort",
    "tuned_vs_shipped",
)
SHARED = ("--bundle", "--window-s", "--max-windows", "--repeats")


def main() -> None:
    """Run the scripts; the exit status is the number that failed."""
    shared: list[str] = []
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg in SHARED and i + 1 < len(args):
            shared += [arg, args[i + 1]]
    with tempfile.TemporaryDirectory(prefix="orchestrator-suite-") as tmp:
        shipped = (ROOT / "model_repository" / "digits_cnn" / "config.pbtxt").is_file()
        if "--bundle" not in shared and not shipped:
            bundle = f"{tmp}/digits_cnn"
            command = [sys.executable, "-m", "training", "digits_cnn", "--out", bundle]
            print(f"== {' '.join(command)}", file=sys.stderr, flush=True)
            subprocess.run(command, check=True, cwd=ROOT)
            shared += ["--bundle", bundle]
        failed = 0
        for script in SCRIPTS:
            command = [sys.executable, "-m", f"benchmarks.{script}", *shared]
            print(f"== {' '.join(command)}", file=sys.stderr, flush=True)
            result = subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
            failed += result.returncode != 0
    sys.exit(failed)


if __name__ == "__main__":
    main()
