"""Triton core's rules for a model config, checked offline (before any backend).

Mirrors ``ValidateModelConfig``, ``ValidateIOShape``, ``ValidateInstanceGroup`` and the
server-side backend autofill of Triton 2.51 (``AutoCompleteBackendFields`` in
``model_config_utils.cc``, as ``orchestrator.core.backend_fields``), and the warmup
batch-size rule, for the non-ensemble models of a repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.backend_fields import (
    BackendFields,
    autofill_backend_fields,
    backend_fields_problem,
    first_subfolder,
)
from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.load_rules import GPU_ACCELERATORS, needs_autocomplete
from orchestrator.core.model_config import (
    DataType,
    InstanceKind,
    ModelConfig,
    ModelInput,
    config_as_dict,
)
from orchestrator.repository.validation.core_rules import core_rule_findings

__all__ = [
    "ONNX_BACKEND",
    "ONNX_FILENAME",
    "LoadedModel",
    "backend_fields",
    "backend_of",
    "core_findings",
    "io_shape_findings",
]

ONNX_BACKEND = "onnxruntime"
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


def core_findings(model: LoadedModel, *, auto_complete: bool = False) -> list[Finding]:
    """Triton core's checks of a (non-ensemble) config, before any backend sees it (any backend).

    With ``auto_complete`` (a server without ``--disable-auto-complete-config``), a config
    the onnxruntime backend will complete gets its input and output checks after the
    completion (``graph_checks.autocompleted_findings``), as Triton does.

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

    fields = backend_fields(model)
    problem = backend_fields_problem(model.name, fields)
    if problem is not None and not fields.backend:
        add(
            "backend-missing",
            f"Triton cannot tell the backend: {problem} (the config names no backend, and "
            f"{_why_undetermined(model, fields)})",
            'Add backend: "onnxruntime" (or the backend the model is for).',
            "platform:" if fields.platform else "name:",
        )
    elif problem is not None:
        add(
            "platform-mismatch",
            f"platform {fields.platform!r} does not go with backend {fields.backend!r}: {problem}",
            "Remove the platform line (the backend is enough).",
            "platform:",
        )
    elif not config.backend:
        add(
            "autocomplete-backend",
            f"the config names no backend; Triton infers {fields.backend!r} from the "
            f"{fields.source}",
            f'Write backend: "{fields.backend}" so the config says what production runs.',
            severity="warning",
        )
    if config.max_batch_size < 0:
        add(
            "max-batch-size-negative",
            f"max_batch_size is {config.max_batch_size}",
            "Use 0 (no batching) or a positive size.",
            "max_batch_size",
        )
    # Strict: core validates inputs and outputs at once, whatever the backend. Auto-complete:
    # after the backend completed them (onnxruntime: per version, in graph_checks; another
    # backend: not known here).
    completes = fields.backend != ONNX_BACKEND or needs_autocomplete(config_as_dict(config))
    if not (auto_complete and completes):
        found += io_shape_findings(model)
    found += _check_scheduling(model)
    found += core_rule_findings(config, fields.platform, text, path)
    if fields.backend == ONNX_BACKEND:
        found += _gpu_accelerator_findings(model)
    return found


def _gpu_accelerator_findings(model: LoadedModel) -> list[Finding]:
    """GPU execution accelerators the onnxruntime backend does not know.

    onnxruntime_backend r24.10 ``src/onnxruntime.cc`` ``ModelState::CreateSession`` reads
    ``gpu_execution_accelerator`` for GPU (and AUTO) instances only: "tensorrt" (built with
    TRITON_ENABLE_ONNXRUNTIME_TENSORRT) and "cuda"; any other name is "unknown Execution
    Accelerator". Production runs GPU instances, so it is an error there (a CPU-only local
    server never reads the list).
    """
    accelerators = model.config.optimization.execution_accelerators
    found = []
    for accelerator in accelerators.gpu_execution_accelerator:
        if accelerator.name not in GPU_ACCELERATORS:
            found.append(
                new_finding(
                    "accelerator-unknown",
                    "error" if _has_gpu_instances(model.config) else "warning",
                    model.config_path,
                    f"unknown GPU execution accelerator {accelerator.name!r} (the onnxruntime "
                    f"backend knows {', '.join(GPU_ACCELERATORS)}); GPU instances refuse the "
                    "model",
                    'Use name: "tensorrt" or name: "cuda".',
                    line_of(model.text, f'"{accelerator.name}"'),
                )
            )
    return found


def _has_gpu_instances(config: ModelConfig) -> bool:
    # No instance_group: one group of the default kind, a GPU one on a GPU machine.
    return not config.instance_group or any(
        g.kind in (_KIND.KIND_GPU, _KIND.KIND_AUTO) for g in config.instance_group
    )


def backend_fields(model: LoadedModel) -> BackendFields:
    """The config's backend, platform and model filename after Triton core's autofill.

    Example:
        >>> backend_fields(model).backend  # doctest: +SKIP
        'onnxruntime'
    """
    config = model.config
    first = first_subfolder([e.name for e in _entries(model.folder) if _is_dir(e)])
    listing = None
    if first is not None:
        listing = {e.name: _is_dir(e) for e in _entries(model.folder / first)}
    return autofill_backend_fields(
        model.name, config.backend, config.platform, config.default_model_filename, listing
    )


def backend_of(model: LoadedModel) -> str | None:
    """The backend Triton will use (after its autofill), or None when it cannot tell."""
    return backend_fields(model).backend or None


def _why_undetermined(model: LoadedModel, fields: BackendFields) -> str:
    if fields.platform:
        return f"platform {fields.platform!r} is not one Triton maps to a backend"
    if fields.default_model_filename:
        return (
            f"default_model_filename {fields.default_model_filename!r} is not a name Triton "
            "maps to a backend (model.onnx, model.plan, model.pt, model.py, ...)"
        )
    subfolders = [e.name for e in _entries(model.folder) if _is_dir(e)]
    first = first_subfolder(subfolders)
    if first is None:
        return "the model folder has no sub-folder to look into"
    return (
        f"Triton looks only into the first sub-folder in name order, {first!r}, which holds "
        "no model.onnx, model.plan, model.pt, model.py, model.savedmodel, model.graphdef or "
        "model.xml"
    )


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


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
        if group.gpus and group.kind == _KIND.KIND_CPU:
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
