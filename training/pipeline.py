"""Train a named model and export it as a bundle: the one call behind the CLI and notebook.

Importing this module does not import torch; ``train_and_export`` checks for the
``train`` extra first and says how to install it when it is missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.bundle import MODEL_ONNX, check_out_dir
from training.frameworks import require_train_extra
from training.parity import ParityReport
from training.specs import get_spec

if TYPE_CHECKING:
    from training.train import EpochStats

__all__ = ["ExportResult", "train_and_export"]

logger = logging.getLogger(__name__)

BUNDLE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ExportResult:
    """What ``train_and_export`` produced.

    Attributes:
        model_name: the model's name (``digits_cnn``).
        bundle_dir: the folder holding ``model.onnx``, ``export.json`` and ``golden.npz``.
        metrics: held-out metrics (``accuracy``, ``loss``).
        parity: the parity gate's per-output report (it passed, or nothing was written).
        train_time_s: wall time of the training loop.
        total_time_s: wall time of the whole call: data, training, export, parity, writing.
        onnx_sha256: sha256 of ``model.onnx``.
        onnx_bytes_reproducible: whether exporting the trained weights twice gave identical
            bytes (with deterministic training, the same seed then gives the same file).
        export: the content of ``export.json``.
    """

    model_name: str
    bundle_dir: Path
    metrics: dict[str, float]
    parity: ParityReport
    train_time_s: float
    total_time_s: float
    onnx_sha256: str
    onnx_bytes_reproducible: bool | None
    export: dict[str, Any] = field(repr=False)

    @property
    def accuracy(self) -> float:
        """Held-out accuracy, 0..1."""
        return self.metrics["accuracy"]

    @property
    def onnx_path(self) -> Path:
        """The bundle's ``model.onnx``."""
        return self.bundle_dir / MODEL_ONNX

    @property
    def max_abs_error(self) -> float:
        """The largest ONNX Runtime vs PyTorch absolute error over all outputs."""
        return max(o.max_abs_error for o in self.parity.outputs)

    @property
    def max_rel_error(self) -> float:
        """The largest ONNX Runtime vs PyTorch relative error over all outputs."""
        return max(o.max_rel_error for o in self.parity.outputs)

    def summary(self) -> str:
        """One line: accuracy, parity error, times and path.

        Example:
            >>> result.summary()
            'digits_cnn: held-out accuracy 98.33%, parity max abs error 2.4e-07 ...'
        """
        return (
            f"{self.model_name}: held-out accuracy {self.accuracy:.2%}, parity max abs error "
            f"{self.max_abs_error:.2g} (max rel {self.max_rel_error:.2g}), trained in "
            f"{self.train_time_s:.1f} s ({self.total_time_s:.1f} s in all) -> {self.bundle_dir}"
        )


def train_and_export(
    name: str,
    out_dir: Path | str,
    *,
    force: bool = False,
    device: str = "cpu",
    seed: int = 0,
    epochs: int | None = None,
    tensorrt: bool = False,
    on_epoch: Callable[[EpochStats], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ExportResult:
    """Train a model on its bundled dataset and write its export bundle to ``out_dir``.

    Steps: check the output folder (and TensorRT, if asked) before any work; train with
    fixed seeds; export to ONNX at a pinned opset with a dynamic batch axis; run the full
    ONNX checker; run the parity gate (PyTorch vs ONNX Runtime on the held-out rows and
    random batches of several sizes, rtol 1e-3 / atol 1e-5); then write the bundle
    atomically. A failed gate writes nothing.

    Args:
        name: ``digits_cnn`` or ``cancer_mlp`` (see ``training.MODEL_NAMES``).
        out_dir: the bundle folder, e.g. ``models/exports/digits_cnn``.
        force: replace a bundle already in ``out_dir``.
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when a GPU is visible); export and
            parity always run on the CPU.
        seed: seeds initialization, dropout and shuffling (not the held-out split).
        epochs: override the model's default number of epochs (fewer is faster, less
            accurate).
        tensorrt: also build ``model.plan`` with TensorRT (needs TensorRT and a GPU).
        on_epoch: called after every epoch, e.g. to advance a progress bar.
        on_step: called with one line before each long step (loading PyTorch and the
            data, training, export and parity), so no wait is silent.

    Returns:
        The bundle's path, metrics, parity report and timings.

    Raises:
        TrainingError: unknown name, refused folder, missing TensorRT or GPU, export failure.
        TorchMissingError: the ``train`` extra is not installed.
        ParityError: ONNX Runtime disagrees with PyTorch; nothing was written.

    Example:
        >>> result = train_and_export("digits_cnn", "models/exports/digits_cnn")
        >>> print(result.summary())
    """
    started = time.monotonic()
    spec = get_spec(name)
    out_dir = Path(out_dir)
    say = on_step or (lambda _line: None)
    # The folder first: a refused --out is said at once, not after torch's import (~3 s).
    check_out_dir(out_dir, force=force)
    say(f"Loading PyTorch and the {spec.dataset} data")
    require_train_extra()

    # Imported here so that importing ``training`` never needs torch.
    from training import export, tensorrt_plan
    from training.data import load_dataset
    from training.models import build_model
    from training.train import (
        TRAINING_THREADS,
        TrainConfig,
        deterministic,
        resolve_device,
        train_classifier,
    )

    device = str(resolve_device(device))
    if tensorrt:
        tensorrt_plan.require_tensorrt()
    dataset = load_dataset(spec.dataset)
    config = TrainConfig(
        epochs=epochs if epochs is not None else spec.epochs,
        batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        weight_decay=spec.weight_decay,
        seed=seed,
        device=device,
    )
    say(f"Training {name} for {config.epochs} epochs on {device}")
    with deterministic(seed, device):
        model = build_model(name, dataset)
        trained = train_classifier(model, dataset, config, on_epoch)

    metadata: dict[str, Any] = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "model_name": name,
        "description": spec.description,
        "metrics": trained.metrics,
        "data_fingerprint": dataset.fingerprint,
        "dataset": dataset.describe(),
        "seed": seed,
        "training": {
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "weight_decay": config.weight_decay,
            "optimizer": "Adam",
            "device": device,
            "threads": TRAINING_THREADS,
            "deterministic_algorithms": device.startswith("cuda"),
            "train_time_s": round(trained.train_time_s, 3),
            "final_loss": trained.final_loss,
        },
    }
    say("Exporting to ONNX; parity gate: ONNX Runtime against PyTorch")
    written, parity = export.export_bundle(
        model,
        out_dir,
        input_names=[spec.input_name],
        output_names=[spec.output_name],
        held_out={spec.input_name: dataset.x_held_out},
        metadata=metadata,
        seed=seed,
        force=force,
        tensorrt=tensorrt,
    )
    files = written["files"]
    return ExportResult(
        model_name=name,
        bundle_dir=out_dir,
        metrics=trained.metrics,
        parity=parity,
        train_time_s=trained.train_time_s,
        total_time_s=time.monotonic() - started,
        onnx_sha256=files[MODEL_ONNX]["sha256"],
        onnx_bytes_reproducible=written["onnx_bytes_reproducible"],
        export=written,
    )
