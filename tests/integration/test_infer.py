"""``orchestrator infer`` against the real Triton: files in, outputs out, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.serving.triton import TritonServer, load_models
from tests.support.golden_versions import write_affine_version

pytestmark = pytest.mark.integration

NAME = "infer_affine"


@pytest.fixture(scope="module")
def served(triton_server: TritonServer, triton_repo: Path) -> TritonServer:
    write_affine_version(triton_repo, NAME, 1)
    write_affine_version(triton_repo, NAME, 2, offset=5.0)
    config = (triton_repo / NAME / "config.pbtxt").read_text()
    (triton_repo / NAME / "config.pbtxt").write_text(config + "version_policy { all {} }\n")
    states = load_models(triton_server.http_url, triton_repo, [NAME], cpu_override=True)
    assert [s.state for s in states] == ["READY", "READY"]
    return triton_server


def _infer(server: TritonServer, *args: str, protocol: str = "http"):
    urls = ["--url", server.http_url, "--grpc-url", server.grpc_url]
    return CliRunner().invoke(cli, ["infer", *urls, "--model", NAME, "--protocol", protocol, *args])


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_npy_input_prints_every_output_as_json(
    served: TritonServer, tmp_path: Path, protocol: str
) -> None:
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.save(tmp_path / "x.npy", x)
    result = _infer(
        served,
        "--input",
        str(tmp_path / "x.npy"),
        "--version",
        "1",
        "--format",
        "json",
        protocol=protocol,
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["model"] == NAME and body["version"] == "1"
    assert body["outputs"]["y"] == {
        "datatype": "FP32",
        "shape": [2, 4],
        "data": (x * 2 + 1).ravel().tolist(),
    }
    assert body["outputs"]["s"]["data"] == x.sum(axis=1).tolist()


def test_json_input_without_version_goes_to_the_latest_and_prints_a_table(
    served: TritonServer, tmp_path: Path
) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"x": [[1, 2, 3, 4]]}))
    result = _infer(served, "--input", str(tmp_path / "x.json"))
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "[[ 7.  9. 11. 13.]]" in rows["y"]  # version 2: y = 2x + 5
    assert "[[10.]]" in rows["s"]


def test_an_input_file_with_the_wrong_dtype_is_refused_before_sending(
    served: TritonServer, tmp_path: Path
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), dtype=np.float64))
    result = _infer(served, "--input", str(tmp_path / "x.npy"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr == (
        f"Error: {tmp_path}/x.npy does not fit the model's inputs: The tensors in "
        f"{tmp_path}/x.npy: 'x' has dtype float64, the model expects FP32 (float32). "
        "Expected: x FP32 [-1, 4].\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "nope"], "Error: Cannot read the metadata of model 'nope': "),
        (
            ["--model", NAME, "--version", "9"],
            f"Error: Cannot read the metadata of model '{NAME}' version 9: ",
        ),
    ],
    ids=["unknown-model", "unknown-version"],
)
def test_unknown_model_or_version_is_one_message(
    served: TritonServer, tmp_path: Path, args: list[str], expected: str
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 4), dtype=np.float32))
    result = CliRunner().invoke(
        cli, ["infer", "--url", served.http_url, "--input", str(tmp_path / "x.npy"), *args]
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(expected)
    assert "not found" in result.stderr


def test_missing_input_file_is_a_usage_error(served: TritonServer, tmp_path: Path) -> None:
    result = _infer(served, "--input", str(tmp_path / "missing.npy"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
