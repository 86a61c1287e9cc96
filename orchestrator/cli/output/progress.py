"""Per-level progress of a measurement (bench, tune) on stderr.

- On a terminal a rich line redraws in place: a bar over the levels, the level being
  measured, the last result and the elapsed time.
- With ``--quiet``, or when stderr is not a terminal (CI logs, pipes), nothing is
  redrawn: one plain line per finished level instead, so a log still shows that a long
  run is moving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.status import Status

from orchestrator.performance.report import LevelResult

__all__ = ["LevelProgress", "level_text", "step_lines"]


def level_text(level: LevelResult) -> str:
    """One level's result in a few words: ``concurrency 4: 1523.4 infer/s, p99 3.21 ms``.

    Example:
        >>> level_text(level)  # doctest: +SKIP
        'concurrency 4: 1523.4 infer/s, p99 3.21 ms'
    """
    unstable = "" if level.stable else " (not stable)"
    return (
        f"concurrency {level.concurrency}: {level.throughput_per_s:.1f} infer/s, "
        f"p99 {level.p99_ms:.2f} ms{unstable}"
    )


class LevelProgress:
    """Progress over the concurrency levels of one or more measurements.

    Args:
        title: what is measured (``bench digits_cnn``), the line's first words.
        levels: the concurrency levels of one measurement, in the order they run.
        quiet: never redraw; print one line per level instead.
        console: where to draw (stderr by default); a terminal gets the live line.

    Example:
        >>> with LevelProgress("bench m", (1, 4), quiet=False) as progress:  # doctest: +SKIP
        ...     bench(options, on_level=progress.level)
    """

    def __init__(
        self,
        title: str,
        levels: Sequence[int],
        *,
        quiet: bool,
        console: Console | None = None,
    ) -> None:
        self._console = console or Console(stderr=True)
        self._title = title
        self._levels = tuple(levels)
        self._live = not quiet and self._console.is_terminal
        self._done = 0
        self._label = ""
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=self._console,
            disable=not self._live,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> LevelProgress:
        if self._live:
            self._progress.start()
            self._task = self._progress.add_task(
                self._description(), total=len(self._levels), last=""
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def measurement(self, label: str) -> None:
        """Start the levels of another measurement (a tune candidate) named ``label``."""
        self._label = label
        self._done = 0
        if self._task is not None:
            self._progress.reset(self._task, total=len(self._levels), last="")
            self._progress.update(self._task, description=self._description())

    def level(self, level: LevelResult) -> None:
        """Count one finished level and show its result."""
        self._done += 1
        text = level_text(level)
        if self._task is None:
            where = f" {self._label}" if self._label else ""
            count = f"{self._done}/{len(self._levels)}"
            click.echo(f"{self._title}{where}: level {count}, {text}", err=True)
            return
        self._progress.update(
            self._task, advance=1, description=self._description(), last=f"last: {text}"
        )

    def _description(self) -> str:
        where = f" {self._label}" if self._label else ""
        if self._done < len(self._levels):
            return f"{self._title}{where}: concurrency {self._levels[self._done]}"
        return f"{self._title}{where}: done"


@contextmanager
def step_lines(console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """Yield ``say``: one line per step on stderr and, on a terminal, a spinner under it.

    The spinner repeats the running step until the next one, so a long step (loading
    PyTorch, training) never looks like a hang. Without a terminal: the lines only.

    Example:
        >>> with step_lines() as say:  # doctest: +SKIP
        ...     run_demo(Path("model_repository"), say=say)
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda line: click.echo(line, err=True)
        return
    with Status("", console=console) as status:

        def say(line: str) -> None:
            console.print(line, markup=False, highlight=False)
            status.update(line.strip())

        yield say
