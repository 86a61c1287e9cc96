"""Train a named model and export it as a bundle: the one call behind the CLI and notebook.

Importing this module does not import torch; ``train_and_export`` checks for the
``train`` extra first and says how to install it when it is missing.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.bundle import MODEL_ONNX, MODEL_PLAN, check_out_dir, git_lineage
from training.frameworks import require_train_extra
from training.parity import ParityReport
from training.specs import get_spec

if TYPE_CHECKING:
    from training.train import EpochStats

__all__ = ["GOLDEN_ROWS", "ExportResult", "train_and_export"]

logger = logging.getLogger(__name__)

GOLDEN_ROWS = 16
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
        device: ``cpu`` or ``cuda``; export and parity always run on the CPU.
        seed: seeds initialization, dropout and shuffling (not the held-out split).
        epochs: override the model's default number of epochs (fewer is faster, less
            accurate).
        tensorrt: also build ``model.plan`` with TensorRT (needs TensorRT and a GPU).
        on_epoch: called after every epoch, e.g. to advance a progress bar.

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
    require_train_extra()
    check_out_dir(out_dir, force=force)

    # Imported here so that importing ``training`` never needs torch.
    import numpy as np
    import torch

    from training import export, tensorrt_plan
    from training.bundle import sha256_file, signature_from_onnx, write_bundle
    from training.data import load_dataset
    from training.models import build_model
    from training.train import TrainConfig, deterministic, resolve_device, train_classifier

    resolve_device(device)
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
    with deterministic(seed):
        model = build_model(name, dataset)
        trained = train_classifier(model, dataset, config, on_epoch)

    inputs, outputs = [spec.input_name], [spec.output_name]
    sample = [torch.from_numpy(dataset.x_held_out[:2])]
    onnx_bytes = export.export_onnx(model, sample, inputs, outputs)
    repeatable = onnx_bytes == export.export_onnx(model, sample, inputs, outputs)
    batches = export.parity_batches({spec.input_name: dataset.x_held_out}, seed=seed)
    parity = export.check_parity(model, onnx_bytes, batches, inputs, outputs)
    export.require_parity(parity, name)
    proto = export.check_onnx(onnx_bytes)

    golden_inputs = {spec.input_name: np.ascontiguousarray(dataset.x_held_out[:GOLDEN_ROWS])}
    golden_outputs = export.run_onnx(onnx_bytes, golden_inputs)
    signature = signature_from_onnx(proto)
    extra_files: dict[str, bytes] = {}
    plan_info = None
    if tensorrt:
        shapes = {t["name"]: t["shape"] for t in signature["inputs"]}
        plan_info = tensorrt_plan.build_plan(onnx_bytes, shapes)
        extra_files[MODEL_PLAN] = plan_info.plan

    metadata: dict[str, Any] = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "model_name": name,
        "description": spec.description,
        "signature": signature,
        "opset": export.OPSET,
        "ir_version": int(proto.ir_version),
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
        "versions": _versions(),
        "metrics": trained.metrics,
        "parity": parity.as_dict(),
        "parity_check": {
            "passed": parity.passed,
            "rtol": parity.rtol,
            "atol": parity.atol,
            "batches": list(parity.batches),
            "reference": f"torch {torch.__version__} on the CPU",
        },
        "git": git_lineage(Path(__file__).resolve().parent),
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
            "train_time_s": round(trained.train_time_s, 3),
            "final_loss": trained.final_loss,
        },
        "onnx_bytes_reproducible": repeatable,
        "reproducibility": {
            "deterministic_algorithms": True,
            "onnx_export_repeatable": repeatable,
            "note": "same seed, same machine and versions: same weights and predictions; "
            "onnx_bytes_reproducible says whether two exports of them were byte-identical",
        },
        "golden": {"rows": len(golden_inputs[spec.input_name]), "source": "first held-out rows"},
        "tensorrt": plan_info.describe() if plan_info else None,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    written = write_bundle(
        out_dir,
        onnx_bytes=onnx_bytes,
        golden_inputs=golden_inputs,
        golden_outputs=golden_outputs,
        metadata=metadata,
        extra_files=extra_files,
        force=force,
    )
    return ExportResult(
        model_name=name,
        bundle_dir=out_dir,
        metrics=trained.metrics,
        parity=parity,
        train_time_s=trained.train_time_s,
        total_time_s=time.monotonic() - started,
        onnx_sha256=sha256_file(out_dir / MODEL_ONNX),
        onnx_bytes_reproducible=repeatable,
        export=written,
    )


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for key, module in (
        ("torch", "torch"),
        ("onnx", "onnx"),
        ("onnxruntime", "onnxruntime"),
        ("numpy", "numpy"),
        ("scikit-learn", "sklearn"),
    ):
        versions[key] = str(getattr(importlib.import_module(module), "__version__", "unknown"))
    return versions
