"""The stand-in backend's load-time checks, against real ONNX Runtime sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
from onnx import TensorProto

from orchestrator.serving.triton.backends.onnxruntime.model import (
    LoadError,
    check_config,
    session_tensors,
)
from tests.onnx_models import make_affine_onnx, make_identity_onnx


def _config(
    max_batch_size: int = 8, x_dims: list[int] | None = None, **changes: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "m",
        "max_batch_size": max_batch_size,
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": x_dims or [4]}],
        "output": [
            {"name": "y", "data_type": "TYPE_FP32", "dims": [4]},
            {"name": "s", "data_type": "TYPE_FP32", "dims": [1]},
        ],
    }
    config.update(changes)
    return config


def _check(onnx_path: Path, config: dict[str, Any]) -> None:
    inputs, outputs, overridable = session_tensors(ort.InferenceSession(str(onnx_path)))
    check_config(config, inputs, outputs, overridable)


def test_matching_config_passes(affine_onnx: Path) -> None:
    _check(affine_onnx, _config())


def test_input_may_fix_a_dim_the_graph_leaves_dynamic(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])])
    config = _config(x_dims=[4], output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [-1]}])
    _check(path, config)


def test_output_dims_are_compared_exactly(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])])
    config = _config(output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}])
    with pytest.raises(
        LoadError, match=r"tensor 'y': the model expects 2 dimensions \(shape \[-1,-1\]\)"
    ):
        _check(path, config)


def test_missing_input_count_is_reported_with_both_sides(affine_onnx: Path) -> None:
    config = _config()
    config["input"].append({"name": "extra", "data_type": "TYPE_FP32", "dims": [1]})
    with pytest.raises(
        LoadError,
        match=r"configuration expects 2 inputs, model provides 1 "
        r"\(graph inputs: x; config inputs: extra, x\)",
    ):
        _check(affine_onnx, config)


def test_unknown_output_name_lists_the_graph_outputs(affine_onnx: Path) -> None:
    config = _config(output=[{"name": "probs", "data_type": "TYPE_FP32", "dims": [4]}])
    with pytest.raises(
        LoadError, match="unexpected inference output 'probs', allowed outputs are: s, y"
    ):
        _check(affine_onnx, config)


def test_no_batching_compares_full_shape(tmp_path: Path) -> None:
    path = make_affine_onnx(tmp_path / "m.onnx", batch=2)
    _check(
        path,
        _config(
            max_batch_size=0,
            x_dims=[2, 4],
            output=[
                {"name": "y", "data_type": "TYPE_FP32", "dims": [2, 4]},
                {"name": "s", "data_type": "TYPE_FP32", "dims": [2, 1]},
            ],
        ),
    )
    with pytest.raises(LoadError, match=r"specifies 1 dimensions \(shape \[4\]\)"):
        _check(path, _config(max_batch_size=0))


def test_reshape_is_what_gets_compared(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.INT64, ["N"])])
    config: dict[str, Any] = {
        "name": "m",
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}}],
        "output": [{"name": "y", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}}],
    }
    _check(path, config)
    del config["output"][0]["reshape"]
    with pytest.raises(LoadError, match=r"tensor 'y': the model expects 1 dimensions"):
        _check(path, config)


def test_optional_input_is_refused_when_batching(affine_onnx: Path) -> None:
    config = _config()
    config["input"][0]["optional"] = True
    config["input"].append({"name": "x2", "data_type": "TYPE_FP32", "dims": [4]})
    config["input"][1]["optional"] = False
    with pytest.raises(LoadError):
        _check(affine_onnx, config)


def test_unsupported_config_datatype(affine_onnx: Path) -> None:
    config = _config()
    config["input"][0]["data_type"] = "TYPE_BF16"
    with pytest.raises(LoadError, match="unsupported datatype TYPE_BF16 for input 'x'"):
        _check(affine_onnx, config)
