"""Published repositories pass validate and the real Triton serves them like ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from numpy.typing import NDArray

from orchestrator import client
from orchestrator.core.golden import golden_path, read_golden
from orchestrator.repository.publish import publish
from orchestrator.repository.validation.validate import validate_repository
from orchestrator.serving.triton import TritonServer, load_models
from tests.support.onnx_models import make_bundle

pytestmark = pytest.mark.integration


def _sklearn_onnx(path: Path, labels: NDArray[Any]) -> Path:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3)).astype(np.float32)
    model = LogisticRegression().fit(features, labels)
    onnx_model = to_onnx(model, features[:1], options={"zipmap": False}, target_opset=17)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model.SerializeToString())
    return path


def _findings(repo: Path, name: str) -> list[str]:
    folder = repo / name
    return [
        str(f) for f in validate_repository(repo) if f.path == folder or folder in f.path.parents
    ]


@pytest.mark.parametrize(
    "labels",
    [np.array([0, 1, 2] * 20, dtype=np.int64), np.array(["cat", "dog", "eel"] * 20)],
    ids=["int64-labels", "string-labels"],
)
def test_bare_skl2onnx_file_is_published_validated_and_served_like_onnx_runtime(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path, labels: NDArray[Any]
) -> None:
    kind = "int" if labels.dtype.kind == "i" else "str"
    source = _sklearn_onnx(tmp_path / f"skl_{kind}.onnx", labels)
    result = publish(source, triton_repo, f"skl_{kind}")
    assert _findings(triton_repo, result.model) == []
    state = load_models(triton_server.http_url, triton_repo, [result.model], cpu_override=True)[0]
    assert state.state == "READY", state.reason

    features = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    served = client.infer(triton_server.http_url, result.model, {"X": features})
    expected_label, expected_probabilities = ort.InferenceSession(str(source)).run(
        ["label", "probabilities"], {"X": features}
    )
    # The label is rank 1 in the graph: Triton serves it as [N, 1] (dims [1], reshape []).
    assert served["label"].shape == (5, 1)
    if kind == "str":
        assert [v.decode() for v in served["label"].ravel()] == list(expected_label)
    else:
        np.testing.assert_array_equal(served["label"].ravel(), expected_label)
    np.testing.assert_array_equal(served["probabilities"], expected_probabilities)


def test_bundle_is_served_and_answers_its_golden_data_exactly(
    triton_server: TritonServer, triton_repo: Path, tmp_path: Path
) -> None:
    bundle = make_bundle(tmp_path / "bundle", name="bundle_affine")
    result = publish(bundle, triton_repo)
    assert _findings(triton_repo, result.model) == []
    state = load_models(triton_server.http_url, triton_repo, [result.model], cpu_override=True)[0]
    assert state.state == "READY", state.reason
    golden = read_golden(golden_path(result.path))
    served = client.infer(triton_server.http_url, result.model, golden.inputs)
    np.testing.assert_array_equal(served["y"], golden.outputs["y"])
