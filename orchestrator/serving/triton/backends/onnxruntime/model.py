"""CPU stand-in for Triton's onnxruntime backend, as a Triton Python-based backend.

Triton runs this file for every model whose config says ``backend: "onnxruntime"`` when
the backend directory holds ``onnxruntime/model.py`` instead of the real
``libtriton_onnxruntime.so``. It serves the very same production configs:

* At load it makes the checks the real backend makes in ``ModelInstanceState``
  (``ValidateInputs``/``ValidateOutputs`` in ``src/onnxruntime.cc`` and
  ``CompareDimsSupported`` in backend_common): the number of inputs, every config input
  and output must exist in the graph, with the same data type and compatible dims, and
  ``max_batch_size > 0`` needs a dynamic (-1) leading dimension on every tensor. Inputs
  may fix a dim the graph leaves dynamic; outputs are compared exactly. A config that
  production would refuse is refused here too, with the tensor and both sides named.
* It honours ``default_model_filename`` and the ``intra_op_thread_count`` /
  ``inter_op_thread_count`` parameters, and uses the CUDA provider for ``KIND_GPU``
  instances when ``onnxruntime-gpu`` is installed.
* All requests of one ``execute`` call run as one ONNX Runtime batch.

The module imports without Triton (for the checks alone): ``pb_utils`` is only needed
inside ``initialize`` and ``execute``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # imported outside Triton, e.g. by tests of the checks
    pb_utils = None

__all__ = [
    "LoadError",
    "OnnxTensor",
    "TritonPythonModel",
    "check_config",
    "config_problems",
    "session_tensors",
]

WILDCARD_DIM = -1

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


class LoadError(Exception):
    """Raised when the config and the ONNX graph disagree; Triton then refuses the load."""

    def __init__(self, message: str, code: str = "load-refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OnnxTensor:
    """One graph input or output as ONNX Runtime reports it (-1 for symbolic dims)."""

    name: str
    onnx_type: str
    dims: tuple[int, ...]

    @property
    def triton_type(self) -> str:
        """The Triton data type name, or the ONNX type string when Triton has none."""
        return ONNX_TO_TRITON.get(self.onnx_type, self.onnx_type)


def session_tensors(
    session: ort.InferenceSession,
) -> tuple[dict[str, OnnxTensor], dict[str, OnnxTensor], dict[str, OnnxTensor]]:
    """Inputs, outputs and overridable initializers of a session, by name.

    Raises:
        LoadError: a graph input or output is not a tensor (a sequence or map, such as a
            scikit-learn ZipMap output), which the real backend cannot serve either.
    """

    def collect(args: Sequence[Any], kind: str) -> dict[str, OnnxTensor]:
        tensors = {}
        for arg in args:
            if not arg.type.startswith("tensor("):
                raise LoadError(
                    f"Unsupported ONNX Type '{arg.type}' for {kind} '{arg.name}', expected a "
                    "tensor. Triton's onnxruntime backend serves tensors only; export without "
                    "sequence or map outputs (for scikit-learn classifiers: zipmap=False).",
                    code="unsupported-tensor-type",
                )
            dims = tuple(d if isinstance(d, int) else WILDCARD_DIM for d in (arg.shape or []))
            tensors[arg.name] = OnnxTensor(arg.name, arg.type, dims)
        return tensors

    return (
        collect(session.get_inputs(), "input"),
        collect(session.get_outputs(), "output"),
        collect(session.get_overridable_initializers(), "input"),
    )


def check_config(
    config: Mapping[str, Any],
    inputs: Mapping[str, OnnxTensor],
    outputs: Mapping[str, OnnxTensor],
    overridable: Mapping[str, OnnxTensor] | None = None,
) -> None:
    """Compare a model config (Triton's JSON form) with the graph as the real backend does.

    Raises:
        LoadError: the first problem (see ``config_problems``), naming the tensor, what
            the config says and what the graph provides.
    """
    problems = config_problems(config, inputs, outputs, overridable)
    if problems:
        raise problems[0]


def config_problems(
    config: Mapping[str, Any],
    inputs: Mapping[str, OnnxTensor],
    outputs: Mapping[str, OnnxTensor],
    overridable: Mapping[str, OnnxTensor] | None = None,
) -> list[LoadError]:
    """Every disagreement between a config and the graph, in the real backend's order.

    The real backend stops at the first; an offline validator wants all of them. Each
    error carries a stable ``code``.
    """
    name = str(config.get("name", "?"))
    max_batch_size = int(config.get("max_batch_size", 0))
    config_inputs = list(config.get("input", []))
    problems: list[LoadError] = []
    expected = sum(1 for io in config_inputs if not io.get("optional", False))
    expected += len(config.get("batch_input", []))
    if len(inputs) != expected:
        problems.append(
            LoadError(
                f"unable to load model '{name}', configuration expects {expected} inputs, "
                f"model provides {len(inputs)} (graph inputs: {_names(inputs)}; config "
                f"inputs: {_names([io.get('name', '') for io in config_inputs])})",
                code="input-count",
            )
        )
    allowed_inputs = {**inputs, **(overridable or {})}
    for io in config_inputs:
        try:
            _check_input(name, io, allowed_inputs, max_batch_size)
        except LoadError as exc:
            problems.append(exc)
    for io in config.get("output", []):
        io_name = str(io.get("name", ""))
        tensor = outputs.get(io_name)
        try:
            if tensor is None:
                raise LoadError(
                    f"unable to load model '{name}', unexpected inference output '{io_name}', "
                    f"allowed outputs are: {_names(outputs)}",
                    code="unknown-output",
                )
            _check_tensor(name, "output", io, tensor, max_batch_size, compare_exact=True)
        except LoadError as exc:
            problems.append(exc)
    return problems


def _check_input(
    name: str,
    io: Mapping[str, Any],
    allowed_inputs: Mapping[str, OnnxTensor],
    max_batch_size: int,
) -> None:
    io_name = str(io.get("name", ""))
    if io.get("optional", False) and max_batch_size != 0:
        raise LoadError(
            f"unable to load model '{name}', optional input '{io_name}' is not supported "
            "for models that support batching",
            code="optional-input-batching",
        )
    tensor = allowed_inputs.get(io_name)
    if tensor is None:
        raise LoadError(
            f"unable to load model '{name}', unexpected inference input '{io_name}', "
            f"allowed inputs are: {_names(allowed_inputs)}",
            code="unknown-input",
        )
    _check_tensor(name, "input", io, tensor, max_batch_size, compare_exact=False)


def _check_tensor(
    model: str,
    kind: str,
    io: Mapping[str, Any],
    tensor: OnnxTensor,
    max_batch_size: int,
    compare_exact: bool,
) -> None:
    io_name = tensor.name
    dtype = str(io.get("data_type", "TYPE_INVALID"))
    if dtype not in TRITON_TO_ONNX:
        raise LoadError(
            f"unsupported datatype {dtype} for {kind} '{io_name}' for model '{model}'",
            code="dtype-unsupported",
        )
    if TRITON_TO_ONNX[dtype] != tensor.onnx_type:
        raise LoadError(
            f"unable to load model '{model}', configuration expects datatype {dtype} for "
            f"{kind} '{io_name}', model provides {tensor.triton_type}",
            code="dtype-mismatch",
        )
    # A reshape, when given, is what the model sees; compare that with the graph.
    # Presence decides, as in the real backend (an empty reshape is a scalar shape).
    reshape = io.get("reshape")
    dims = [
        int(d) for d in (reshape.get("shape", []) if reshape is not None else io.get("dims", []))
    ]
    if not tensor.dims:
        if any(d != 1 for d in dims):
            raise LoadError(
                f"unable to load model '{model}', scalar tensor '{io_name}', should only "
                "provide 1 in the model configuration when the model doesn't support "
                f"batching. Model configuration provided: {_shape(dims)}.",
                code="dims-mismatch",
            )
        return
    _compare_dims(model, io_name, list(tensor.dims), dims, max_batch_size, compare_exact)


def _compare_dims(
    model: str,
    io_name: str,
    model_shape: list[int],
    dims: list[int],
    max_batch_size: int,
    compare_exact: bool,
) -> None:
    if max_batch_size > 0:
        if not model_shape or model_shape[0] != WILDCARD_DIM:
            raise LoadError(
                f"model '{model}', tensor '{io_name}': for the model to support batching the "
                "shape should have at least 1 dimension and the first dimension must be -1; "
                f"but shape expected by the model is {_shape(model_shape)}",
                code="batch-dim-missing",
            )
        full_dims = [WILDCARD_DIM, *dims]
        if not _dims_match(model_shape, full_dims, compare_exact):
            raise LoadError(
                f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
                f"dimensions (shape {_shape(model_shape)}) but the model configuration "
                f"specifies {len(full_dims)} dimensions (an initial batch dimension because "
                "max_batch_size > 0 followed by the explicit tensor shape, making complete "
                f"shape {_shape(full_dims)})",
                code="dims-mismatch",
            )
    elif not _dims_match(model_shape, dims, compare_exact):
        raise LoadError(
            f"model '{model}', tensor '{io_name}': the model expects {len(model_shape)} "
            f"dimensions (shape {_shape(model_shape)}) but the model configuration specifies "
            f"{len(dims)} dimensions (shape {_shape(dims)})",
            code="dims-mismatch",
        )


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


def _parameter(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get("parameters", {}).get(key)
    return None if value is None else str(value.get("string_value", ""))


def _session_options(config: Mapping[str, Any]) -> ort.SessionOptions:
    options = ort.SessionOptions()
    for key, attribute in (
        ("intra_op_thread_count", "intra_op_num_threads"),
        ("inter_op_thread_count", "inter_op_num_threads"),
    ):
        value = _parameter(config, key)
        if value is not None:
            try:
                setattr(options, attribute, int(value))
            except ValueError as exc:
                raise LoadError(
                    f"unable to load model '{config.get('name')}', parameter '{key}' must be an "
                    f"integer, got {value!r}"
                ) from exc
    return options


def _providers(instance_kind: str, device_id: int) -> list[Any]:
    if instance_kind == "GPU" and "CUDAExecutionProvider" in ort.get_available_providers():
        return [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _to_onnx(array: NDArray[Any]) -> NDArray[Any]:
    # Triton hands BYTES as an object array of bytes; ONNX Runtime wants str.
    if array.dtype == np.object_:
        flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel()]
        return np.array(flat, dtype=object).reshape(array.shape)
    return array


def _to_triton(array: NDArray[Any]) -> NDArray[Any]:
    if array.dtype == np.object_ or array.dtype.kind == "U":
        flat = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.ravel()]
        return np.array(flat, dtype=np.object_).reshape(array.shape)
    return array


class TritonPythonModel:
    """One model instance: an ONNX Runtime session checked against the model config."""

    def initialize(self, args: dict[str, str]) -> None:
        """Open the version's ONNX file and refuse configs the real backend would refuse."""
        self._config = json.loads(args["model_config"])
        filename = self._config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        if not os.path.isfile(path):
            raise LoadError(
                f"unable to load model '{args['model_name']}': model file {path} not found "
                f"(default_model_filename is {filename!r})"
            )
        providers = _providers(args["model_instance_kind"], int(args["model_instance_device_id"]))
        try:
            self._session = ort.InferenceSession(
                path, sess_options=_session_options(self._config), providers=providers
            )
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:
            raise LoadError(
                f"unable to load model '{args['model_name']}': ONNX Runtime could not open "
                f"{path}: {exc}"
            ) from exc
        inputs, outputs, overridable = session_tensors(self._session)
        check_config(self._config, inputs, outputs, overridable)
        self._max_batch_size = int(self._config.get("max_batch_size", 0))
        self._output_names = [str(io["name"]) for io in self._config.get("output", [])]
        self._output_dims = {
            str(io["name"]): [int(d) for d in io.get("dims", [])]
            for io in self._config.get("output", [])
        }
        self._scalar_outputs = {name for name, t in outputs.items() if not t.dims}

    def execute(self, requests: list[Any]) -> list[Any]:
        """Run all requests as one batch (or one by one when they cannot be stacked)."""
        feeds = [self._feeds(request) for request in requests]
        if self._max_batch_size > 0 and len(requests) > 1:
            try:
                return self._run_batched(requests, feeds)
            except ValueError:
                pass  # ragged non-batch dims: the inputs do not stack, run them apart
        return [self._run_one(request, feed) for request, feed in zip(requests, feeds, strict=True)]

    def finalize(self) -> None:
        """Release the ONNX Runtime session."""
        self._session = None

    def _feeds(self, request: Any) -> dict[str, NDArray[Any]]:
        feeds = {}
        for io in self._config.get("input", []):
            tensor = pb_utils.get_input_tensor_by_name(request, io["name"])
            if tensor is not None:
                feeds[io["name"]] = _to_onnx(tensor.as_numpy())
        return feeds

    def _run_batched(self, requests: list[Any], feeds: list[dict[str, NDArray[Any]]]) -> list[Any]:
        sizes = [next(iter(feed.values())).shape[0] if feed else 0 for feed in feeds]
        stacked = {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}
        try:
            results = self._session.run(self._output_names, stacked)
        except Exception as exc:  # noqa: BLE001 - every ONNX Runtime failure becomes an error response
            return [self._error(exc) for _ in requests]
        bounds = np.cumsum([0, *sizes])
        responses = []
        for i, request in enumerate(requests):
            per_request = [result[bounds[i] : bounds[i + 1]] for result in results]
            responses.append(self._response(request, per_request))
        return responses

    def _run_one(self, request: Any, feed: dict[str, NDArray[Any]]) -> Any:
        try:
            results = self._session.run(self._output_names, feed)
        except Exception as exc:  # noqa: BLE001 - every ONNX Runtime failure becomes an error response
            return self._error(exc)
        return self._response(request, results)

    def _response(self, request: Any, results: list[NDArray[Any]]) -> Any:
        wanted = set(request.requested_output_names()) or set(self._output_names)
        tensors = []
        for name, value in zip(self._output_names, results, strict=True):
            if name not in wanted:
                continue
            if name in self._scalar_outputs and value.ndim == 0:
                # The real backend reports a scalar output with the dims of the config.
                value = value.reshape(self._output_dims[name])
            tensors.append(pb_utils.Tensor(name, _to_triton(np.asarray(value))))
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def _error(self, exc: Exception) -> Any:
        return pb_utils.InferenceResponse(
            output_tensors=[],
            error=pb_utils.TritonError(f"onnxruntime failed to run the model: {exc}"),
        )
