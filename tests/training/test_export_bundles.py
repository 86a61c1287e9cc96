"""Both real models, trained and exported once: accuracy, the bundle contract, the graph."""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import onnx
import pytest

# torch and the datasets (scikit-learn) are imported by the tests that run, not at
# collection: the quick loop (make unit) skips these tests, its every worker collects them.
if importlib.util.find_spec("torch") is None:
    pytest.skip("could not import 'torch': No module named 'torch'", allow_module_level=True)
ort = pytest.importorskip("onnxruntime")

from training import MODEL_NAMES, ExportResult, get_spec  # noqa: E402
from training.bundle import read_bundle  # noqa: E402

if TYPE_CHECKING:
    from training.data import Dataset

REPO_ROOT = Path(__file__).resolve().parents[2]

SIGNATURES: dict[str, dict[str, list[dict[str, Any]]]] = {
    "digits_cnn": {
        "inputs": [{"name": "input", "dtype": "FP32", "shape": [-1, 1, 8, 8]}],
        "outputs": [{"name": "probabilities", "dtype": "FP32", "shape": [-1, 10]}],
    },
    "cancer_mlp": {
        "inputs": [{"name": "features", "dtype": "FP32", "shape": [-1, 30]}],
        "outputs": [{"name": "probabilities", "dtype": "FP32", "shape": [-1, 2]}],
    },
}


def load_dataset(name: str) -> Dataset:
    from training.data import load_dataset

    return load_dataset(name)


def _run(path: Path, inputs: dict[str, npt.NDArray[Any]]) -> npt.NDArray[Any]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], inputs)[0])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_scores_at_least_95_percent_on_held_out_rows_served_by_onnx_runtime(
    exported_models: dict[str, ExportResult], name: str
) -> None:
    result = exported_models[name]
    spec = get_spec(name)
    data = load_dataset(spec.dataset)
    probabilities = _run(result.onnx_path, {spec.input_name: data.x_held_out})
    accuracy = float((probabilities.argmax(axis=1) == data.y_held_out).mean())
    assert accuracy >= 0.95
    recorded = result.export["metrics"]["accuracy"]
    # PyTorch measured it; ONNX Runtime may flip at most a near-tie.
    assert recorded == pytest.approx(accuracy, abs=1.0 / len(data.y_held_out))
    assert result.accuracy == recorded


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bundle_holds_the_contracted_files_signature_and_lineage(
    exported_models: dict[str, ExportResult], name: str
) -> None:
    result = exported_models[name]
    assert sorted(p.name for p in result.bundle_dir.iterdir()) == [
        "export.json",
        "golden.npz",
        "model.onnx",
    ]
    export, _ = read_bundle(result.bundle_dir)  # verifies every sha256 and size
    assert export["model_name"] == name
    assert export["signature"] == SIGNATURES[name]
    assert export["opset"] == 17
    assert set(export["versions"]) >= {"torch", "onnx", "onnxruntime", "python"}
    import torch

    assert export["versions"]["torch"] == torch.__version__
    assert export["versions"]["onnxruntime"] == ort.__version__
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert export["git"]["commit"] == head
    assert isinstance(export["git"]["dirty"], bool)
    assert export["data_fingerprint"] == load_dataset(get_spec(name).dataset).fingerprint
    assert export["seed"] == 0
    assert export["onnx_bytes_reproducible"] is True
    assert export["parity"]["probabilities"]["max_abs_error"] < 1e-5
    assert export["parity_check"]["batches"][1:] == ["random[1]", "random[7]", "random[64]"]
    assert export["files"]["model.onnx"]["sha256"] == result.onnx_sha256
    created = dt.datetime.fromisoformat(export["created_at"])
    assert created.tzinfo is not None


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_onnx_file_loads_in_triton_24_10_onnx_runtime(
    exported_models: dict[str, ExportResult], name: str
) -> None:
    proto = onnx.load(exported_models[name].onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 10  # ONNX Runtime 1.19 (Triton 24.10) limits
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_golden_holds_16_held_out_rows_and_onnx_runtime_outputs_for_them(
    exported_models: dict[str, ExportResult], name: str
) -> None:
    result = exported_models[name]
    spec = get_spec(name)
    _, golden = read_bundle(result.bundle_dir)
    assert sorted(golden) == [f"inputs/{spec.input_name}", "outputs/probabilities"]
    inputs = golden[f"inputs/{spec.input_name}"]
    assert inputs.dtype == np.float32 and inputs.shape[0] == 16
    np.testing.assert_array_equal(inputs, load_dataset(spec.dataset).x_held_out[:16])
    expected = _run(result.onnx_path, {spec.input_name: inputs})
    np.testing.assert_allclose(golden["outputs/probabilities"], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("batch", [1, 3, 100])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_graph_takes_any_batch_size(
    exported_models: dict[str, ExportResult], name: str, batch: int
) -> None:
    spec = get_spec(name)
    rows = np.resize(
        load_dataset(spec.dataset).x_held_out, (batch, *SIGNATURES[name]["inputs"][0]["shape"][1:])
    )
    assert _run(exported_models[name].onnx_path, {spec.input_name: rows}).shape[0] == batch


def test_cancer_mlp_takes_raw_features_and_scales_them_inside_the_graph(
    exported_models: dict[str, ExportResult],
) -> None:
    result = exported_models["cancer_mlp"]
    _, golden = read_bundle(result.bundle_dir)
    assert golden["inputs/features"].max() > 100  # raw "area" features, not standardized
    ops = {node.op_type for node in onnx.load(result.onnx_path).graph.node}
    assert {"Sub", "Div"} <= ops


def test_digits_cnn_takes_raw_pixel_intensities(exported_models: dict[str, ExportResult]) -> None:
    _, golden = read_bundle(exported_models["digits_cnn"].bundle_dir)
    assert golden["inputs/input"].max() == 16.0
