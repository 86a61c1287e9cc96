"""Triton core's rules for a model config, checked offline (before any backend).

Mirrors ``ValidateModelConfig``, ``ValidateIOShape``, ``ValidateInstanceGroup`` and the
server-side backend autofill of Triton 2.51 (``model_config_utils.cc``), and the warmup
batch-size rule, for the non-ensemble models of a repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.model_config import DataType, InstanceKind, ModelConfig, ModelInput
from orchestrator.repository.layout import is_version

__all__ = [
    "ONNX_BACKEND",
    "ONNX_FILENAME",
    "LoadedModel",
    "backend_of",
    "core_findings",
    "io_shape_findings",
]

ONNX_BACKEND = "onnxruntime"
ONNX_PLATFORM = "onnxruntime_onnx"
ONNX_FILENAME = "model.onnx"
_KIND = InstanceKind


@dataclass(frozen=True)
class LoadedModel:
    """A model folder whose config.pbtxt parsed."""

    name: str
    folder: Path
    config_path: Path
    text: str
    config: ModelConfig


def core_findings(model: LoadedModel) -> list[Finding]:
    """Triton core's checks of a (non-ensemble) config, before any backend sees it.

    Example:
        >>> [f.code for f in core_findings(model)]  # doctest: +SKIP
        ['preferred-batch-size']
    """
    config, path, text = model.config, model.config_path, model.text
    found: list[Finding] = []

    def add(
        code: str, message: str, hint: str, *needles: str, severity: Severity = "error"
    ) -> None:
        found.append(new_finding(code, severity, path, message, hint, line_of(text, *needles)))

    backend = backend_of(model)
    if backend is None:
        add(
            "backend-missing",
            "the config names no backend or platform, and no version has a model.onnx",
            'Add backend: "onnxruntime".',
        )
    elif not config.backend:
        add(
            "autocomplete-backend",
            f"the config names no backend; Triton infers {backend!r} from the files",
            f'Write backend: "{backend}" so the config says what production runs.',
            severity="warning",
        )
    if config.platform and config.platform != ONNX_PLATFORM and backend == ONNX_BACKEND:
        add(
            "platform-mismatch",
            f"platform {config.platform!r} does not go with backend 'onnxruntime'",
            "Remove the platform line (or use onnxruntime_onnx).",
            "platform:",
        )
    if config.max_batch_size < 0:
        add(
            "max-batch-size-negative",
            f"max_batch_size is {config.max_batch_size}",
            "Use 0 (no batching) or a positive size.",
            "max_batch_size",
        )
    found += io_shape_findings(model)
    found += _check_scheduling(model)
    return found


def backend_of(model: LoadedModel) -> str | None:
    """The backend Triton will use: the config's, or what its server-side autofill infers."""
    config = model.config
    if config.backend:
        return str(config.backend)
    if config.platform == ONNX_PLATFORM or config.default_model_filename == ONNX_FILENAME:
        return ONNX_BACKEND
    if config.platform or config.default_model_filename:
        return str(config.platform or config.default_model_filename)
    for entry in _entries(model.folder):
        if is_version(entry.name) and (entry / ONNX_FILENAME).exists():
            return ONNX_BACKEND
    return None


def io_shape_findings(model: LoadedModel) -> list[Finding]:
    """Triton core's ValidateIOShape for every input and output, and duplicate names."""
    config, path, text = model.config, model.config_path, model.text
    found = []
    seen: set[tuple[str, str]] = set()
    ios = [("input", io) for io in config.input] + [("output", io) for io in config.output]
    for kind, io in ios:
        problem = _io_shape_problem(io, config.max_batch_size)
        line = line_of(text, f'"{io.name}"') if io.name else line_of(text, kind)
        if problem is not None:
            code, message = problem
            found.append(
                new_finding(
                    code,
                    "error",
                    path,
                    f"model {kind} '{io.name}' {message}",
                    "Regenerate the config from the graph (`orchestrator publish "
                    "--update-config`) or fix the dims by hand.",
                    line,
                )
            )
        if (kind, io.name) in seen:
            found.append(
                new_finding(
                    "duplicate-name",
                    "error",
                    path,
                    f"{kind} '{io.name}' is declared more than once",
                    "Keep one entry per tensor.",
                    line,
                )
            )
        seen.add((kind, io.name))
    return found


def _io_shape_problem(io: ModelInput, max_batch_size: int) -> tuple[str, str] | None:
    """Triton core's ValidateIOShape, as (code, message)."""
    if not io.name:
        return "io-name-missing", "must specify 'name'"
    if io.data_type == DataType.TYPE_INVALID:
        return "dtype-missing", "must specify 'data_type'"
    if not io.dims:
        return "dims-missing", "must specify 'dims'"
    if io.HasField("reshape") and not io.reshape.shape and max_batch_size == 0:
        return "reshape-invalid", "cannot have an empty reshape without batching"
    if any(d < 1 and d != -1 for d in io.dims):
        return "dims-invalid", f"has dims {list(io.dims)}; each must be >= 1, or -1 (variable)"
    if io.HasField("reshape"):
        shape = list(io.reshape.shape)
        if any(d < 1 and d != -1 for d in shape):
            return "reshape-invalid", f"has reshape {shape}; each must be >= 1, or -1"
        if not _reshape_matches(list(io.dims), shape):
            return (
                "reshape-invalid",
                f"has different sizes for dims {list(io.dims)} and reshape {shape}",
            )
    return None


def _reshape_matches(dims: list[int], shape: list[int]) -> bool:
    def chunks(values: list[int]) -> list[int]:
        out, current = [], 1
        for value in values:
            if value == -1:
                out.append(current)
                current = 1
            else:
                current *= value
        return [*out, current]

    if -1 not in dims and -1 not in shape:
        total_dims, total_shape = chunks(dims)[0], chunks(shape)[0]
        return total_dims == total_shape or (not shape and total_dims == 1)
    return -1 in dims and chunks(dims) == chunks(shape)


def _check_scheduling(model: LoadedModel) -> list[Finding]:
    config, path, text = model.config, model.config_path, model.text
    found = []
    if config.HasField("dynamic_batching"):
        for size in config.dynamic_batching.preferred_batch_size:
            if size <= 0 or size > config.max_batch_size:
                found.append(
                    new_finding(
                        "preferred-batch-size",
                        "error",
                        path,
                        f"dynamic batching preferred size {size} is not in 1..max_batch_size "
                        f"({config.max_batch_size})",
                        "Use preferred sizes no larger than max_batch_size (none when it is 0).",
                        line_of(text, "preferred_batch_size", str(size)),
                    )
                )
        if config.max_batch_size == 0:
            found.append(
                new_finding(
                    "dynamic-batching-unbatched",
                    "warning",
                    path,
                    "dynamic_batching is set but max_batch_size is 0, so requests are never "
                    "batched",
                    "Remove dynamic_batching, or export a dynamic batch axis and set "
                    "max_batch_size.",
                    line_of(text, "dynamic_batching"),
                )
            )
    for group in config.instance_group:
        if group.gpus and group.kind in (_KIND.KIND_CPU, _KIND.KIND_MODEL):
            found.append(
                new_finding(
                    "instance-group-gpus",
                    "error",
                    path,
                    f"instance group of kind {_KIND.Name(group.kind)} lists GPUs "
                    f"{list(group.gpus)}",
                    "Only KIND_GPU groups may list gpus.",
                    line_of(text, "gpus"),
                )
            )
    if config.model_warmup and config.max_batch_size > 0:
        for warmup in config.model_warmup:
            if warmup.batch_size > config.max_batch_size:
                found.append(
                    new_finding(
                        "warmup-invalid",
                        "error",
                        path,
                        f"warmup {warmup.name!r} has batch_size {warmup.batch_size} > "
                        f"max_batch_size {config.max_batch_size}",
                        "Use a warmup batch_size no larger than max_batch_size.",
                        line_of(text, "batch_size", str(warmup.batch_size)),
                    )
                )
    return found


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []
