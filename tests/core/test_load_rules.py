"""The onnxruntime backend's load checks (``core.load_rules``), against real ONNX Runtime sessions.

The tensors come from ``session_tensors`` of the stand-in backend, i.e. from what ONNX
Runtime reports, exactly as inside Triton; the messages are the real backend's.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import onnxruntime as ort
from onnx import TensorProto

from orchestrator.core import load_rules
from orchestrator.core.load_rules import (
    DEFAULT_MAX_BATCH_SIZE,
    LoadProblem,
    OnnxTensor,
    autocomplete_config,
    config_problems,
    tensor_type_problems,
)
from orchestrator.serving.triton.backends.onnxruntime import model as stand_in
from orchestrator.serving.triton.backends.onnxruntime.model import session_tensors
from tests.support.onnx_models import make_affine_onnx, make_identity_onnx


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


def _problems(onnx_path: Path, config: dict[str, Any]) -> list[LoadProblem]:
    inputs, outputs, overridable = session_tensors(ort.InferenceSession(str(onnx_path)))
    return config_problems(config, inputs, outputs, overridable)


def _first(onnx_path: Path, config: dict[str, Any], code: str, pattern: str) -> None:
    problems = _problems(onnx_path, config)
    assert problems, "the config was accepted"
    assert problems[0].code == code
    assert re.search(pattern, str(problems[0])), str(problems[0])


def test_matching_config_passes(affine_onnx: Path) -> None:
    assert _problems(affine_onnx, _config()) == []


def test_input_may_fix_a_dim_the_graph_leaves_dynamic(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])])
    config = _config(x_dims=[4], output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [-1]}])
    assert _problems(path, config) == []


def test_output_dims_are_compared_exactly(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.FLOAT, ["N", "F"])])
    config = _config(output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [4]}])
    _first(
        path,
        config,
        "dims-mismatch",
        r"tensor 'y': the model expects 2 dimensions \(shape \[-1,-1\]\)",
    )


def test_missing_input_count_is_reported_with_both_sides(affine_onnx: Path) -> None:
    config = _config()
    config["input"].append({"name": "extra", "data_type": "TYPE_FP32", "dims": [1]})
    _first(
        affine_onnx,
        config,
        "input-count",
        r"configuration expects 2 inputs, model provides 1 "
        r"\(graph inputs: x; config inputs: extra, x\)",
    )


def test_unknown_output_name_lists_the_graph_outputs(affine_onnx: Path) -> None:
    config = _config(output=[{"name": "probs", "data_type": "TYPE_FP32", "dims": [4]}])
    _first(
        affine_onnx,
        config,
        "unknown-output",
        "unexpected inference output 'probs', allowed outputs are: s, y",
    )


def test_no_batching_compares_full_shape(tmp_path: Path) -> None:
    path = make_affine_onnx(tmp_path / "m.onnx", batch=2)
    fitting = _config(
        max_batch_size=0,
        x_dims=[2, 4],
        output=[
            {"name": "y", "data_type": "TYPE_FP32", "dims": [2, 4]},
            {"name": "s", "data_type": "TYPE_FP32", "dims": [2, 1]},
        ],
    )
    assert _problems(path, fitting) == []
    _first(
        path, _config(max_batch_size=0), "dims-mismatch", r"specifies 1 dimensions \(shape \[4\]\)"
    )


def test_reshape_is_what_gets_compared(tmp_path: Path) -> None:
    path = make_identity_onnx(tmp_path / "m.onnx", [("x", "y", TensorProto.INT64, ["N"])])
    config: dict[str, Any] = {
        "name": "m",
        "max_batch_size": 8,
        "input": [{"name": "x", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}}],
        "output": [{"name": "y", "data_type": "TYPE_INT64", "dims": [1], "reshape": {"shape": []}}],
    }
    assert _problems(path, config) == []
    del config["output"][0]["reshape"]
    _first(path, config, "dims-mismatch", r"tensor 'y': the model expects 1 dimensions")


def test_optional_input_is_refused_when_batching(affine_onnx: Path) -> None:
    config = _config()
    config["input"][0]["optional"] = True
    config["input"].append({"name": "x2", "data_type": "TYPE_FP32", "dims": [4]})
    config["input"][1]["optional"] = False
    problems = _problems(affine_onnx, config)
    assert [p.code for p in problems] == ["optional-input-batching", "unknown-input"]
    assert "optional input 'x' is not supported for models that support batching" in str(
        problems[0]
    )


def test_unsupported_config_datatype(affine_onnx: Path) -> None:
    config = _config()
    config["input"][0]["data_type"] = "TYPE_BF16"
    _first(
        affine_onnx,
        config,
        "dtype-unsupported",
        "unsupported datatype TYPE_BF16 for input 'x'",
    )


def test_every_problem_is_reported_not_only_the_first(affine_onnx: Path) -> None:
    config = _config(
        output=[
            {"name": "y", "data_type": "TYPE_INT32", "dims": [4]},
            {"name": "s", "data_type": "TYPE_FP32", "dims": [2]},
        ]
    )
    assert [p.code for p in _problems(affine_onnx, config)] == ["dtype-mismatch", "dims-mismatch"]


def test_sequence_and_map_outputs_are_refused_before_the_config_is_compared() -> None:
    zipmap = OnnxTensor("probs", "seq(map(int64,tensor(float)))", ())
    label = OnnxTensor("label", "tensor(int64)", (-1,))
    problems = tensor_type_problems({}, {"label": label, "probs": zipmap})
    assert [p.code for p in problems] == ["unsupported-tensor-type"]
    assert str(problems[0]).startswith(
        "Unsupported ONNX Type 'seq(map(int64,tensor(float)))' for output 'probs', "
        "expected a tensor"
    )


def test_load_rules_use_the_standard_library_only() -> None:
    # The stand-in backend loads a copy of this package inside Triton, beside its model.py,
    # under another name: its modules import the standard library and each other (relatively).
    files = sorted(Path(load_rules.__file__).parent.glob("*.py"))
    roots = {
        name.split(".")[0]
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert len(files) > 1 and roots and roots <= set(sys.stdlib_module_names)


def test_the_stand_in_loads_the_copy_beside_it_without_the_package(
    tmp_path: Path, affine_onnx: Path
) -> None:
    # As assemble_backend_dir lays it out; Triton loads model.py by path.
    backend = tmp_path / "onnxruntime"
    backend.mkdir()
    shutil.copy2(stand_in.__file__, backend / "model.py")
    shutil.copytree(Path(load_rules.__file__).parent, backend / "load_rules")
    script = textwrap.dedent(
        """
        import importlib.util, sys
        import onnxruntime as ort
        sys.modules["orchestrator"] = None  # not importable, as in a bare Triton stub
        spec = importlib.util.spec_from_file_location("model", sys.argv[1])
        model = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(model)
        tensors = model.session_tensors(ort.InferenceSession(sys.argv[2]))
        config = {"name": "m", "max_batch_size": 8, "input": [], "output": []}
        print(model.load_rules.__file__)
        print(model.load_rules.config_problems(config, *tensors)[0])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(backend / "model.py"), str(affine_onnx)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(backend / "load_rules" / "__init__.py"),
        "unable to load model 'm', configuration expects 0 inputs, model provides 1 "
        "(graph inputs: x; config inputs: (none))",
    ]


# -- the backend's auto-complete (a server without --disable-auto-complete-config) ------


def _t(name: str, dims: tuple[int, ...], onnx_type: str = "tensor(float)") -> OnnxTensor:
    return OnnxTensor(name, onnx_type, dims)


def test_autocomplete_fills_a_batching_graph_with_the_default_max_batch_size() -> None:
    completed, problems = autocomplete_config(
        {"name": "m"}, {"x": _t("x", (-1, 4))}, {"y": _t("y", (-1,))}
    )
    assert problems == []
    assert completed == {
        "name": "m",
        "max_batch_size": DEFAULT_MAX_BATCH_SIZE,
        "dynamic_batching": {},
        "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [4]}],
        "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [1], "reshape": {"shape": []}}],
    }


def test_autocomplete_keeps_a_config_with_inputs_and_outputs() -> None:
    config = {"name": "m", "input": [{"name": "x"}], "output": [{"name": "y"}]}
    assert autocomplete_config(config, {"x": _t("x", (3,))}, {}) == (config, [])


def test_autocomplete_refuses_batching_for_a_graph_that_cannot_batch() -> None:
    _, problems = autocomplete_config({"name": "m", "max_batch_size": 8}, {"x": _t("x", (3,))}, {})
    assert [p.code for p in problems] == ["autocomplete-batching"]


def test_autocomplete_of_an_unbatched_graph_keeps_every_dim() -> None:
    completed, _ = autocomplete_config({"name": "m"}, {"x": _t("x", (3, 4))}, {"y": _t("y", ())})
    assert completed.get("max_batch_size", 0) == 0 and "dynamic_batching" not in completed
    assert completed["input"][0]["dims"] == [3, 4]
    assert completed["output"][0] == {"name": "y", "data_type": "TYPE_FP32", "dims": [1]}
