"""What the golden probe costs per run before it does any work: one file vs one folder.

The kubelet runs the startup probe (``python3 /opt/triton-orchestrator/golden_probe``) every
10 s until it passes, in a container whose root file system is read-only, so Python
compiles the probe's source on every run (no ``__pycache__`` can be written). This runs
both shapes the same way, side by side and alternating: the single file the image copied
before (``golden_probe.py`` at ``--file-rev``) and the package folder of this checkout,
each copied alone into a fresh folder, with ``/usr/bin/python3 -I -B`` (the image's
standard library only, no bytecode) against an empty release folder (the probe imports
everything, parses its arguments and exits 1 at once: no network).

    .venv/bin/python -m benchmarks.probe_start [--runs 40] [--file-rev e6a6ad4]

Writes benchmarks/results/probe_start.json (``benchmarks.common.record``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, alternate, record

SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGE = ROOT / "orchestrator" / "serving" / "golden_probe"


def _one_run(command: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    wall_s = time.perf_counter() - started
    if done.returncode != 1 or "holds no model folder" not in done.stderr:
        raise SystemExit(f"{command} did not run as expected: {done.returncode} {done.stderr}")
    return {"wall_s": wall_s}


def main() -> None:
    """Measure, print and record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=40, help="Runs of each shape, alternating.")
    parser.add_argument(
        "--file-rev", default="e6a6ad4", help="The commit whose golden_probe.py is the file."
    )
    args = parser.parse_args()
    started_load = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        release = folder / "empty-release"
        release.mkdir()
        single = folder / "file" / "golden_probe.py"
        single.parent.mkdir()
        single.write_bytes(
            subprocess.run(
                ["git", "show", f"{args.file_rev}:orchestrator/serving/golden_probe.py"],
                capture_output=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        package = folder / "folder" / "golden_probe"
        shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
        tail = ["--repository", str(release), "--progress-file", str(folder / "p.json")]
        commands = {
            "file": [SYSTEM_PYTHON, "-I", "-B", str(single), *tail],
            "folder": [SYSTEM_PYTHON, "-I", "-B", str(package), *tail],
        }
        runs = alternate(
            args.runs,
            {
                "file": lambda: _one_run(commands["file"]),
                "folder": lambda: _one_run(commands["folder"]),
            },
        )
        leftovers = sorted(str(p) for p in folder.rglob("__pycache__"))
    medians = {name: statistics.median(r["wall_s"] for r in rs) for name, rs in runs.items()}
    record(
        "probe_start",
        started_load,
        {
            "what": "one startup-probe process, no bytecode cache: import, arguments, exit 1",
            "runs_each": args.runs,
            "file_rev": args.file_rev,
            "python": subprocess.run(
                [SYSTEM_PYTHON, "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
            "median_wall_s": {name: round(value, 4) for name, value in medians.items()},
            "folder_over_file": round(medians["folder"] / medians["file"], 3),
            "bytecode_written": leftovers,
        },
    )


if __name__ == "__main__":
    main()
