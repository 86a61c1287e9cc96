"""The onnxruntime backend's parameters and execution accelerators, as it reads them at load.

* ``parameter_problems``: boolean parameters it cannot parse, CPU accelerators it does not know.
* ``CPU_ACCELERATORS`` / ``GPU_ACCELERATORS``: the accelerator names a 24.10 build knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .problem import LoadProblem

__all__ = ["CPU_ACCELERATORS", "GPU_ACCELERATORS", "parameter_problems"]

# backend_common.cc ParseBoolValue (backend r24.10): lower-cased, exactly these spellings.
_BOOL_SPELLINGS = {"true": True, "on": True, "1": True, "false": False, "off": False, "0": False}
# onnxruntime.cc ModelState::CreateSession reads these two with ParseBoolValue.
_BOOL_PARAMETERS = ("enable_mem_arena", "enable_mem_pattern")
# onnxruntime.cc: the CPU accelerators a 24.10 build knows (TRITON_ENABLE_ONNXRUNTIME_OPENVINO);
# any other name is "unknown Execution Accelerator '<name>' is requested".
CPU_ACCELERATORS = ("openvino",)
# The GPU ones (TRITON_ENABLE_ONNXRUNTIME_TENSORRT, and "cuda"), read for GPU instances only.
GPU_ACCELERATORS = ("tensorrt", "cuda")


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
