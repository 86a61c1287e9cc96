"""Small real ONNX graphs (built with onnx.helper) and configs for them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from training.bundle import write_bundle

OPSET = 17
IR_VERSION = 8

Dim = int | str | None


def _checked_model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def make_identity_onnx(
    path: Path,
    tensors: Sequence[tuple[str, str, int, Sequence[Dim]]],
) -> Path:
    """Write an ONNX graph with one Identity per (input, output, elem_type, shape)."""
    inputs, outputs, nodes = [], [], []
    for in_name, out_name, elem_type, shape in tensors:
        inputs.append(helper.make_tensor_value_info(in_name, elem_type, list(shape)))
        outputs.append(helper.make_tensor_value_info(out_name, elem_type, list(shape)))
        nodes.append(helper.make_node("Identity", [in_name], [out_name]))
    return _save(_checked_model(helper.make_graph(nodes, "identity", inputs, outputs)), path)


def affine_model(features: int = 4, batch: Dim = "N") -> onnx.ModelProto:
    """y = x * 2 + 1 and s = sum(x, axis=1): FP32 in, two outputs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, features])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [batch, 1])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Mul", ["x", "two"], ["x2"]),
        helper.make_node("Add", ["x2", "one"], ["y"]),
        helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "affine", [x], [y, s], initializer=[two, one, axes])
    return _checked_model(graph)


def make_affine_onnx(path: Path, features: int = 4, batch: Dim = "N") -> Path:
    """Write ``affine_model`` to ``path``."""
    return _save(affine_model(features, batch), path)


AFFINE_CONFIG = """name: "{name}"
backend: "onnxruntime"
max_batch_size: {max_batch_size}
input [
  {{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }}
]
output [
  {{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }},
  {{ name: "s" data_type: TYPE_FP32 dims: [ 1 ] }}
]
instance_group [ {{ kind: KIND_GPU count: 1 }} ]
dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}
"""


def make_bundle(folder: Path, name: str = "affine", features: int = 4) -> Path:
    """An export bundle written by training's own writer: model.onnx, golden.npz, export.json."""
    x = np.ones((2, features), dtype=np.float32)
    write_bundle(
        folder,
        onnx_bytes=affine_model(features).SerializeToString(),
        golden_inputs={"x": x},
        golden_outputs={"y": x * 2 + 1},
        metadata={"model_name": name, "signature": {}, "metrics": {"acc": 0.9}},
    )
    return folder
