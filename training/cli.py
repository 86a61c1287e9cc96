"""``python -m training``: train one model and write its export bundle.

One command: it parses, calls ``train_and_export`` once, and prints. A progress bar per
epoch and messages go to stderr; the one-line summary (or JSON) goes to stdout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from orchestrator.errors import TrainingError
from training.pipeline import ExportResult, train_and_export
from training.specs import MODEL_NAMES, MODELS

if TYPE_CHECKING:
    from collections.abc import Callable

    from training.train import EpochStats

__all__ = ["main"]

_MODEL_HELP = "\n".join(f"  {spec.name}: {spec.description}\n" for spec in MODELS.values())


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=f"Models:\n\n{_MODEL_HELP}",
)
@click.argument("model", type=click.Choice(MODEL_NAMES), metavar="MODEL")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Bundle folder to write (model.onnx, export.json, golden.npz).",
)
@click.option("--force", is_flag=True, help="Replace a bundle already in --out.")
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="Where to train; export and the parity gate always run on the CPU.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Training seed.")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Override the model's default number of epochs.",
)
@click.option(
    "--tensorrt",
    is_flag=True,
    help="Also build model.plan with TensorRT (needs TensorRT and an NVIDIA GPU).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Print a one-line summary, or one JSON object for machines.",
)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(
    model: str,
    out_dir: Path,
    force: bool,
    device: str,
    seed: int,
    epochs: int | None,
    tensorrt: bool,
    output_format: str,
    verbose: int,
) -> None:
    """Train MODEL on its bundled scikit-learn dataset and export it as a bundle.

    The export is refused (exit 1, nothing written) unless ONNX Runtime agrees with
    PyTorch on held-out and random inputs within rtol 1e-3 / atol 1e-5.

    Example:
        python -m training digits_cnn --out models/exports/digits_cnn
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    with _training_progress(model) as (on_step, on_epoch):
        try:
            result = train_and_export(
                model,
                out_dir,
                force=force,
                device=device,
                seed=seed,
                epochs=epochs,
                tensorrt=tensorrt,
                on_epoch=on_epoch,
                on_step=on_step,
            )
        except TrainingError as exc:
            raise click.ClickException(str(exc)) from exc
    if output_format == "json":
        click.echo(json.dumps(_summary_dict(result, out_dir)))
    else:
        click.echo(result.summary())


@contextmanager
def _training_progress(
    model: str,
) -> Iterator[tuple[Callable[[str], None], Callable[[EpochStats], None]]]:
    """Yield ``(on_step, on_epoch)``: step lines on stderr, and on a terminal a live line.

    The live line is a spinner with the current step and its elapsed time (loading PyTorch
    can take seconds) and, once training runs, a bar per epoch with the loss.
    """
    console = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(finished_text=" "),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    step_task: list[TaskID] = []
    epoch_task: list[TaskID] = []

    def on_step(line: str) -> None:
        progress.console.print(line, markup=False, highlight=False)
        if not console.is_terminal:
            return
        if not step_task:
            progress.start()
            step_task.append(progress.add_task(line, total=None, count="", loss=""))
        progress.reset(step_task[0], total=None, description=line)

    def on_epoch(stats: EpochStats) -> None:
        if not epoch_task:
            progress.start()
            epoch_task.append(
                progress.add_task(f"training {model}", total=stats.epochs, count="", loss="")
            )
        progress.update(
            epoch_task[0],
            completed=stats.epoch,
            count=f"{stats.epoch}/{stats.epochs}",
            loss=f"loss {stats.loss:.4f}",
        )

    try:
        yield on_step, on_epoch
    finally:
        progress.stop()
        if epoch_task and not console.is_terminal:
            # no live line was drawn: the epochs in one line, as a log reads them
            task = progress.tasks[-1]
            console.print(
                f"{task.description}: {task.fields['count']} epochs, {task.fields['loss']}",
                markup=False,
                highlight=False,
            )


def _summary_dict(result: ExportResult, out_dir: Path) -> dict[str, Any]:
    return {
        "model_name": result.model_name,
        "bundle_dir": str(out_dir),
        "metrics": result.metrics,
        "parity": result.parity.as_dict(),
        "train_time_s": round(result.train_time_s, 3),
        "total_time_s": round(result.total_time_s, 3),
        "onnx_sha256": result.onnx_sha256,
        "onnx_bytes_reproducible": result.onnx_bytes_reproducible,
    }
