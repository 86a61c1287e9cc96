"""The load-time checks of Triton's onnxruntime backend, in the standard library only.

The real backend compares a model config with the ONNX graph when it loads a model
(``ValidateInputs``/``ValidateOutputs`` in ``src/onnxruntime.cc`` and
``CompareDimsSupported`` in backend_common): the number of inputs, every config input and
output must exist in the graph, with the same data type and compatible dims, and
``max_batch_size > 0`` needs a dynamic (-1) leading dimension on every tensor. Inputs may
fix a dim the graph leaves dynamic; outputs are compared exactly.

Two callers share these rules, so the offline validator and the local server always agree:
``publish`` and ``validate`` (offline, from the graph as ``onnx`` reads it), and the CPU
stand-in backend (inside Triton, from the graph as ONNX Runtime reports it), which gets
a copy of this file beside its ``model.py``. Hence the standard library only: no numpy, no
ONNX Runtime and no ``orchestrator`` import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CPU_ACCELERATORS",
    "DEFAULT_MAX_BATCH_SIZE",
    "GPU_ACCELERATORS",
    "ONNX_TO_TRITON",
    "TRITON_TO_ONNX",
    "WILDCARD_DIM",
    "LoadProblem",
    "OnnxTensor",
    "autocomplete_config",
    "config_problems",
    "needs_autocomplete",
    "parameter_problems",
    "tensor_type_problems",
]

WILDCARD_DIM = -1

# Triton core's default for the backend setting "default-max-batch-size"
# (TritonModel::SetBackendConfigDefaults), which the backend's AutoCompleteMaxBatch uses.
DEFAULT_MAX_BATCH_SIZE = 4

# Triton config data type -> ONNX Runtime type string. The real backend's
# ModelConfigDataTypeToOnnxDataType knows exactly these.
TRITON_TO_ONNX: dict[str, str] = {
    "TYPE_BOOL": "tensor(bool)",
    "TYPE_UINT8": "tensor(uint8)",
    "TYPE_UINT16": "tensor(uint16)",
    "TYPE_UINT32": "tensor(uint32)",
    "TYPE_UINT64": "tensor(uint64)",
    "TYPE_INT8": "tensor(int8)",
    "TYPE_INT16": "tensor(int16)",
    "TYPE_INT32": "tensor(int32)",
    "TYPE_INT64": "tensor(int64)",
    "TYPE_FP16": "tensor(float16)",
    "TYPE_FP32": "tensor(float)",
    "TYPE_FP64": "tensor(double)",
    "TYPE_STRING": "tensor(string)",
}
ONNX_TO_TRITON: dict[str, str] = {onnx: triton for triton, onnx in TRITON_TO_ONNX.items()}


@dataclass(frozen=True)
class OnnxTensor:
    """One graph input or output as ONNX Runtime reports it (-1 for symbolic dims).

    Example:
        >>> OnnxTensor("x", "tensor(float)", (-1, 4)).triton_type
        'TYPE_FP32'
    """

    name: str
    onnx_type: str
    dims: tuple[int, ...]

    @property
    def triton_type(self) -> str:
        """The Triton data type name, or the ONNX type string when Triton has none."""
        return ONNX_TO_TRITON.get(self.onnx_type, self.onnx_type)


@dataclass(frozen=True)
class LoadProblem:
    """One reason the backend refuses a model: a stable ``code`` and the backend's message.

    ``str()`` of a problem is its message, worded as the real backend words it.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def tensor_type_problems(
    inputs: Mapping[str, OnnxTensor],
    outputs: Mapping[str, OnnxTensor],
    overridable: Mapping[str, OnnxTensor] | None = None,
) -> list[LoadProblem]:
    """Graph inputs and outputs that are not tensors (a sequence or a map, such as ZipMap).

    The real backend cannot serve them; it refuses the model before comparing the config.

    Example:
        >>> zipmap = OnnxTensor("probs", "seq(map(int64,tensor(float)))", ())
        >>> [p.code for p in tensor_type_problems({}, {"probs": zipmap})]
        ['unsupported-tensor-type']
    """
    problems = []
    for kind, tensors in (("input", inputs), ("output", outputs), ("input", overridable or {})):
        for tensor in tensors.values():
            if not tensor.onnx_type.startswith("tensor("):
                problems.append(
                    LoadProblem(
                        "unsupported-tensor-type",
                        f"Unsupported ONNX Type '{tensor.onnx_type}' for {kind} "
                        f"'{tensor.name}', expected a tensor. Triton's onnxruntime backend "
                        "serves tensors only; export without sequence or map outputs (for "
                        "scikit-learn classifiers: zipmap=False).",
                    )
                )
    return problems


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
    controls = _sequence_controls(config)
    expected += len(controls) + len(config.get("sequence_batching", {}).get("state", []))
    for tensor_name, data_type in controls:
        problems.append(_control_problem(name, tensor_name, data_type, inputs, max_batch_size))
    if len(inputs) != expected:
        problems.append(
            LoadProblem(
                "input-count",
                f"unable to load model '{name}', configuration expects {expected} inputs, "
                f"model provides {len(inputs)} (graph inputs: {_names(inputs)}; config "
                f"inputs: {_names([io.get('name', '') for io in config_inputs])})",
            )
        )
    allowed_inputs = {**inputs, **(overridable or {})}
    for io in config_inputs:
        problems.append(_input_problem(name, io, allowed_inputs, max_batch_size))
    for io in config.get("output", []):
        problems.append(_output_problem(name, io, outputs, max_batch_size))
    return [p for p in problems if p is not None]


# backend_common.cc ParseBoolValue (backend r24.10): lower-cased, exactly these spellings.
_BOOL_SPELLINGS = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
# onnxruntime.cc ModelState::CreateSession reads these two with ParseBoolValue.
_BOOL_PARAMETERS = ("enable_mem_arena", "enable_mem_pattern")
# onnxruntime.cc: the CPU accelerators a 24.10 build knows (TRITON_ENABLE_ONNXRUNTIME_OPENVINO);
# any other name is "unknown Execution Accelerator '<name>' is requested".
CPU_ACCELERATORS = ("openvino",)
# The GPU ones (TRITON_ENABLE_ONNXRUNTIME_TENSORRT, and "cuda"), read for GPU instances only.
GPU_ACCELERATORS = ("tensorrt", "cuda")
_BOOLEAN_CONTROLS = {
    "CONTROL_SEQUENCE_START", "CONTROL_SEQUENCE_END", "CONTROL_SEQUENCE_READY",
}  # fmt: skip


def parameter_problems(config: Mapping[str, Any]) -> list[LoadProblem]:
    """The onnxruntime backend's parameters and CPU accelerators that it refuses at load.

    ``enable_mem_arena`` and ``enable_mem_pattern`` go through ``ParseBoolValue`` (true, on,
    1, false, off, 0, in any case); a CPU execution accelerator must be one the build knows.

    Example:
        >>> config = {"parameters": {"enable_mem_arena": {"string_value": "yes"}}}
        >>> [p.code for p in parameter_problems(config)]
        ['parameter-invalid']
    """
    problems = []
    parameters = config.get("parameters", {})
    for key in _BOOL_PARAMETERS:
        if key in parameters:
            value = str(parameters[key].get("string_value", ""))
            if value.lower() not in _BOOL_SPELLINGS:
                problems.append(
                    LoadProblem(
                        "parameter-invalid",
                        f"unable to load model '{config.get('name', '?')}': parameter "
                        f"'{key}': failed to convert '{value}' to boolean (the backend accepts "
                        "true/on/1 or false/off/0)",
                    )
                )
    accelerators = config.get("optimization", {}).get("execution_accelerators", {})
    for accelerator in accelerators.get("cpu_execution_accelerator", []):
        name = str(accelerator.get("name", ""))
        if name not in CPU_ACCELERATORS:
            problems.append(
                LoadProblem(
                    "accelerator-unknown",
                    f"unknown Execution Accelerator '{name}' is requested (CPU accelerators "
                    f"the onnxruntime backend knows: {', '.join(CPU_ACCELERATORS)})",
                )
            )
    return problems


def _sequence_controls(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(tensor name, Triton data type) of each START/END/READY/CORRID control tensor."""
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


def _control_problem(
    model: str,
    tensor_name: str,
    data_type: str,
    inputs: Mapping[str, OnnxTensor],
    max_batch_size: int,
) -> LoadProblem | None:
    # ValidateBooleanSequenceControl / ValidateTypedSequenceControl (onnxruntime.cc).
    tensor = inputs.get(tensor_name)
    if tensor is None:
        return LoadProblem(
            "sequence-control-missing",
            f"configuration specified sequence control '{tensor_name}', but model does not "
            f"provide that input (graph inputs: {_names(inputs)})",
        )
    dims = list(tensor.dims[1:] if max_batch_size > 0 else tensor.dims)
    if dims != [1]:
        return LoadProblem(
            "sequence-control-invalid",
            f"unable to load model '{model}', sequence control '{tensor_name}' in model has "
            f"dims {_shape(dims)} but dims [1] is expected",
        )
    if TRITON_TO_ONNX.get(data_type) != tensor.onnx_type:
        return LoadProblem(
            "sequence-control-invalid",
            f"unable to load model '{model}', sequence control '{tensor_name}', the model "
            f"expects data-type {tensor.triton_type} but the model configuration specifies "
            f"data-type {data_type}",
        )
    return None


def needs_autocomplete(config: Mapping[str, Any]) -> bool:
    """Whether the backend's ``AutoCompleteConfig`` changes anything: no inputs or no outputs.

    "If the model configuration already specifies inputs and outputs then don't perform any
    auto-completion" (``batch_input`` entries count as inputs).

    Example:
        >>> needs_autocomplete({"input": [{"name": "x"}], "output": []})
        True
    """
    inputs = len(config.get("input", [])) + len(config.get("batch_input", []))
    return inputs == 0 or len(config.get("output", [])) == 0


def autocomplete_config(
    config: Mapping[str, Any],
    inputs: Mapping[str, OnnxTensor],
    outputs: Mapping[str, OnnxTensor],
    default_max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
) -> tuple[dict[str, Any], list[LoadProblem]]:
    """The config as the real backend's ``AutoCompleteConfig`` completes it from the graph.

    Follows ``ModelState::AutoCompleteConfig``, ``AutoCompleteMaxBatch`` and
    ``AutoCompleteIO`` of the onnxruntime backend (``src/onnxruntime.cc``): nothing when the
    config has inputs and outputs; else a graph whose every tensor has a leading -1 can
    batch, and a ``max_batch_size`` of 0 becomes ``default_max_batch_size`` (with
    ``dynamic_batching`` added when it is above 1); a graph that cannot batch with a
    non-zero ``max_batch_size`` is refused; missing inputs or outputs are taken from the
    graph (batch dim dropped, ``dims: [1]`` with an empty reshape for a batched scalar).

    Example:
        >>> x = OnnxTensor("x", "tensor(float)", (-1, 4))
        >>> completed, _ = autocomplete_config({"name": "m"}, {"x": x}, {"y": x})
        >>> completed["max_batch_size"], completed["input"][0]["dims"]
        (4, [4])
    """
    completed = {key: value for key, value in config.items()}
    if not needs_autocomplete(config):
        return completed, []
    tensors = [*inputs.values(), *outputs.values()]
    can_batch = all(t.dims and t.dims[0] == WILDCARD_DIM for t in tensors)
    max_batch_size = int(completed.get("max_batch_size", 0))
    if can_batch:
        if max_batch_size == 0:
            max_batch_size = max(default_max_batch_size, 0)
            completed["max_batch_size"] = max_batch_size
        if max_batch_size > 1 and not (
            "sequence_batching" in completed or "dynamic_batching" in completed
        ):
            completed["dynamic_batching"] = {}
    elif max_batch_size != 0:
        return completed, [
            LoadProblem(
                "autocomplete-batching",
                f"autofill failed for model '{completed.get('name', '?')}': model does not "
                "support batching while non-zero max_batch_size is specified",
            )
        ]
    if len(config.get("input", [])) + len(config.get("batch_input", [])) == 0:
        completed["input"] = [_completed_io(t, max_batch_size) for t in inputs.values()]
    if not config.get("output", []):
        completed["output"] = [_completed_io(t, max_batch_size) for t in outputs.values()]
    return completed, []


def _completed_io(tensor: OnnxTensor, max_batch_size: int) -> dict[str, Any]:
    dims = list(tensor.dims[1:] if max_batch_size > 0 else tensor.dims)
    io: dict[str, Any] = {"name": tensor.name, "data_type": tensor.triton_type}
    if tensor.triton_type == tensor.onnx_type:
        io["data_type"] = "TYPE_INVALID"  # OnnxDataTypeToModelConfigDataType's default
    if not dims:
        dims = [1]
        if max_batch_size > 0:
            io["reshape"] = {"shape": []}
    io["dims"] = dims
    return io


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
            f"allowed inputs are: {_names(allowed_inputs)}",
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
            f"allowed outputs are: {_names(outputs)}",
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
                f"{_shape(tensor.dims)}",
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
                f"batching. Model configuration provided: {_shape(dims)}.",
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
                f"but shape expected by the model is {_shape(model_shape)}",
            )
        full_dims = [WILDCARD_DIM, *dims]
        if not _dims_match(model_shape, full_dims, compare_exact):
            return LoadProblem(
                "dims-mismatch",
                f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
                f"dimensions (shape {_shape(model_shape)}) but the model configuration "
                f"specifies {len(full_dims)} dimensions (an initial batch dimension because "
                "max_batch_size > 0 followed by the explicit tensor shape, making complete "
                f"shape {_shape(full_dims)})",
            )
    elif not _dims_match(model_shape, dims, compare_exact):
        return LoadProblem(
            "dims-mismatch",
            f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
            f"dimensions (shape {_shape(model_shape)}) but the model configuration specifies "
            f"{len(dims)} dimensions (shape {_shape(dims)})",
        )
    return None


def _dims_match(model_shape: list[int], dims: list[int], compare_exact: bool) -> bool:
    if len(model_shape) != len(dims):
        return False
    return all(
        m == d for m, d in zip(model_shape, dims, strict=True) if compare_exact or m != WILDCARD_DIM
    )


def _shape(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def _names(items: Mapping[str, Any] | Sequence[str]) -> str:
    return ", ".join(sorted(items)) or "(none)"
