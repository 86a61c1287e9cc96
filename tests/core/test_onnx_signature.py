"""ONNX signatures agree with what ONNX Runtime reports to the backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from orchestrator.core.onnx_signature import read_signature
from orchestrator.errors import ConfigError, UnsafeFileError
from orchestrator.serving.triton.backends.onnxruntime.model import session_tensors
from tests.support.onnx_models import make_affine_onnx, make_identity_onnx

TYPES = {
    TensorProto.BOOL: ("TYPE_BOOL", "BOOL"),
    TensorProto.UINT8: ("TYPE_UINT8", "UINT8"),
    TensorProto.UINT16: ("TYPE_UINT16", "UINT16"),
    TensorProto.UINT32: ("TYPE_UINT32", "UINT32"),
    TensorProto.UINT64: ("TYPE_UINT64", "UINT64"),
    TensorProto.INT8: ("TYPE_INT8", "INT8"),
    TensorProto.INT16: ("TYPE_INT16", "INT16"),
    TensorProto.INT32: ("TYPE_INT32", "INT32"),
    TensorProto.INT64: ("TYPE_INT64", "INT64"),
    TensorProto.FLOAT16: ("TYPE_FP16", "FP16"),
    TensorProto.FLOAT: ("TYPE_FP32", "FP32"),
    TensorProto.DOUBLE: ("TYPE_FP64", "FP64"),
    TensorProto.STRING: ("TYPE_STRING", "BYTES"),
}


def test_every_triton_dtype_and_symbolic_dims(tmp_path: Path) -> None:
    tensors: list[tuple[str, str, int, list[int | str | None]]] = [
        (f"i{t}", f"o{t}", t, ["batch", 3, None]) for t in TYPES
    ]
    signature = read_signature(make_identity_onnx(tmp_path / "m.onnx", tensors))
    for tensor, elem_type in zip(signature.inputs, TYPES, strict=True):
        assert (tensor.data_type, tensor.triton_dtype) == TYPES[elem_type]
        assert tensor.dims == (-1, 3, -1)
    assert signature.supports_batching
    assert signature.ir_version == 8 and signature.opsets == {"ai.onnx": 17}


@pytest.mark.parametrize("batch", ["N", 3], ids=["dynamic", "fixed"])
def test_signature_matches_onnx_runtime_session(tmp_path: Path, batch: str | int) -> None:
    path = make_affine_onnx(tmp_path / "m.onnx", batch=batch)
    session = ort.InferenceSession(str(path))
    assert read_signature(path).backend_tensors() == session_tensors(session)
    assert read_signature(path).supports_batching == (batch == "N")


def test_initializers_listed_as_inputs_are_overridable_not_inputs(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    init = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x, w], [y], [init]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "m.onnx")
    signature = read_signature(tmp_path / "m.onnx")
    assert [t.name for t in signature.inputs] == ["x"]
    assert [t.name for t in signature.overridable] == ["w"]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert signature.backend_tensors() == session_tensors(session)


def test_external_weights_are_not_read(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 256])
    weights = numpy_helper.from_array(np.ones(256, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [weights]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="weights.bin")
    (tmp_path / "weights.bin").unlink()
    assert [t.name for t in read_signature(tmp_path / "m.onnx").outputs] == ["y"]


@pytest.mark.parametrize(
    "content",
    [b"", b"\x08", b"not onnx at all \xff\xfe"],
    ids=["empty", "truncated", "garbage"],
)
def test_unreadable_files_are_config_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=str(path)):
        read_signature(path)


def test_a_folder_is_not_read_as_a_model(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.mkdir()
    with pytest.raises(UnsafeFileError, match=f"{path} is a folder, not a regular file") as caught:
        read_signature(path)
    assert caught.value.reason == "special"
