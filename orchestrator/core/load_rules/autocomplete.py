"""The backend's auto-complete: a config without inputs or outputs, completed from the graph.

* ``needs_autocomplete``: whether ``AutoCompleteConfig`` changes anything at all.
* ``autocomplete_config``: the completed config, or the refusal, as the real backend does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .problem import LoadProblem
from .tensor import WILDCARD_DIM, OnnxTensor

__all__ = ["DEFAULT_MAX_BATCH_SIZE", "autocomplete_config", "needs_autocomplete"]

# Triton core's default for the backend setting "default-max-batch-size"
# (TritonModel::SetBackendConfigDefaults), which the backend's AutoCompleteMaxBatch uses.
DEFAULT_MAX_BATCH_SIZE = 4


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
