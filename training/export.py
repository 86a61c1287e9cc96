"""Export any ``torch.nn.Module`` to ONNX, check the graph, and gate it on parity.

The only module of ``training`` that calls ``torch.onnx`` and ONNX Runtime.

Why the TorchScript exporter: torch 2.13's default exporter (``dynamo=True``) needs the
``onnxscript`` package, which is not a dependency here; the TorchScript exporter
(``dynamo=False``) has no extra dependency, handles these models, and honours a pinned
opset. It warns that it is deprecated; ``export_onnx`` keeps that one warning quiet and
logs every other exporter warning (a ``TracerWarning`` hints at a graph that differs from
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

from training.errors import ParityError, TrainingError
from training.parity import DEFAULT_ATOL, DEFAULT_RTOL, ParityReport, compare_batches

__all__ = [
    "MAX_IR_VERSION",
    "MAX_OPSET",
    "OPSET",
    "PARITY_BATCH_SIZES",
    "check_onnx",
    "check_parity",
    "export_onnx",
    "parity_batches",
    "require_parity",
    "run_onnx",
    "run_torch",
]

logger = logging.getLogger(__name__)

# Triton 24.10 (the release served here) runs ONNX Runtime 1.19, which loads up to opset 21
# and IR version 10. Opset 17 is well inside that and fully supported by the exporter.
OPSET = 17
MAX_OPSET = 21
MAX_IR_VERSION = 10
PARITY_BATCH_SIZES = (1, 7, 64)
BATCH_DIM = "batch"

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


def run_torch(
    model: torch.nn.Module,
    inputs: Mapping[str, npt.NDArray[Any]],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> dict[str, npt.NDArray[Any]]:
    """Run ``model`` in eval mode on the CPU without gradients; outputs keyed by name.

    Example:
        >>> run_torch(model, {"input": x}, ["input"], ["probabilities"])["probabilities"].shape
        (16, 10)
    """
    model.eval()
    with torch.no_grad():
        result = model(*(torch.from_numpy(np.ascontiguousarray(inputs[n])) for n in input_names))
    tensors = result if isinstance(result, tuple | list) else (result,)
    if len(tensors) != len(output_names):
        raise TrainingError(
            f"{type(model).__name__} returned {len(tensors)} output(s); expected "
            f"{len(output_names)} ({', '.join(output_names)})."
        )
    return {name: t.detach().cpu().numpy() for name, t in zip(output_names, tensors, strict=True)}


def parity_batches(
    held_out: Mapping[str, npt.NDArray[Any]],
    *,
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
    seed: int = 0,
) -> dict[str, dict[str, npt.NDArray[Any]]]:
    """Return the held-out inputs as one batch, plus random batches of several sizes.

    Random values are drawn uniformly between the per-element minimum and maximum of the
    held-out inputs, so they exercise the graph over the range it will see.

    Example:
        >>> sorted(parity_batches({"features": x}))
        ['held-out[114]', 'random[1]', 'random[64]', 'random[7]']
    """
    rng = np.random.default_rng(seed)
    rows = {len(a) for a in held_out.values()}
    batches = {f"held-out[{rows.pop()}]": dict(held_out)}
    for size in batch_sizes:
        batch = {}
        for name, array in held_out.items():
            low, high = array.min(axis=0), array.max(axis=0)
            sample = rng.uniform(size=(size, *array.shape[1:]))
            batch[name] = (low + sample * (high - low)).astype(array.dtype)
        batches[f"random[{size}]"] = batch
    return batches


def check_parity(
    model: torch.nn.Module,
    onnx_bytes: bytes,
    batches: Mapping[str, Mapping[str, npt.NDArray[Any]]],
    input_names: Sequence[str],
    output_names: Sequence[str],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ParityReport:
    """Run PyTorch (the reference) and ONNX Runtime on every batch and compare the outputs.

    A batch that ONNX Runtime cannot run (a batch size baked into the graph, say) counts
    as a failure of every output, with ONNX Runtime's message as the detail.

    Returns:
        The report; check ``report.passed`` or call ``require_parity``.

    Example:
        >>> check_parity(model, onnx_bytes, parity_batches({"input": x}), ["input"],
        ...              ["probabilities"]).passed
        True
    """
    reference = {}
    candidate: dict[str, dict[str, npt.NDArray[Any] | str]] = {}
    for label, inputs in batches.items():
        reference[label] = run_torch(model, inputs, input_names, output_names)
        try:
            candidate[label] = dict(run_onnx(onnx_bytes, inputs))
        except TrainingError as exc:
            candidate[label] = {name: str(exc) for name in output_names}
    return compare_batches(reference, candidate, rtol=rtol, atol=atol)


def require_parity(report: ParityReport, model_name: str) -> None:
    """Raise ``ParityError`` naming the worst output unless every output agreed.

    Example:
        >>> require_parity(report, "digits_cnn")  # silent when report.passed
    """
    if report.passed:
        return
    raise ParityError(
        f"Parity gate failed for {model_name!r}: ONNX Runtime disagrees with PyTorch on "
        f"{report.describe_failure()}. No bundle was written. Look for operations the "
        "exporter traces differently from eager PyTorch (data-dependent Python control "
        "flow, sizes turned into Python ints), or export with another opset.",
        report,
    )
