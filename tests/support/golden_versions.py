"""Model versions with golden data for the serving tests, built from tests/support/onnx_models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

from orchestrator.core.golden import golden_path, write_golden
from tests.support.onnx_models import AFFINE_CONFIG, make_affine_onnx, make_identity_onnx

GOLDEN_X = np.random.default_rng(7).normal(size=(5, 4)).astype(np.float32)


def affine_config(name: str, *, max_batch_size: int = 8, extra: str = "") -> str:
    """The production-style affine config (KIND_GPU, dynamic batching)."""
    return AFFINE_CONFIG.format(name=name, max_batch_size=max_batch_size, delay_us=100) + extra


def write_affine_version(
    repo: Path,
    name: str,
    version: int,
    *,
    offset: float = 1.0,
    broken: bool = False,
    golden: bool = True,
    config: str | None = None,
) -> Path:
    """Write ``<repo>/<name>/<version>/`` (y = 2x + offset) with golden data from ONNX Runtime.

    ``broken`` writes a graph whose input name disagrees with the config, which the
    backend refuses at load. The config is written when missing (or when given).
    """
    folder = repo / name / str(version)
    model_path = folder / "model.onnx"
    make_affine_onnx(model_path)
    if offset != 1.0:
        model = onnx.load(model_path)
        for index, tensor in enumerate(model.graph.initializer):
            if tensor.name == "one":
                model.graph.initializer[index].CopyFrom(
                    numpy_helper.from_array(np.array(offset, dtype=np.float32), "one")
                )
        onnx.save(model, model_path)
    if golden:
        session = ort.InferenceSession(str(model_path))
        y, s = session.run(["y", "s"], {"x": GOLDEN_X})
        write_golden(golden_path(folder), {"x": GOLDEN_X}, {"y": y, "s": s})
    if broken:
        make_identity_onnx(model_path, [("pixels", "y", TensorProto.FLOAT, ["N", 4])])
    config_path = repo / name / "config.pbtxt"
    if config is not None or not config_path.exists():
        config_path.write_text(config if config is not None else affine_config(name))
    return folder
