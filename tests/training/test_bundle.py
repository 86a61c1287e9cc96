"""Writing and reading export bundles (numpy and onnx only; no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from orchestrator.errors import TrainingError
from tests.support.onnx_models import make_affine_onnx
from training.bundle import check_out_dir, read_bundle, signature_from_onnx, write_bundle


@pytest.fixture
def bundle_parts(tmp_path: Path) -> dict[str, Any]:
    onnx_bytes = make_affine_onnx(tmp_path / "src" / "affine.onnx").read_bytes()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    return {
        "onnx_bytes": onnx_bytes,
        "golden_inputs": {"x": x},
        "golden_outputs": {"y": x * 2 + 1, "s": x.sum(axis=1, keepdims=True)},
        "metadata": {"model_name": "affine", "seed": 3},
    }


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_write_bundle_writes_three_files_with_hashes_that_read_bundle_verifies(
    tmp_path: Path, bundle_parts: dict[str, Any]
) -> None:
    out = tmp_path / "exports" / "affine"
    written = write_bundle(out, **bundle_parts)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "golden.npz", "model.onnx"]
    assert _siblings(out) == ["affine"]  # no staging folder left behind
    export, golden = read_bundle(out)
    assert export == written
    assert export["model_name"] == "affine" and export["seed"] == 3
    assert set(export["files"]) == {"model.onnx", "golden.npz"}
    assert export["files"]["model.onnx"]["size_bytes"] == len(bundle_parts["onnx_bytes"])
    assert sorted(golden) == ["inputs/x", "outputs/s", "outputs/y"]
    np.testing.assert_array_equal(golden["outputs/y"], bundle_parts["golden_outputs"]["y"])


def test_read_bundle_refuses_a_file_changed_after_export(
    tmp_path: Path, bundle_parts: dict[str, Any]
) -> None:
    out = tmp_path / "affine"
    write_bundle(out, **bundle_parts)
    (out / "model.onnx").write_bytes(bundle_parts["onnx_bytes"] + b"\0")
    with pytest.raises(TrainingError, match=r"model.onnx has sha256 .* export.json expects"):
        read_bundle(out)


def test_existing_bundle_is_refused_without_force_and_replaced_with_it(
    tmp_path: Path, bundle_parts: dict[str, Any]
) -> None:
    out = tmp_path / "affine"
    write_bundle(out, **bundle_parts)
    before = (out / "export.json").read_bytes()
    with pytest.raises(TrainingError, match="already holds a bundle .* pass --force"):
        write_bundle(out, **{**bundle_parts, "metadata": {"model_name": "affine", "seed": 4}})
    assert (out / "export.json").read_bytes() == before
    write_bundle(
        out, **{**bundle_parts, "metadata": {"model_name": "affine", "seed": 4}}, force=True
    )
    assert json.loads((out / "export.json").read_text())["seed"] == 4
    assert _siblings(out) == ["affine", "src"]


def test_folder_with_other_files_is_refused_even_with_force(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(TrainingError, match="not part of an export bundle: thesis.tex"):
        check_out_dir(out, force=True)
    assert (out / "thesis.tex").read_text() == "precious"


def test_empty_folder_is_accepted(tmp_path: Path, bundle_parts: dict[str, Any]) -> None:
    out = tmp_path / "affine"
    out.mkdir()
    write_bundle(out, **bundle_parts)
    assert (out / "export.json").is_file()


def test_failed_write_leaves_nothing_behind(tmp_path: Path, bundle_parts: dict[str, Any]) -> None:
    out = tmp_path / "exports" / "affine"
    # A file name inside a missing sub-folder makes the write fail half-way.
    with pytest.raises(TrainingError, match="Nothing was left half-written"):
        write_bundle(out, **bundle_parts, extra_files={"missing/model.plan": b"x"})
    assert not out.exists()
    assert _siblings(out) == []


def test_failed_write_keeps_the_old_bundle(tmp_path: Path, bundle_parts: dict[str, Any]) -> None:
    out = tmp_path / "affine"
    write_bundle(out, **bundle_parts)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(TrainingError):
        write_bundle(out, **bundle_parts, extra_files={"missing/model.plan": b"x"}, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_signature_uses_triton_dtypes_and_minus_one_for_symbolic_dims(tmp_path: Path) -> None:
    proto = onnx.load(make_affine_onnx(tmp_path / "a.onnx", features=4, batch="N"))
    assert signature_from_onnx(proto) == {
        "inputs": [{"name": "x", "dtype": "FP32", "shape": [-1, 4]}],
        "outputs": [
            {"name": "y", "dtype": "FP32", "shape": [-1, 4]},
            {"name": "s", "dtype": "FP32", "shape": [-1, 1]},
        ],
    }


def test_signature_refuses_a_type_triton_cannot_serve() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.COMPLEX64, ["N", 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [x])
    with pytest.raises(TrainingError, match=r"'x' has ONNX type tensor\(complex64\)"):
        signature_from_onnx(helper.make_model(graph))
