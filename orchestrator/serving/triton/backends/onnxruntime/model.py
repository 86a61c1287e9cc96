"""CPU stand-in for Triton's onnxruntime backend, as a Triton Python-based backend.

Triton runs this file for every model whose config says ``backend: "onnxruntime"`` when
the backend directory holds ``onnxruntime/model.py`` instead of the real
``libtriton_onnxruntime.so``. It serves the very same production configs:

* At load it refuses what the real backend refuses, with the real backend's message: the
  checks are ``load_rules/`` (``orchestrator.core.load_rules``, standard library only),
  which ``assemble_backend_dir`` copies beside this file, so the offline validator and
  this backend apply one set of rules.
* It honours ``default_model_filename`` and the ``intra_op_thread_count`` /
  ``inter_op_thread_count`` parameters, and uses the CUDA provider for ``KIND_GPU``
  instances when ``onnxruntime-gpu`` is installed.
* All requests of one ``execute`` call run as one ONNX Runtime batch.
* On a server with auto-complete on (no ``--disable-auto-complete-config``) it completes a
  config without inputs or outputs from the graph as the real backend does
  (``load_rules.autocomplete_config``); the graph is the file the python backend names as
  the stub's first argument (``<model>/<version>/<default_model_filename>``).

The module imports without Triton (``session_tensors`` alone): ``pb_utils`` is only
needed inside ``initialize`` and ``execute``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # imported outside Triton, e.g. by tests of session_tensors
    pb_utils = None

__all__ = ["TritonPythonModel", "session_tensors"]


def _load_rules_beside() -> ModuleType:
    """The ``load_rules/`` package from beside this file (an assembled backend directory).

    Triton loads this file by path, without the ``orchestrator`` package on ``sys.path``
    necessarily, so the rules come from the copy beside it, imported under a name of its
    own (its modules import each other relatively). Imported from the package itself
    (tests), there is no copy and the package's module is the same code.
    """
    beside = Path(__file__).with_name("load_rules")
    if not (beside / "__init__.py").is_file():
        from orchestrator.core import load_rules as packaged

        return packaged
    name = "onnxruntime_stand_in_load_rules"
    spec = importlib.util.spec_from_file_location(
        name, beside / "__init__.py", submodule_search_locations=[str(beside)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the stand-in's load rules from {beside}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from orchestrator.core import load_rules
else:
    load_rules = _load_rules_beside()

WILDCARD_DIM = load_rules.WILDCARD_DIM


def session_tensors(
    session: ort.InferenceSession,
) -> tuple[
    dict[str, load_rules.OnnxTensor],
    dict[str, load_rules.OnnxTensor],
    dict[str, load_rules.OnnxTensor],
]:
    """Inputs, outputs and overridable initializers of a session, by name.

    Sequences and maps are reported with their ONNX Runtime type string (``seq(...)``);
    ``load_rules.tensor_type_problems`` refuses them.

    Example:
        >>> inputs, _, _ = session_tensors(ort.InferenceSession("m.onnx"))  # doctest: +SKIP
        >>> inputs["x"]  # doctest: +SKIP
        OnnxTensor(name='x', onnx_type='tensor(float)', dims=(-1, 4))
    """

    def collect(args: Sequence[Any]) -> dict[str, load_rules.OnnxTensor]:
        return {
            arg.name: load_rules.OnnxTensor(
                arg.name,
                arg.type,
                tuple(d if isinstance(d, int) else WILDCARD_DIM for d in (arg.shape or [])),
            )
            for arg in args
        }

    return (
        collect(session.get_inputs()),
        collect(session.get_outputs()),
        collect(session.get_overridable_initializers()),
    )


def _refused(message: str) -> Exception:
    # What Triton's python backend reports as the reason a model did not load.
    exception: Exception = pb_utils.TritonModelException(message)
    return exception


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
                raise _refused(
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


def _artifact_path() -> str | None:
    """The model file the python backend started this stub for (its first argument)."""
    try:
        with open("/proc/self/cmdline", "rb") as cmdline:
            args = cmdline.read().split(b"\0")
    except OSError:
        return None
    if len(args) < 2 or not args[1]:
        return None
    path = os.fsdecode(args[1])
    return os.path.join(path, "model.onnx") if os.path.isdir(path) else path


class TritonPythonModel:
    """One model instance: an ONNX Runtime session checked against the model config."""

    @staticmethod
    def auto_complete_config(auto_complete_model_config: Any) -> Any:
        """Complete a config without inputs or outputs from the graph (auto-complete on)."""
        config = auto_complete_model_config.as_dict()
        if not load_rules.needs_autocomplete(config):
            return auto_complete_model_config
        path = _artifact_path()
        if path is None or not os.path.isfile(path):
            raise _refused(f"unable to find '{path}' for model '{config.get('name')}'")
        try:
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:
            raise _refused(f"ONNX Runtime could not open {path}: {exc}") from exc
        inputs, outputs, _ = session_tensors(session)
        completed, problems = load_rules.autocomplete_config(config, inputs, outputs)
        if problems:
            raise _refused(problems[0].message)
        config.clear()
        config.update(completed)  # the stub sends back the dict as_dict() exposes
        return auto_complete_model_config

    def initialize(self, args: dict[str, str]) -> None:
        """Open the version's ONNX file and refuse configs the real backend would refuse."""
        self._config = json.loads(args["model_config"])
        filename = self._config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        if not os.path.isfile(path):
            raise _refused(
                f"unable to load model '{args['model_name']}': model file {path} not found "
                f"(default_model_filename is {filename!r})"
            )
        providers = _providers(args["model_instance_kind"], int(args["model_instance_device_id"]))
        try:
            self._session = ort.InferenceSession(
                path, sess_options=_session_options(self._config), providers=providers
            )
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:
            raise _refused(
                f"unable to load model '{args['model_name']}': ONNX Runtime could not open "
                f"{path}: {exc}"
            ) from exc
        inputs, outputs, overridable = session_tensors(self._session)
        problems = load_rules.tensor_type_problems(inputs, outputs, overridable)
        problems = problems or load_rules.config_problems(
            self._config, inputs, outputs, overridable
        )
        if problems:
            raise _refused(problems[0].message)  # the real backend stops at the first
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
