"""The inputs and outputs of an ONNX graph, as Triton's onnxruntime backend sees them.

The graph is read with ``onnx`` (external weights are never loaded), and every tensor is
reported the way ONNX Runtime's session reports it to the backend: graph inputs without
initializers, symbolic or unknown dims as ``-1``, and the type as ONNX Runtime's type
string (``tensor(float)``, ``seq(map(int64,tensor(float)))``). This module is the only
one that imports ``onnx``; its errors become ``ConfigError``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from orchestrator.core import untrusted
from orchestrator.core.load_rules import ONNX_TO_TRITON, WILDCARD_DIM, OnnxTensor
from orchestrator.core.tensors import config_datatype
from orchestrator.errors import ConfigError

__all__ = [
    "DEFAULT_DOMAIN",
    "ML_DOMAIN",
    "Signature",
    "TensorSignature",
    "read_signature",
]

logger = logging.getLogger(__name__)

DEFAULT_DOMAIN = "ai.onnx"
ML_DOMAIN = "ai.onnx.ml"

# ONNX element type -> ONNX Runtime's name inside "tensor(...)".
_ELEMENT_NAMES: dict[int, str] = {
    TensorProto.FLOAT: "float",
    TensorProto.UINT8: "uint8",
    TensorProto.INT8: "int8",
    TensorProto.UINT16: "uint16",
    TensorProto.INT16: "int16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.STRING: "string",
    TensorProto.BOOL: "bool",
    TensorProto.FLOAT16: "float16",
    TensorProto.DOUBLE: "double",
    TensorProto.UINT32: "uint32",
    TensorProto.UINT64: "uint64",
    TensorProto.COMPLEX64: "complex64",
    TensorProto.COMPLEX128: "complex128",
    TensorProto.BFLOAT16: "bfloat16",
}


@dataclass(frozen=True)
class TensorSignature:
    """One graph input or output.

    Attributes:
        name: the tensor name.
        onnx_type: ONNX Runtime's type string, e.g. ``tensor(float)`` or ``seq(tensor(int64))``.
        dims: the full shape with ``-1`` for symbolic or unknown dims; ``()`` for scalars.
    """

    name: str
    onnx_type: str
    dims: tuple[int, ...]

    @property
    def is_tensor(self) -> bool:
        """Whether this is a tensor (not a sequence, map or optional)."""
        return self.onnx_type.startswith("tensor(")

    @property
    def data_type(self) -> str | None:
        """The config data type (``TYPE_FP32``), or None when Triton's backend has none."""
        return ONNX_TO_TRITON.get(self.onnx_type)

    @property
    def triton_dtype(self) -> str | None:
        """The wire data type (``FP32``, ``BYTES`` for strings), or None when unsupported."""
        data_type = self.data_type
        return None if data_type is None else config_datatype(data_type)

    @property
    def has_batch_dim(self) -> bool:
        """Whether the leading dim is dynamic, so it can be Triton's batch dimension."""
        return bool(self.dims) and self.dims[0] == WILDCARD_DIM

    def as_backend_tensor(self) -> OnnxTensor:
        """The backend's view of this tensor (for ``load_rules.config_problems``)."""
        return OnnxTensor(self.name, self.onnx_type, self.dims)


@dataclass(frozen=True)
class Signature:
    """What an ONNX file offers a Triton config: tensors, IR version and opsets.

    Attributes:
        inputs: graph inputs that are not initializers, in graph order.
        outputs: graph outputs, in graph order.
        overridable: initializers that are also graph inputs (IR >= 4), which a config may
            feed like inputs.
        ir_version: the model's IR version.
        opsets: opset version by domain (``ai.onnx`` for the default domain).
        producer: ``producer_name producer_version`` of the exporter.
        external_files: files holding external weights, relative to the model file.
    """

    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]
    overridable: tuple[TensorSignature, ...] = ()
    ir_version: int = 0
    opsets: Mapping[str, int] = field(default_factory=dict)
    producer: str = ""
    external_files: tuple[str, ...] = ()

    @property
    def supports_batching(self) -> bool:
        """Whether every input and output has a dynamic leading dim (a batch axis)."""
        tensors = (*self.inputs, *self.outputs)
        return bool(tensors) and all(t.has_batch_dim for t in tensors)

    def backend_tensors(
        self,
    ) -> tuple[dict[str, OnnxTensor], dict[str, OnnxTensor], dict[str, OnnxTensor]]:
        """Inputs, outputs and overridable initializers as the onnxruntime backend sees them."""
        return (
            {t.name: t.as_backend_tensor() for t in self.inputs},
            {t.name: t.as_backend_tensor() for t in self.outputs},
            {t.name: t.as_backend_tensor() for t in self.overridable},
        )


def read_signature(path: Path, *, within: Path | None = None) -> Signature:
    """Read the signature of an ONNX file without loading external weights.

    The file is read under the untrusted-input rule (``core.untrusted``): a regular
    file, not a link, no larger than protobuf can parse (``ONNX_MAX_BYTES``), inside
    ``within`` (no folder in between may be a link) when given.

    Raises:
        ConfigError: the file is not an ONNX model.
        UnsafeFileError: the file is missing, a link, not a regular file, unreadable or
            too large (nothing is read then).

    Example:
        >>> sig = read_signature(Path("model.onnx"))  # doctest: +SKIP
        >>> [(t.name, t.data_type, t.dims) for t in sig.inputs]  # doctest: +SKIP
        [('x', 'TYPE_FP32', (-1, 4))]
    """
    root, relative = untrusted.split(path, within)
    raw = untrusted.read_bytes(root, relative, max_bytes=untrusted.ONNX_MAX_BYTES)
    return signature_from_bytes(raw, path)


def signature_from_bytes(raw: bytes, source: Path | str = "<onnx>") -> Signature:
    """Parse serialized ONNX bytes into a ``Signature`` (see ``read_signature``)."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"{source} is not a valid ONNX model (protobuf decode failed: {exc}). The file is "
            "truncated or not ONNX; re-export it or copy it again."
        ) from exc
    if not model.HasField("graph") or model.ir_version <= 0:
        raise ConfigError(
            f"{source} is not a valid ONNX model: it has no graph or no IR version "
            f"(ir_version={model.ir_version}, {len(raw)} bytes). Re-export it."
        )
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    initializers.update(sparse.values.name for sparse in graph.sparse_initializer)
    graph_inputs = [_tensor(value) for value in graph.input]
    inputs = tuple(t for t in graph_inputs if t.name not in initializers)
    overridable = (
        tuple(t for t in graph_inputs if t.name in initializers) if model.ir_version >= 4 else ()
    )
    opsets = {(entry.domain or DEFAULT_DOMAIN): int(entry.version) for entry in model.opset_import}
    return Signature(
        inputs=inputs,
        outputs=tuple(_tensor(value) for value in graph.output),
        overridable=overridable,
        ir_version=int(model.ir_version),
        opsets=opsets,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        external_files=_external_files(graph),
    )


def _external_files(graph: onnx.GraphProto) -> tuple[str, ...]:
    locations = set()
    for tensor in graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location":
                    locations.add(entry.value)
    return tuple(sorted(locations))


def _tensor(value: onnx.ValueInfoProto) -> TensorSignature:
    dims: tuple[int, ...] = ()
    if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
        dims = tuple(
            int(d.dim_value) if d.HasField("dim_value") else WILDCARD_DIM
            for d in value.type.tensor_type.shape.dim
        )
    return TensorSignature(value.name, _type_string(value.type), dims)


def _type_string(type_proto: onnx.TypeProto) -> str:
    which = type_proto.WhichOneof("value")
    if which == "tensor_type":
        return f"tensor({_element(type_proto.tensor_type.elem_type)})"
    if which == "sparse_tensor_type":
        return f"sparse_tensor({_element(type_proto.sparse_tensor_type.elem_type)})"
    if which == "sequence_type":
        return f"seq({_type_string(type_proto.sequence_type.elem_type)})"
    if which == "map_type":
        key = _element(type_proto.map_type.key_type)
        return f"map({key},{_type_string(type_proto.map_type.value_type)})"
    if which == "optional_type":
        return f"optional({_type_string(type_proto.optional_type.elem_type)})"
    return "undefined"


def _element(elem_type: int) -> str:
    known = _ELEMENT_NAMES.get(elem_type)
    if known is not None:
        return known
    try:
        return str(TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"unknown{elem_type}"
