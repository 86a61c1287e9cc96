"""The bench plot: every level's label lies inside the axes (none cut at the edge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.performance.report import BenchReport, LevelResult

# matplotlib (0.7 s of CPU) is imported by the tests that draw, not at collection, which
# every worker of make unit pays.


def _level(concurrency: int, p99_ms: float, requests: int) -> LevelResult:
    return LevelResult(
        concurrency, 1, requests, 0, 1.0, p99_ms, p99_ms, p99_ms, p99_ms, p99_ms,
        0.0, 0.0, 1.0, 1, True, 0.1,
    )  # fmt: skip


# Throughput and latency both rising: the last level is the top-right point, the one
# whose label the plot used to cut (bench over 4 levels, issue 21).
RISING = (_level(1, 1.2, 900), _level(2, 1.9, 1500), _level(4, 3.8, 1900), _level(8, 7.5, 2000))


@pytest.mark.parametrize(
    "levels",
    [RISING, RISING[:1], (_level(1, 5.0, 100), _level(64, 5.1, 100))],
    ids=["four-rising", "one-level", "flat"],
)
def test_every_level_label_lies_inside_the_axes(levels: tuple[LevelResult, ...]) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    from orchestrator.performance.plot import _draw

    report = BenchReport("affine", "h:1", "http", "orchestrator", 1, 1.0, "random", levels)
    figure = _draw([report], "")
    try:
        figure.tight_layout()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        axes = figure.axes[0]
        box = axes.get_window_extent(renderer)
        labels = [t for t in axes.texts if isinstance(t, Annotation)]
        assert [t.get_text() for t in labels] == [f"c={lv.concurrency}" for lv in levels]
        for text in labels:
            extent = text.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1, text.get_text()
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1, text.get_text()
    finally:
        plt.close(figure)


def test_the_plot_is_written_as_a_png(tmp_path: Path) -> None:
    from orchestrator.performance.plot import plot_throughput_latency

    report = BenchReport("affine", "h:1", "http", "orchestrator", 1, 1.0, "random", RISING)
    path = plot_throughput_latency([report], tmp_path / "bench.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n")
