"""The inputs and outputs of an ONNX graph, as Triton's onnxruntime backend sees them.

The graph is read with ``onnx`` (external weights are never loaded), and every tensor is
reported the way ONNX Runtime's session reports it to the backend: graph inputs without
initializers, symbolic or unknown dims as ``-1``, and the type as ONNX Runtime's type
string (``tensor(float)``, ``seq(map(int64,tensor(float)))``).

- This module is the only one that imports ``onnx``, and only when it parses a graph:
  ``import onnx`` (and numpy under it) costs more than the rest of a ``sync``'s start.
- ``read_signature`` given the repository's digest cache parses a model file once per
  content: the signature is remembered by the file's sha256 (``Signature.as_dict``) and
  recalled while the file's stat is unchanged.
- ``onnx``'s errors become ``ConfigError``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from orchestrator.core import untrusted
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.load_rules import ONNX_TO_TRITON, WILDCARD_DIM, OnnxTensor
from orchestrator.core.model_config import config_datatype
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    import onnx

__all__ = [
    "DEFAULT_DOMAIN",
    "ML_DOMAIN",
    "SIGNATURE_FACT",
    "Signature",
    "TensorSignature",
    "read_signature",
    "signature_from_dict",
]

logger = logging.getLogger(__name__)

DEFAULT_DOMAIN = "ai.onnx"
ML_DOMAIN = "ai.onnx.ml"

SIGNATURE_FACT = "onnx-signature/1"
"""The digest cache's name for a remembered signature (bump the number when its form
changes, so an older form is parsed again rather than misread)."""


@functools.cache
def _element_names() -> dict[int, str]:
    """ONNX element type -> ONNX Runtime's name inside "tensor(...)"."""
    from onnx import TensorProto

    return {
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

    def as_dict(self) -> dict[str, Any]:
        """The JSON form the digest cache keeps; ``signature_from_dict`` reads it back."""
        return {
            "inputs": [_tensor_dict(t) for t in self.inputs],
            "outputs": [_tensor_dict(t) for t in self.outputs],
            "overridable": [_tensor_dict(t) for t in self.overridable],
            "ir_version": self.ir_version,
            "opsets": dict(sorted(self.opsets.items())),
            "producer": self.producer,
            "external_files": list(self.external_files),
        }


def signature_from_dict(body: Any) -> Signature:
    """A ``Signature`` from its ``as_dict`` form, checked field by field.

    Raises:
        ValueError: ``body`` is not exactly that form (a cache entry to ignore).

    Example:
        >>> signature_from_dict(Signature((), ()).as_dict()) == Signature((), ())
        True
    """
    fields = ("inputs", "outputs", "overridable", "ir_version", "opsets", "producer")
    if not isinstance(body, dict) or set(body) != {*fields, "external_files"}:
        raise ValueError("not a signature")
    opsets = body["opsets"]
    if not isinstance(opsets, dict) or not all(_is_int(v) for v in opsets.values()):
        raise ValueError("malformed opsets")
    if not _is_int(body["ir_version"]) or not isinstance(body["producer"], str):
        raise ValueError("malformed ir_version or producer")
    files = body["external_files"]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ValueError("malformed external_files")
    return Signature(
        inputs=_tensors_from(body["inputs"]),
        outputs=_tensors_from(body["outputs"]),
        overridable=_tensors_from(body["overridable"]),
        ir_version=body["ir_version"],
        opsets={str(k): v for k, v in opsets.items()},
        producer=body["producer"],
        external_files=tuple(files),
    )


def _tensor_dict(tensor: TensorSignature) -> list[Any]:
    return [tensor.name, tensor.onnx_type, list(tensor.dims)]


def _tensors_from(listed: Any) -> tuple[TensorSignature, ...]:
    if not isinstance(listed, list):
        raise ValueError("malformed tensor list")
    found = []
    for item in listed:
        if not (isinstance(item, list) and len(item) == 3):
            raise ValueError("malformed tensor")
        name, onnx_type, dims = item
        if not (isinstance(name, str) and isinstance(onnx_type, str) and isinstance(dims, list)):
            raise ValueError("malformed tensor")
        if not all(_is_int(d) for d in dims):
            raise ValueError("malformed dims")
        found.append(TensorSignature(name, onnx_type, tuple(dims)))
    return tuple(found)


def _is_int(value: Any) -> bool:
    return type(value) is int


def read_signature(
    path: Path, *, within: Path | None = None, digests: DigestCache | None = None
) -> Signature:
    """Read the signature of an ONNX file without loading external weights.

    The file is read under the untrusted-input rule (``core.untrusted``): a regular
    file, not a link, no larger than protobuf can parse (``ONNX_MAX_BYTES``), inside
    ``within`` (no folder in between may be a link) when given. With ``digests`` (the
    repository's digest cache), a file whose stat is unchanged since its content was
    hashed gets the signature remembered for that content, checked by the same rule but
    not read; a parsed signature is remembered by the sha256 of the bytes parsed.

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
    if digests is not None:
        remembered = _remembered(root, relative, digests)
        if remembered is not None:
            return remembered
    raw = untrusted.read_bytes(root, relative, max_bytes=untrusted.ONNX_MAX_BYTES)
    signature = signature_from_bytes(raw, path)
    if digests is not None:
        digests.remember(SIGNATURE_FACT, hashlib.sha256(raw).hexdigest(), signature.as_dict())
    return signature


def _remembered(root: Path, relative: str, digests: DigestCache) -> Signature | None:
    """The signature remembered for the unchanged file ``root/relative``, if any."""
    remembered = digests.recall_unchanged(
        root, relative, SIGNATURE_FACT, max_bytes=untrusted.ONNX_MAX_BYTES
    )
    try:
        return signature_from_dict(remembered)
    except ValueError:
        return None  # nothing remembered, or not in this form: parse the file


def signature_from_bytes(raw: bytes, source: Path | str = "<onnx>") -> Signature:
    """Parse serialized ONNX bytes into a ``Signature`` (see ``read_signature``)."""
    import onnx  # here, not at the top: see the module's docstring

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
    from onnx import TensorProto

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
    known = _element_names().get(elem_type)
    if known is not None:
        return known
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(elem_type)).lower()
    except ValueError:
        return f"unknown{elem_type}"
