"""A model config compared with its graph, input by input and output by output.

* ``config_problems``: every disagreement, in order (the real backend stops at the first).
* Inputs may fix a dim the graph leaves dynamic; outputs are compared exactly;
  ``max_batch_size > 0`` needs a dynamic (-1) leading dim on every tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .parameters import parameter_problems
from .problem import LoadProblem, names_text, shape_text
from .sequence_controls import control_problem, sequence_controls
from .tensor import TRITON_TO_ONNX, WILDCARD_DIM, OnnxTensor

__all__ = ["config_problems"]


def config_problems(
    config: Mapping[str, Any],
    inputs: Mapping[str, OnnxTensor],
    outputs: Mapping[str, OnnxTensor],
    overridable: Mapping[str, OnnxTensor] | None = None,
) -> list[LoadProblem]:
    """Every disagreement between a config (Triton's JSON form) and the graph, in order.

    The real backend stops at the first; an offline validator wants all of them. Each
    problem names the tensor, what the config says and what the graph provides.

    Args:
        config: the model config as Triton's JSON (``preserving_proto_field_name``).
        inputs: the graph inputs that are not initializers, by name.
        outputs: the graph outputs, by name.
        overridable: initializers that are also graph inputs, which a config may feed.

    Example:
        >>> x = OnnxTensor("x", "tensor(float)", (-1, 4))
        >>> config = {"name": "m", "max_batch_size": 8,
        ...           "input": [{"name": "x", "data_type": "TYPE_INT32", "dims": [4]}]}
        >>> [p.code for p in config_problems(config, {"x": x}, {})]
        ['dtype-mismatch']
    """
    name = str(config.get("name", "?"))
    max_batch_size = int(config.get("max_batch_size", 0))
    config_inputs = list(config.get("input", []))
    problems: list[LoadProblem | None] = list(parameter_problems(config))
    expected = sum(1 for io in config_inputs if not io.get("optional", False))
    expected += len(config.get("batch_input", []))
    # ModelInstanceState::ModelInstanceState: each sequence control tensor and each state
    # is a graph input too ("expected_input_cnt += 1" per control, += states).
    controls = sequence_controls(config)
    expected += len(controls) + len(config.get("sequence_batching", {}).get("state", []))
    for tensor_name, data_type in controls:
        problems.append(control_problem(name, tensor_name, data_type, inputs, max_batch_size))
    if len(inputs) != expected:
        problems.append(
            LoadProblem(
                "input-count",
                f"unable to load model '{name}', configuration expects {expected} inputs, "
                f"model provides {len(inputs)} (graph inputs: {names_text(inputs)}; config "
                f"inputs: {names_text([io.get('name', '') for io in config_inputs])})",
            )
        )
    allowed_inputs = {**inputs, **(overridable or {})}
    for io in config_inputs:
        problems.append(_input_problem(name, io, allowed_inputs, max_batch_size))
    for io in config.get("output", []):
        problems.append(_output_problem(name, io, outputs, max_batch_size))
    return [p for p in problems if p is not None]


def _input_problem(
    name: str,
    io: Mapping[str, Any],
    allowed_inputs: Mapping[str, OnnxTensor],
    max_batch_size: int,
) -> LoadProblem | None:
    io_name = str(io.get("name", ""))
    if io.get("optional", False) and max_batch_size != 0:
        return LoadProblem(
            "optional-input-batching",
            f"unable to load model '{name}', optional input '{io_name}' is not supported "
            "for models that support batching",
        )
    tensor = allowed_inputs.get(io_name)
    if tensor is None:
        return LoadProblem(
            "unknown-input",
            f"unable to load model '{name}', unexpected inference input '{io_name}', "
            f"allowed inputs are: {names_text(allowed_inputs)}",
        )
    ragged = bool(io.get("allow_ragged_batch", False))
    if ragged and io.get("optional", False):
        return LoadProblem(
            "ragged-input-invalid",
            f"unable to load model '{name}', configuration expects model provides input with "
            f"shape [-1] for ragged input '{io_name}', which is not supported for optional "
            "input",
        )
    return _tensor_problem(
        name, "input", io, tensor, max_batch_size, compare_exact=False, ragged=ragged
    )


def _output_problem(
    name: str, io: Mapping[str, Any], outputs: Mapping[str, OnnxTensor], max_batch_size: int
) -> LoadProblem | None:
    io_name = str(io.get("name", ""))
    tensor = outputs.get(io_name)
    if tensor is None:
        return LoadProblem(
            "unknown-output",
            f"unable to load model '{name}', unexpected inference output '{io_name}', "
            f"allowed outputs are: {names_text(outputs)}",
        )
    return _tensor_problem(name, "output", io, tensor, max_batch_size, compare_exact=True)


def _tensor_problem(
    model: str,
    kind: str,
    io: Mapping[str, Any],
    tensor: OnnxTensor,
    max_batch_size: int,
    compare_exact: bool,
    ragged: bool = False,
) -> LoadProblem | None:
    io_name = tensor.name
    dtype = str(io.get("data_type", "TYPE_INVALID"))
    if dtype not in TRITON_TO_ONNX:
        return LoadProblem(
            "dtype-unsupported",
            f"unsupported datatype {dtype} for {kind} '{io_name}' for model '{model}'",
        )
    if TRITON_TO_ONNX[dtype] != tensor.onnx_type:
        return LoadProblem(
            "dtype-mismatch",
            f"unable to load model '{model}', configuration expects datatype {dtype} for "
            f"{kind} '{io_name}', model provides {tensor.triton_type}",
        )
    if ragged:
        # ValidateInputs: a ragged input (allow_ragged_batch) must be [-1] in the graph, and
        # its config dims are not compared.
        if list(tensor.dims) != [WILDCARD_DIM]:
            return LoadProblem(
                "ragged-input-invalid",
                f"unable to load model '{model}', configuration expects model provides input "
                f"with shape [-1]  for ragged input '{io_name}', model provides "
                f"{shape_text(tensor.dims)}",
            )
        return None
    # A reshape, when given, is what the model sees; compare that with the graph.
    # Presence decides, as in the real backend (an empty reshape is a scalar shape).
    reshape = io.get("reshape")
    dims = [
        int(d) for d in (reshape.get("shape", []) if reshape is not None else io.get("dims", []))
    ]
    if not tensor.dims:
        if any(d != 1 for d in dims):
            return LoadProblem(
                "dims-mismatch",
                f"unable to load model '{model}', scalar tensor '{io_name}', should only "
                "provide 1 in the model configuration when the model doesn't support "
                f"batching. Model configuration provided: {shape_text(dims)}.",
            )
        return None
    return _dims_problem(model, io_name, list(tensor.dims), dims, max_batch_size, compare_exact)


def _dims_problem(
    model: str,
    io_name: str,
    model_shape: list[int],
    dims: list[int],
    max_batch_size: int,
    compare_exact: bool,
) -> LoadProblem | None:
    if max_batch_size > 0:
        if not model_shape or model_shape[0] != WILDCARD_DIM:
            return LoadProblem(
                "batch-dim-missing",
                f"model '{model}', tensor '{io_name}': for the model to support batching the "
                "shape should have at least 1 dimension and the first dimension must be -1; "
                f"but shape expected by the model is {shape_text(model_shape)}",
            )
        full_dims = [WILDCARD_DIM, *dims]
        if not _dims_match(model_shape, full_dims, compare_exact):
            return LoadProblem(
                "dims-mismatch",
                f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
                f"dimensions (shape {shape_text(model_shape)}) but the model configuration "
                f"specifies {len(full_dims)} dimensions (an initial batch dimension because "
                "max_batch_size > 0 followed by the explicit tensor shape, making complete "
                f"shape {shape_text(full_dims)})",
            )
    elif not _dims_match(model_shape, dims, compare_exact):
        return LoadProblem(
            "dims-mismatch",
            f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
            f"dimensions (shape {shape_text(model_shape)}) but the model configuration specifies "
            f"{len(dims)} dimensions (shape {shape_text(dims)})",
        )
    return None


def _dims_match(model_shape: list[int], dims: list[int], compare_exact: bool) -> bool:
    if len(model_shape) != len(dims):
        return False
    return all(
        m == d for m, d in zip(model_shape, dims, strict=True) if compare_exact or m != WILDCARD_DIM
    )
