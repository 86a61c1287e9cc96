"""The ONNX graph: export a module with ``torch.onnx``, check it, run it with ONNX Runtime.

The only module of ``training`` that calls ``torch.onnx`` and ONNX Runtime, and the one
that turns their errors into ``TrainingError``.

Why the TorchScript exporter: torch 2.13's default exporter (``dynamo=True``) needs the
``onnxscript`` package, which is not a dependency here; the TorchScript exporter
(``dynamo=False``) has no extra dependency, handles these models, and honours a pinned
opset. It warns that it is deprecated; ``export_onnx`` keeps that warning quiet and logs
every other exporter warning (a ``TracerWarning`` hints at a graph that differs from
eager PyTorch, which the parity gate then catches).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from orchestrator.errors import TrainingError

__all__ = [
    "BATCH_DIM",
    "EXPORTER",
    "MAX_IR_VERSION",
    "MAX_OPSET",
    "OPSET",
    "check_onnx",
    "export_onnx",
    "run_onnx",
]

logger = logging.getLogger(__name__)

# Triton 24.10 (the release served here) runs ONNX Runtime 1.19, which loads up to opset 21
# and IR version 10. Opset 17 is well inside that and fully supported by the exporter.
OPSET = 17
MAX_OPSET = 21
MAX_IR_VERSION = 10
BATCH_DIM = "batch"
EXPORTER = "torch.onnx.export (TorchScript, dynamo=False)"

_ORT_ERRORS: tuple[type[Exception], ...] = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidGraph,
    ort_state.InvalidProtobuf,
    ort_state.NotImplemented,
    ort_state.RuntimeException,
)
_QUIET_WARNINGS = (
    "You are using the legacy TorchScript-based ONNX export",
    "The feature will be removed",
)


def export_onnx(
    model: torch.nn.Module,
    sample_inputs: Sequence[torch.Tensor],
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    opset: int = OPSET,
) -> bytes:
    """Export ``model`` (in eval mode, on the CPU) to ONNX bytes with a dynamic batch axis.

    Args:
        model: any module whose ``forward`` takes the inputs positionally.
        sample_inputs: one CPU tensor per input; their leading dim becomes ``batch``.
        input_names: names of the graph inputs, in ``forward``'s order.
        output_names: names of the graph outputs, in the order ``forward`` returns them.
        opset: the ONNX opset to pin (at most ``MAX_OPSET``).

    Returns:
        The serialized ``ModelProto``, already checked by ``check_onnx``.

    Raises:
        TrainingError: the exporter failed, or the graph fails the ONNX checker.

    Example:
        >>> onnx_bytes = export_onnx(model, [torch.zeros(2, 30)], ["features"], ["probabilities"])
    """
    if opset > MAX_OPSET:
        raise TrainingError(
            f"Opset {opset} is newer than {MAX_OPSET}, the newest that Triton 24.10's ONNX "
            f"Runtime loads. Use opset {OPSET}."
        )
    model.eval()
    dynamic_axes = {name: {0: BATCH_DIM} for name in (*input_names, *output_names)}
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as scratch:
        path = Path(scratch) / "model.onnx"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                torch.onnx.export(
                    model,
                    tuple(sample_inputs),
                    path,
                    dynamo=False,
                    input_names=list(input_names),
                    output_names=list(output_names),
                    dynamic_axes=dynamic_axes,
                    opset_version=opset,
                    do_constant_folding=True,
                )
            except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
                raise TrainingError(
                    f"torch.onnx.export could not export {type(model).__name__} at opset "
                    f"{opset}: {exc}. Check that forward() uses only ONNX-exportable operations."
                ) from exc
        onnx_bytes = path.read_bytes()
    for warning in caught:
        message = str(warning.message)
        if not message.startswith(_QUIET_WARNINGS):
            logger.warning("The ONNX exporter warned: %s: %s", warning.category.__name__, message)
    check_onnx(onnx_bytes)
    return onnx_bytes


def check_onnx(onnx_bytes: bytes) -> onnx.ModelProto:
    """Run the full ONNX checker and check the versions Triton 24.10 can load.

    Raises:
        TrainingError: the graph is invalid, or its IR version or opset is too new.

    Example:
        >>> check_onnx(Path("model.onnx").read_bytes()).ir_version
        8
    """
    try:
        proto = onnx.load_from_string(onnx_bytes)
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise TrainingError(
            f"The exported ONNX graph fails onnx.checker (full check): {exc}. "
            "The exporter produced an invalid graph; try another opset."
        ) from exc
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if proto.ir_version > MAX_IR_VERSION or opset > MAX_OPSET:
        raise TrainingError(
            f"The exported graph has IR version {proto.ir_version} and opset {opset}; Triton "
            f"24.10's ONNX Runtime loads at most IR version {MAX_IR_VERSION} and opset "
            f"{MAX_OPSET}. Export with opset {OPSET}."
        )
    return proto


def run_onnx(
    onnx_bytes: bytes, inputs: Mapping[str, npt.NDArray[Any]]
) -> dict[str, npt.NDArray[Any]]:
    """Run the graph once with ONNX Runtime on the CPU.

    Raises:
        TrainingError: ONNX Runtime could not load or run the graph.

    Example:
        >>> run_onnx(onnx_bytes, {"features": x})["probabilities"].shape
        (16, 2)
    """
    try:
        session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, dict(inputs))
    except _ORT_ERRORS as exc:
        raise TrainingError(
            f"ONNX Runtime {ort.__version__} could not run the exported graph: {exc}"
        ) from exc
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def onnxruntime_version() -> str:
    """Return the ONNX Runtime version that runs the parity gate and the golden outputs."""
    return str(ort.__version__)
