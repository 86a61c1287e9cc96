"""``python -m training``: success, bad input (exit 1 or 2, no traceback), reproducibility."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

# Whether torch is there, not torch itself: each worker of make unit collects this module
# (torch is imported by the tests that ask it about CUDA, and by training when it trains).
if importlib.util.find_spec("torch") is None:
    pytest.skip("could not import 'torch': No module named 'torch'", allow_module_level=True)

from tests.support.unit_loop import skip_in_unit_loop  # noqa: E402
from training import MODEL_NAMES, TrainingError, train_and_export  # noqa: E402
from training.bundle import read_bundle  # noqa: E402
from training.cli import main  # noqa: E402


def _invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), prog_name="python -m training")


def _fake_bundle(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    for name in ("model.onnx", "export.json", "golden.npz"):
        (folder / name).write_bytes(name.encode())
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_help_documents_every_option_and_shows_an_example() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    assert "python -m training digits_cnn --out models/exports/digits_cnn" in result.output
    for name in MODEL_NAMES:
        assert name in result.output
    for param in main.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{param.opts[0]} has no help text"


def test_unknown_model_is_a_usage_error(tmp_path: Path) -> None:
    result = _invoke("resnet", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "Invalid value for 'MODEL': 'resnet' is not one of 'digits_cnn', 'cancer_mlp'." in (
        result.stderr
    )
    with pytest.raises(TrainingError, match="Unknown model 'resnet'. Expected one of: digits_cnn"):
        train_and_export("resnet", tmp_path / "x")


def test_existing_bundle_is_refused_without_force_and_left_untouched(tmp_path: Path) -> None:
    out = tmp_path / "digits_cnn"
    before = _fake_bundle(out)
    result = _invoke("digits_cnn", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Output folder {out} already holds a bundle (export.json, golden.npz, "
        "model.onnx). An export never overwrites a bundle unasked: pass --force (force=True) "
        "to replace it, or choose another folder.\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_force_replaces_an_existing_bundle(tmp_path: Path) -> None:
    skip_in_unit_loop("model training")
    out = tmp_path / "cancer_mlp"
    _fake_bundle(out)
    result = _invoke("cancer_mlp", "--out", str(out), "--force", "--epochs", "2")
    assert result.exit_code == 0, result.output
    export, _ = read_bundle(out)
    assert export["model_name"] == "cancer_mlp" and export["training"]["epochs"] == 2
    assert result.stdout.startswith("cancer_mlp: held-out accuracy ")
    assert result.stdout.rstrip().endswith(f"-> {out}")
    # every long step is announced on stderr (no silent wait), data stays on stdout
    steps = [
        "Loading PyTorch and the breast_cancer data",
        "Training cancer_mlp for 2 epochs on cpu",
        "Exporting to ONNX; parity gate: ONNX Runtime against PyTorch",
    ]
    assert [line for line in result.stderr.splitlines() if line in steps] == steps


def test_cuda_without_a_gpu_exits_1_before_training(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = _invoke("digits_cnn", "--out", str(tmp_path / "d"), "--device", "cuda")
    assert result.exit_code == 1
    assert "Device 'cuda' was asked for, but torch" in result.stderr
    assert "sees no CUDA GPU" in result.stderr and "Use --device cpu" in result.stderr
    assert not (tmp_path / "d").exists()


def test_tensorrt_without_tensorrt_or_gpu_exits_1_naming_what_is_missing(tmp_path: Path) -> None:
    result = _invoke("digits_cnn", "--out", str(tmp_path / "d"), "--tensorrt")
    try:
        import tensorrt  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        expected = "--tensorrt needs the TensorRT Python package"
    else:
        import torch

        if torch.cuda.is_available():
            pytest.skip("TensorRT and a GPU are present: --tensorrt would build a plan")
        expected = "--tensorrt needs an NVIDIA GPU"
    assert result.exit_code == 1
    assert expected in result.stderr and "drop --tensorrt" in result.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_gives_same_predictions_and_onnx_bytes_across_processes(
    tmp_path: Path, name: str
) -> None:
    skip_in_unit_loop("model training")
    in_process = train_and_export(name, tmp_path / "a", epochs=3, seed=7)
    child = subprocess.run(
        [sys.executable, "-m", "training", name, "--out", str(tmp_path / "b"), "--epochs", "3"]
        + ["--seed", "7", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    summary = json.loads(child.stdout)
    _, golden_a = read_bundle(tmp_path / "a")
    _, golden_b = read_bundle(tmp_path / "b")
    np.testing.assert_array_equal(
        golden_a["outputs/probabilities"], golden_b["outputs/probabilities"]
    )
    assert summary["onnx_sha256"] == in_process.onnx_sha256
    assert in_process.onnx_bytes_reproducible is True
    other_seed = train_and_export(name, tmp_path / "c", epochs=3, seed=8)
    assert other_seed.onnx_sha256 != in_process.onnx_sha256
