"""No traffic before golden answers: check every served version against its golden.npz.

The startup probe's command line, as the pods run it (``python3
/opt/triton-orchestrator/golden_probe --url 127.0.0.1:8000 --timeout-s 8``):

- exit 0 when every served version answered its golden data, 1 when one did not or time
  ran out, 2 for a usage error; one line per failure on stderr, no traceback;
- without ``--repository`` the files are found in the pod (``pods.find_model_dirs``);
- versions that passed are recorded in ``--progress-file``, so the next run resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .check import ProbeReport, probe_served, release_models
from .pods import find_model_dirs
from .resume import Resume

__all__ = ["MAX_TIMEOUT_S", "PROGRESS_FILE", "main"]

MAX_TIMEOUT_S = 3600.0
PROGRESS_FILE = "triton-orchestrator/golden-probe-passed.json"  # under /tmp, an emptyDir


def main(argv: list[str] | None = None) -> int:
    """Command line: exit 0 when every served version answers its golden data, else 1."""
    parser = argparse.ArgumentParser(
        prog="golden_probe", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--url", default="127.0.0.1:8000", help="Triton's HTTP host:port")
    parser.add_argument("--repository", type=Path, help="the release's files (found if omitted)")
    parser.add_argument("--timeout-s", type=float, default=20.0, help="this run's budget")
    parser.add_argument(
        "--progress-file",
        type=Path,
        default=Path(tempfile.gettempdir()) / PROGRESS_FILE,
        help="where versions that passed are recorded, so the next run resumes after them "
        "(default: under $TMPDIR or /tmp, the pod's emptyDir)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.timeout_s <= MAX_TIMEOUT_S:
        parser.error(f"--timeout-s must be from 0 to {MAX_TIMEOUT_S}, got {args.timeout_s}")
    resume = Resume(args.progress_file)
    if args.repository is not None:
        wanted = release_models(args.repository)
        if isinstance(wanted, str):
            report = ProbeReport(False, (), (wanted,))
        else:
            model_dir: Callable[[str], Path] = lambda model: args.repository / model  # noqa: E731
            report = probe_served(args.url, model_dir, args.timeout_s, wanted, resume)
    else:
        report = probe_served(args.url, find_model_dirs(os.environ), args.timeout_s, None, resume)
    for failure in report.failures:
        print(f"golden probe: FAILED {failure}", file=sys.stderr)  # noqa: T201 - a command line
    if report.ok:
        print(f"golden probe: ok {' '.join(report.checked)}")  # noqa: T201
    return 0 if report.ok else 1
