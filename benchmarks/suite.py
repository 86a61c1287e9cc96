"""Run every recorded benchmark in sequence, each writing its own results file.

    .venv/bin/python -m benchmarks.suite [--bundle DIR] [--window-s 2]

Extra arguments go to every script (``--bundle``, ``--window-s``, ``--max-windows``).
"""

from __future__ import annotations

import subprocess
import sys

SCRIPTS = (
    "dynamic_batching",
    "ceiling",
    "generator_vs_wrk",
    "triton_vs_ort",
    "tuned_vs_shipped",
)
SHARED = ("--bundle", "--window-s", "--max-windows")


def main() -> None:
    """Run the scripts; the exit status is the number that failed."""
    shared = []
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        if arg in SHARED and i + 1 < len(args):
            shared += [arg, args[i + 1]]
    failed = 0
    for script in SCRIPTS:
        command = [sys.executable, "-m", f"benchmarks.{script}", *shared]
        print(f"== {' '.join(command)}", file=sys.stderr, flush=True)
        failed += subprocess.run(command, check=False, stdout=subprocess.DEVNULL).returncode != 0
    sys.exit(failed)


if __name__ == "__main__":
    main()
