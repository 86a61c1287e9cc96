"""Run NVIDIA's ``perf_analyzer`` when it is on ``PATH``, and read its CSV report.

``perf_analyzer`` does not install on this project's development machines (see
TRITON_LOCAL.md); where it exists (an NGC SDK container, say) ``orchestrator bench``
prefers it. It runs once per concurrency level with the same window, stability and
input settings as the built-in generator, and writes its ``-f`` CSV, which is read into
the same ``LevelResult`` rows.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from orchestrator.errors import ServerError
from orchestrator.performance.options import BenchOptions
from orchestrator.performance.report import BenchReport, LevelResult

__all__ = ["find_perf_analyzer", "input_data_json", "parse_csv", "perf_analyzer_command", "run"]

logger = logging.getLogger(__name__)

_US_PER_MS = 1000.0


def find_perf_analyzer() -> Path | None:
    """The ``perf_analyzer`` binary on ``PATH``, or None."""
    found = shutil.which("perf_analyzer")
    return Path(found) if found else None


def input_data_json(inputs: dict[str, NDArray[Any]], batching: bool) -> dict[str, Any]:
    """perf_analyzer's ``--input-data`` JSON for one request's inputs (one sample per row).

    Example:
        >>> import numpy as np
        >>> input_data_json({"x": np.zeros((2, 3), np.float32)}, batching=True)["data"][0]
        {'x': {'content': [0.0, 0.0, 0.0], 'shape': [3]}}
    """
    sample = {}
    for name, array in inputs.items():
        row = array[0] if batching else array
        sample[name] = {"content": row.ravel().tolist(), "shape": list(row.shape)}
    return {"data": [sample]}


def perf_analyzer_command(
    binary: Path, options: BenchOptions, concurrency: int, csv_path: Path, input_data: Path | None
) -> list[str]:
    """The command line for one concurrency level."""
    command = [
        str(binary),
        "-m",
        options.model,
        "-u",
        options.url,
        "-i",
        options.protocol,
        "-b",
        str(options.batch_size),
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "--measurement-interval",
        str(int(options.window_s * 1000)),
        "--stability-percentage",
        str(options.stability_pct),
        "--max-trials",
        str(options.max_windows),
        "-f",
        str(csv_path),
    ]
    if input_data is not None:
        command += ["--input-data", str(input_data)]
    return command


def parse_csv(text: str, batch_size: int, window_s: float) -> list[LevelResult]:
    """Read perf_analyzer's ``-f`` CSV (times in microseconds) into level results.

    Raises:
        ServerError: the CSV lacks the columns perf_analyzer writes.
    """
    rows = list(csv.DictReader(io.StringIO(text)))
    levels = []
    for row in rows:
        try:
            throughput = float(row["Inferences/Second"])
            concurrency = int(row["Concurrency"])

            def ms(column: str, row: dict[str, str] = row) -> float:
                return float(row.get(column) or 0.0) / _US_PER_MS

            compute = ms("Server Compute Input") + ms("Server Compute Infer")
            compute += ms("Server Compute Output")
            avg = ms("Client Send") + ms("Network+Server Send/Recv") + ms("Server Queue")
            avg += compute + ms("Client Recv")
        except (KeyError, ValueError) as exc:
            raise ServerError(
                f"perf_analyzer's CSV is not in the expected format ({exc!r}); columns were "
                f"{sorted(rows[0]) if rows else []}. Run it by hand to see its output."
            ) from exc
        # perf_analyzer reports a rate; keep it exact through requests / duration.
        requests = max(1, round(throughput / batch_size * window_s)) if throughput > 0 else 0
        duration_s = requests * batch_size / throughput if throughput > 0 else window_s
        levels.append(
            LevelResult(
                concurrency=concurrency,
                batch_size=batch_size,
                requests=requests,
                failures=0,
                duration_s=duration_s,
                p50_ms=ms("p50 latency"),
                p90_ms=ms("p90 latency"),
                p95_ms=ms("p95 latency"),
                p99_ms=ms("p99 latency"),
                avg_ms=avg,
                server_queue_ms=ms("Server Queue"),
                server_compute_ms=compute,
                server_avg_batch=0.0,
                windows=0,
                stable=True,
                client_cpu_fraction=0.0,
            )
        )
    return levels


def run(
    binary: Path,
    options: BenchOptions,
    inputs: dict[str, NDArray[Any]],
    source: str,
    batching: bool,
    on_level: Callable[[LevelResult], None] | None = None,
) -> BenchReport:
    """Measure every level with perf_analyzer; a failing level ends the run, keeping the rest.

    ``on_level`` is called with each level as soon as perf_analyzer has measured it.

    Raises:
        ServerError: perf_analyzer cannot be started.
    """
    report = BenchReport(
        model=options.model,
        url=options.url,
        protocol=options.protocol,
        engine=f"perf_analyzer ({binary})",
        batch_size=options.batch_size,
        window_s=options.window_s,
        inputs=source,
    )
    levels: list[LevelResult] = []
    with tempfile.TemporaryDirectory(prefix="orchestrator-perf-") as tmp:
        data_path = Path(tmp) / "inputs.json"
        data_path.write_text(json.dumps(input_data_json(inputs, batching)))
        for concurrency in options.concurrency:
            csv_path = Path(tmp) / f"c{concurrency}.csv"
            command = perf_analyzer_command(binary, options, concurrency, csv_path, data_path)
            logger.info("Running %s", " ".join(command))
            timeout_s = options.window_s * (options.max_windows + 2) + 60
            try:
                result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ServerError(f"Cannot run {binary}: {exc}") from exc
            if result.returncode != 0 or not csv_path.is_file():
                tail = (result.stderr or result.stdout).strip()[-1000:]
                return replace(
                    report,
                    levels=tuple(levels),
                    error=f"perf_analyzer failed at concurrency {concurrency} "
                    f"(exit {result.returncode}): {tail}",
                )
            measured = parse_csv(csv_path.read_text(), options.batch_size, options.window_s)
            levels += measured
            for level in measured:
                if on_level is not None:
                    on_level(level)
    return replace(report, levels=tuple(levels))
