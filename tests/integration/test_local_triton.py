"""A real Triton serves production-style configs through the stand-in onnxruntime backend."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto

from orchestrator import client
from orchestrator.errors import ServerError
from orchestrator.serving.triton import TritonServer, load_models
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx, make_identity_onnx

pytestmark = pytest.mark.integration


def _load(server: TritonServer, repo: Path, name: str) -> client.ModelState:
    states = load_models(server.http_url, repo, [name], cpu_override=True)
    assert [s.name for s in states] == [name]
    return states[0]


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_gpu_config_loads_on_cpu_and_answers_exactly_like_onnxruntime(
    triton_server: TritonServer, triton_repo: Path, write_model: Callable[..., Path], protocol: str
) -> None:
    name = f"affine_{protocol}"
    config = AFFINE_CONFIG.format(name=name, max_batch_size=8, delay_us=100)
    model_dir = write_model(triton_repo, name, config, make_affine_onnx)
    assert _load(triton_server, triton_repo, name).state == "READY"

    batch = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    url = triton_server.http_url if protocol == "http" else triton_server.grpc_url
    served = client.infer(url, name, {"x": batch}, protocol=protocol)  # type: ignore[arg-type]

    session = ort.InferenceSession(str(model_dir / "1" / "model.onnx"))
    expected_y, expected_s = session.run(["y", "s"], {"x": batch})
    np.testing.assert_array_equal(served["y"], expected_y)
    np.testing.assert_array_equal(served["s"], expected_s)


def test_dynamic_batching_runs_fewer_executions_than_inferences(
    triton_server: TritonServer, triton_repo: Path, write_model: Callable[..., Path]
) -> None:
    name = "affine_batched"
    config = AFFINE_CONFIG.format(name=name, max_batch_size=16, delay_us=20000)
    write_model(triton_repo, name, config, make_affine_onnx)
    assert _load(triton_server, triton_repo, name).state == "READY"

    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(10):
                x = rng.normal(size=(1, 4)).astype(np.float32)
                out = client.infer(triton_server.http_url, name, {"x": x})
                np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-6)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    stats = client.inference_statistics(triton_server.http_url, name)["model_stats"][0]
    assert int(stats["inference_count"]) == 80
    assert int(stats["execution_count"]) < int(stats["inference_count"])


def test_every_supported_dtype_round_trips(
    triton_server: TritonServer, triton_repo: Path, write_model: Callable[..., Path]
) -> None:
    tensors: list[tuple[str, str, int, list[int | str | None], str]] = [
        ("f16", "f16_out", TensorProto.FLOAT16, ["N", 3], "TYPE_FP16"),
        ("b", "b_out", TensorProto.BOOL, ["N", 3], "TYPE_BOOL"),
        ("i64", "i64_out", TensorProto.INT64, ["N", 3], "TYPE_INT64"),
        ("u8", "u8_out", TensorProto.UINT8, ["N", 3], "TYPE_UINT8"),
        ("f64", "f64_out", TensorProto.DOUBLE, ["N", 3], "TYPE_FP64"),
        ("text", "text_out", TensorProto.STRING, ["N", 3], "TYPE_STRING"),
    ]
    ios = "\n".join(
        f'input {{ name: "{i}" data_type: {t} dims: [3] }}\n'
        f'output {{ name: "{o}" data_type: {t} dims: [3] }}'
        for i, o, _, _, t in tensors
    )
    config = f'name: "dtypes"\nbackend: "onnxruntime"\nmax_batch_size: 4\n{ios}\n'
    config += "instance_group [{ kind: KIND_GPU }]\n"
    write_model(
        triton_repo,
        "dtypes",
        config,
        lambda p: make_identity_onnx(p, [(i, o, e, s) for i, o, e, s, _ in tensors]),
    )
    assert _load(triton_server, triton_repo, "dtypes").state == "READY"

    rng = np.random.default_rng(1)
    inputs = {
        "f16": rng.normal(size=(2, 3)).astype(np.float16),
        "b": rng.integers(0, 2, size=(2, 3)).astype(bool),
        "i64": rng.integers(-(2**40), 2**40, size=(2, 3)).astype(np.int64),
        "u8": rng.integers(0, 255, size=(2, 3)).astype(np.uint8),
        "f64": rng.normal(size=(2, 3)),
        "text": np.array([["a", "bé", ""], ["x y", "z", "ünï"]], dtype=object),
    }
    for protocol, url in (("http", triton_server.http_url), ("grpc", triton_server.grpc_url)):
        out = client.infer(url, "dtypes", inputs, protocol=protocol)  # type: ignore[arg-type]
        for in_name, out_name, *_ in tensors:
            if in_name == "text":
                decoded = np.vectorize(lambda v: v.decode("utf-8"))(out[out_name])
                np.testing.assert_array_equal(decoded, inputs[in_name])
            else:
                assert out[out_name].dtype == inputs[in_name].dtype
                np.testing.assert_array_equal(out[out_name], inputs[in_name])


def test_model_without_batch_dimension_is_served(
    triton_server: TritonServer, triton_repo: Path, write_model: Callable[..., Path]
) -> None:
    config = (
        'name: "fixed"\nbackend: "onnxruntime"\nmax_batch_size: 0\n'
        'input { name: "x" data_type: TYPE_FP32 dims: [2, 4] }\n'
        'output { name: "y" data_type: TYPE_FP32 dims: [2, 4] }\n'
        'output { name: "s" data_type: TYPE_FP32 dims: [2, 1] }\n'
        "instance_group [{ kind: KIND_GPU }]\n"
    )
    write_model(triton_repo, "fixed", config, lambda p: make_affine_onnx(p, batch=2))
    assert _load(triton_server, triton_repo, "fixed").state == "READY"
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = client.infer(triton_server.grpc_url, "fixed", {"x": x}, protocol="grpc")
    np.testing.assert_array_equal(out["y"], x * 2 + 1)
    np.testing.assert_array_equal(out["s"], x.sum(axis=1, keepdims=True))


REFUSALS = {
    "wrong_input_name": (
        AFFINE_CONFIG.replace('name: "x"', 'name: "features"'),
        make_affine_onnx,
        "unexpected inference input 'features', allowed inputs are: x",
    ),
    "wrong_dtype": (
        AFFINE_CONFIG.replace(
            '{{ name: "x" data_type: TYPE_FP32', '{{ name: "x" data_type: TYPE_INT32'
        ),
        make_affine_onnx,
        "configuration expects datatype TYPE_INT32 for input 'x', model provides TYPE_FP32",
    ),
    "wrong_dims": (
        AFFINE_CONFIG.replace(
            '"y" data_type: TYPE_FP32 dims: [ 4 ]', '"y" data_type: TYPE_FP32 dims: [ 5 ]'
        ),
        make_affine_onnx,
        "tensor 'y': the model expects 2 dimensions (shape [-1,4]) but the model "
        "configuration specifies 2 dimensions",
    ),
    "batching_on_fixed_leading_dim": (
        AFFINE_CONFIG,
        lambda p: make_affine_onnx(p, batch=1),
        "for the model to support batching the shape should have at least 1 dimension and "
        "the first dimension must be -1; but shape expected by the model is [1,4]",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS), ids=sorted(REFUSALS))
def test_stand_in_refuses_what_the_real_backend_refuses(
    triton_server: TritonServer, triton_repo: Path, write_model: Callable[..., Path], case: str
) -> None:
    template, build, expected = REFUSALS[case]
    name = f"refused_{case}"
    write_model(
        triton_repo, name, template.format(name=name, max_batch_size=8, delay_us=100), build
    )
    state = _load(triton_server, triton_repo, name)
    assert state.state == "UNAVAILABLE"
    assert expected in state.reason
    with pytest.raises(ServerError, match="unavailable|not found|not ready|unknown"):
        client.infer(triton_server.http_url, name, {"x": np.zeros((1, 4), dtype=np.float32)})
