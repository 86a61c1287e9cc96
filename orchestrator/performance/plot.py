"""The only module that imports matplotlib: throughput against p99 latency, as a PNG."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
from matplotlib.figure import Figure  # noqa: E402

from orchestrator.errors import ConfigError
from orchestrator.performance.report import BenchReport

__all__ = ["plot_throughput_latency"]

logger = logging.getLogger(__name__)


def plot_throughput_latency(reports: Sequence[BenchReport], path: Path, title: str = "") -> Path:
    """Write one line per report: p99 latency (x) against throughput (y), a point per level.

    Raises:
        ConfigError: the file cannot be written (a missing folder, say).

    Example:
        >>> plot_throughput_latency([report], Path("bench.png"))  # doctest: +SKIP
        PosixPath('bench.png')
    """
    figure = _draw(reports, title)
    try:
        figure.tight_layout()
        try:
            figure.savefig(path, format="png")
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the plot to {path}: {exc.strerror or exc}. "
                "Check that its folder exists and is writable."
            ) from exc
    finally:
        plt.close(figure)
    logger.info("Wrote plot %s", path)
    return path


def _draw(reports: Sequence[BenchReport], title: str) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    for report in reports:
        levels = sorted(report.levels, key=lambda level: level.concurrency)
        x = [level.p99_ms for level in levels]
        y = [level.throughput_per_s for level in levels]
        label = f"{report.model} ({report.protocol}, batch {report.batch_size})"
        axes.plot(x, y, marker="o", label=label)
        for level, xi, yi in zip(levels, x, y, strict=True):
            axes.annotate(
                f"c={level.concurrency}", (xi, yi), textcoords="offset points", xytext=(4, 4)
            )
    # Annotations do not widen the data limits: without room to the right and above, the
    # label of the last (slowest, busiest) level is cut at the axes' edge.
    axes.margins(x=0.15, y=0.12)
    axes.set_xlabel("p99 latency (ms)")
    axes.set_ylabel("throughput (inferences/s)")
    axes.set_title(title or "Throughput against p99 latency, one point per concurrency")
    axes.grid(True, alpha=0.3)
    axes.legend()
    return figure
