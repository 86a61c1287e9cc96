"""Signatures from configs and metadata, and the tensors checked against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.core.model_config import parse_config
from orchestrator.core.tensors import (
    ServingSignature,
    TensorSpec,
    check_arrays,
    compare_signatures,
    load_tensor_file,
    signature_from_config,
    signature_from_metadata,
)
from orchestrator.errors import ConfigError

CONFIG = """
name: "m" max_batch_size: 8
input { name: "x" data_type: TYPE_FP32 dims: [ 4 ] }
input { name: "ids" data_type: TYPE_INT64 dims: [ -1 ] }
output { name: "text" data_type: TYPE_STRING dims: [ 1 ] }
"""
X = TensorSpec("x", "FP32", (-1, 4))
IDS = TensorSpec("ids", "INT64", (-1, -1))


def test_config_signature_is_what_triton_reports_with_the_batch_dimension_first() -> None:
    signature = signature_from_config(parse_config(CONFIG))
    assert signature == ServingSignature(
        inputs=(X, IDS), outputs=(TensorSpec("text", "BYTES", (-1, 1)),)
    )
    unbatched = signature_from_config(parse_config(CONFIG.replace("max_batch_size: 8", "")))
    assert unbatched.inputs[0].shape == (4,)


def test_metadata_signature_and_differences_are_named() -> None:
    metadata = {
        "inputs": [
            {"name": "x", "datatype": "FP16", "shape": [-1, 4]},
            {"name": "extra", "datatype": "FP32", "shape": [1]},
        ],
        "outputs": [{"name": "text", "datatype": "BYTES", "shape": [-1, 1]}],
    }
    served = signature_from_metadata(metadata)
    assert compare_signatures(signature_from_config(parse_config(CONFIG)), served) == [
        "input 'ids' is in the config but not served",
        "input 'extra' is served but not in the config",
        "input 'x': config says x FP32 [-1, 4], server says x FP16 [-1, 4]",
    ]
    same = signature_from_config(parse_config(CONFIG))
    assert compare_signatures(same, same) == []


def test_arrays_are_checked_for_names_dtypes_and_shapes() -> None:
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "x": np.zeros((2, 5), dtype=np.float64),
        "other": np.zeros(1),
    }
    assert check_arrays(arrays, [X, IDS], "the file") == [
        "the file lack 'ids'",
        "the file have 'other', which the model does not have (it has 'x', 'ids')",
        "the file: 'x' has dtype float64, the model expects FP32 (float32)",
        "the file: 'x' has shape [2, 5], the model expects [-1, 4] (-1: any size)",
    ]
    fitting: dict[str, np.ndarray[Any, Any]] = {
        "x": np.zeros((3, 4), np.float32),
        "ids": np.zeros((3, 7), np.int64),
    }
    assert check_arrays(fitting, [X, IDS], "the file") == []


def test_npy_npz_and_json_inputs_load_and_fit(tmp_path: Path) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_tensor_file(tmp_path / "x.npy", [X])["x"], x)
    np.savez(tmp_path / "golden.npz", **{"inputs/x": x, "outputs/y": x})
    assert list(load_tensor_file(tmp_path / "golden.npz", [X])) == ["x"]
    (tmp_path / "x.json").write_text(json.dumps({"x": x.tolist(), "ids": [[1, 2], [3, 4]]}))
    loaded = load_tensor_file(tmp_path / "x.json", [X, IDS])
    assert loaded["x"].dtype == np.float32 and loaded["ids"].dtype == np.int64
    np.testing.assert_array_equal(loaded["ids"], [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("wrong_dtype.npy", np.zeros((1, 4), np.float64), "'x' has dtype float64, the model"),
        ("wrong_shape.npy", np.zeros((1, 3), np.float32), "'x' has shape [1, 3], the model"),
        ("fraction.json", {"x": [[0, 0, 0, 0]], "ids": [[1.5]]}, "INT64 cannot hold exactly"),
        ("strings.json", {"x": [["a", "b", "c", "d"]], "ids": [[1]]}, "the model expects numbers"),
        ("list.json", [1, 2], "holds a JSON list; expected an object"),
        ("x.txt", "1 2 3", "unknown input file type '.txt'"),
        ("broken.npz", b"garbage", "Cannot read tensors from"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else "",
)
def test_bad_input_files_are_one_clear_error(
    tmp_path: Path, name: str, content: object, expected: str
) -> None:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    specs = [X] if name.endswith(".npy") else [X, IDS]
    with pytest.raises(ConfigError) as info:
        load_tensor_file(path, specs)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_npy_for_a_model_with_two_inputs_asks_for_npz_or_json(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), np.float32))
    with pytest.raises(ConfigError, match=r"one array but the model has 2 inputs \(x, ids\)"):
        load_tensor_file(tmp_path / "x.npy", [X, IDS])
