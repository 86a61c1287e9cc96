"""Sequence batching's control tensors, which the backend expects as graph inputs.

* ``sequence_controls``: each START/END/READY/CORRID control's tensor and data type.
* ``control_problem``: a control tensor the graph lacks, or has with other dims or type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .problem import LoadProblem, names_text, shape_text
from .tensor import TRITON_TO_ONNX, OnnxTensor

__all__ = ["control_problem", "sequence_controls"]

_BOOLEAN_CONTROLS = {
    "CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_END", "CONTROL_SEQUENCE_READY",
}  # fmt: skip


def sequence_controls(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(tensor name, Triton data type) of each START/END/READY/CORRID control tensor.

    Example:
        >>> config = {"sequence_batching": {"control_input": [
        ...     {"name": "start", "control": [{"kind": "CONTROL_SEQUENCE_START"}]}]}}
        >>> sequence_controls(config)
        [('start', 'TYPE_BOOL')]
    """
    found = []
    for control_input in config.get("sequence_batching", {}).get("control_input", []):
        for control in control_input.get("control", []):
            kind = str(control.get("kind", "CONTROL_SEQUENCE_START"))
            if kind in _BOOLEAN_CONTROLS:
                # GetBooleanSequenceControlProperties: the type follows the false/true list.
                data_type = (
                    "TYPE_INT32"
                    if control.get("int32_false_true")
                    else "TYPE_FP32"
                    if control.get("fp32_false_true")
                    else "TYPE_BOOL"
                )
            elif kind == "CONTROL_SEQUENCE_CORRID":
                data_type = str(control.get("data_type", "TYPE_INVALID"))
            else:
                continue
            found.append((str(control_input.get("name", "")), data_type))
    return found


def control_problem(
    model: str,
    tensor_name: str,
    data_type: str,
    inputs: Mapping[str, OnnxTensor],
    max_batch_size: int,
) -> LoadProblem | None:
    """Why the graph's input ``tensor_name`` cannot be this sequence control, or None.

    Follows ``ValidateBooleanSequenceControl`` / ``ValidateTypedSequenceControl``
    (onnxruntime.cc): the graph has the input, with dims ``[1]`` (after the batch dim) and
    the control's data type.

    Example:
        >>> control_problem("m", "start", "TYPE_BOOL", {}, 8).code
        'sequence-control-missing'
    """
    tensor = inputs.get(tensor_name)
    if tensor is None:
        return LoadProblem(
            "sequence-control-missing",
            f"configuration specified sequence control '{tensor_name}', but model does not "
            f"provide that input (graph inputs: {names_text(inputs)})",
        )
    dims = list(tensor.dims[1:] if max_batch_size > 0 else tensor.dims)
    if dims != [1]:
        return LoadProblem(
            "sequence-control-invalid",
            f"unable to load model '{model}', sequence control '{tensor_name}' in model has "
            f"dims {shape_text(dims)} but dims [1] is expected",
        )
    if TRITON_TO_ONNX.get(data_type) != tensor.onnx_type:
        return LoadProblem(
            "sequence-control-invalid",
            f"unable to load model '{model}', sequence control '{tensor_name}', the model "
            f"expects data-type {tensor.triton_type} but the model configuration specifies "
            f"data-type {data_type}",
        )
    return None
