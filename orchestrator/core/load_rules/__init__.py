"""The load-time checks of Triton's onnxruntime backend, in the standard library only.

* What they follow: the real backend compares a model config with the ONNX graph when it
  loads a model (``ValidateInputs``/``ValidateOutputs`` in ``src/onnxruntime.cc`` and
  ``CompareDimsSupported`` in backend_common), and completes a config without inputs or
  outputs when auto-complete is on (``AutoCompleteConfig``).
* Who shares them, so the offline validator and the local server always agree:
  ``publish`` and ``validate`` (offline, from the graph as ``onnx`` reads it), and the CPU
  stand-in backend (inside Triton, from the graph as ONNX Runtime reports it).
* Why the standard library only, and relative imports between the modules: the stand-in
  gets a copy of this folder beside its ``model.py`` (``serving.triton.backends``) and
  loads it under another name, without ``numpy``, ONNX Runtime or ``orchestrator``.
* The modules, one per noun: ``tensor`` (graph tensors, data types), ``problem``
  (``LoadProblem``), ``comparison`` (``config_problems``), ``parameters``,
  ``sequence_controls``, ``autocomplete``.
"""

from __future__ import annotations

from .autocomplete import DEFAULT_MAX_BATCH_SIZE, autocomplete_config, needs_autocomplete
from .comparison import config_problems
from .parameters import CPU_ACCELERATORS, GPU_ACCELERATORS, parameter_problems
from .problem import LoadProblem
from .tensor import (
    ONNX_TO_TRITON,
    TRITON_TO_ONNX,
    WILDCARD_DIM,
    OnnxTensor,
    tensor_type_problems,
)

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
