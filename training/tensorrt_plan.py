"""Optional: build a TensorRT ``model.plan`` from the exported ONNX graph.

The only module that imports ``tensorrt``. A plan runs only with the same TensorRT version
on a GPU of the same compute capability, so both are recorded next to it.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from orchestrator.errors import TrainingError

__all__ = ["PlanInfo", "build_plan", "require_tensorrt"]

logger = logging.getLogger(__name__)

WORKSPACE_BYTES = 1 << 30


@dataclass(frozen=True)
class PlanInfo:
    """A built TensorRT engine and what it needs to run.

    Attributes:
        plan: the serialized engine (``model.plan``).
        tensorrt_version: the TensorRT version that built it (and must run it).
        compute_capability: the GPU's ``major.minor`` (the plan runs only there).
        gpu_name: the GPU it was built on.
        batch_profile: ``{"min", "opt", "max"}`` batch sizes of the optimization profile.
    """

    plan: bytes
    tensorrt_version: str
    compute_capability: str
    gpu_name: str
    batch_profile: dict[str, int]

    def describe(self) -> dict[str, Any]:
        """Return what ``export.json`` records under ``tensorrt``."""
        return {
            "tensorrt_version": self.tensorrt_version,
            "compute_capability": self.compute_capability,
            "gpu_name": self.gpu_name,
            "batch_profile": self.batch_profile,
        }


def require_tensorrt() -> ModuleType:
    """Return the ``tensorrt`` module, or explain what is missing (package or GPU).

    Raises:
        TrainingError: TensorRT is not installed or no CUDA GPU is visible.

    Example:
        >>> trt = require_tensorrt()  # only where TensorRT and a GPU are present
    """
    import torch

    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise TrainingError(
            f"--tensorrt needs the TensorRT Python package, which could not be imported "
            f"({exc}). Install it on a GPU machine (pip install tensorrt, matching the "
            "TensorRT of the Triton image that will serve the plan), or drop --tensorrt: "
            "the ONNX model serves everywhere."
        ) from exc
    if not torch.cuda.is_available():
        raise TrainingError(
            f"--tensorrt needs an NVIDIA GPU, but torch {torch.__version__} sees none "
            f"(torch.version.cuda={torch.version.cuda}). Build the plan on a GPU machine of "
            "the kind that will serve it, or drop --tensorrt."
        )
    return trt


def build_plan(
    onnx_bytes: bytes, input_shapes: dict[str, list[int]], *, max_batch_size: int = 64
) -> PlanInfo:
    """Build a serialized TensorRT engine with a dynamic-batch optimization profile.

    Args:
        onnx_bytes: the parity-gated ONNX model.
        input_shapes: ``{input name: [-1, *dims]}`` from the bundle's signature.
        max_batch_size: the largest batch the plan accepts.

    Returns:
        The plan and the versions it is bound to.

    Raises:
        TrainingError: TensorRT or a GPU is missing, or TensorRT cannot build the engine.

    Example:
        >>> build_plan(onnx_bytes, {"input": [-1, 1, 8, 8]}).compute_capability
        '9.0'
    """
    import torch

    trt = require_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    # TensorRT 10 (Triton 24.10 ships 10.5) is always explicit-batch; 8.x must be told.
    flags = 0
    if int(str(trt.__version__).split(".")[0]) < 10:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise TrainingError(
            f"TensorRT {trt.__version__} cannot parse the ONNX graph: {errors}. "
            "Drop --tensorrt and serve the ONNX model."
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    profile = builder.create_optimization_profile()
    opt = max(1, max_batch_size // 4)
    for name, shape in input_shapes.items():
        dims = shape[1:]
        profile.set_shape(name, [1, *dims], [opt, *dims], [max_batch_size, *dims])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TrainingError(
            f"TensorRT {trt.__version__} failed to build an engine (see its log above). "
            "Drop --tensorrt and serve the ONNX model."
        )
    major, minor = torch.cuda.get_device_capability()
    info = PlanInfo(
        plan=bytes(serialized),
        tensorrt_version=str(trt.__version__),
        compute_capability=f"{major}.{minor}",
        gpu_name=torch.cuda.get_device_name(),
        batch_profile={"min": 1, "opt": opt, "max": max_batch_size},
    )
    logger.info(
        "Built a TensorRT %s plan for compute capability %s",
        info.tensorrt_version,
        info.compute_capability,
    )
    return info
