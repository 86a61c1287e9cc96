"""A graph tensor as ONNX Runtime reports it, and the data types Triton and ONNX share.

* ``OnnxTensor``: name, ONNX Runtime type string and dims (``WILDCARD_DIM`` for symbolic).
* ``TRITON_TO_ONNX`` / ``ONNX_TO_TRITON``: the types the real backend converts between.
* ``tensor_type_problems``: graph inputs and outputs that are not tensors at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .problem import LoadProblem

__all__ = [
    "ONNX_TO_TRITON",
    "TRITON_TO_ONNX",
    "WILDCARD_DIM",
    "OnnxTensor",
    "tensor_type_problems",
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
