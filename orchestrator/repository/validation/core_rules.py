"""More of Triton core's config rules: scheduling, instance groups, tensor flags, batch I/O.

Each rule names its place in core r24.10 ``src/model_config_utils.cc``:

* ``ValidateModelConfig``: dynamic batching priority levels, the default priority level,
  priority queue policies, ``preserve_ordering`` (one priority level, no DELAY timeout
  action); sequence batching controls (``GetBooleanSequenceControlProperties``,
  ``GetTypedSequenceControlProperties``), the CORRID data type, the oldest strategy's
  preferred sizes, the direct strategy's slot utilization; the response cache with
  sequence batching or a decoupled model.
* ``ValidateInstanceGroup``: ``KIND_MODEL`` groups list no GPUs; ``profile`` only for
  ``tensorrt_plan``, each a number.
* ``ValidateModelInput`` / ``ValidateModelOutput`` / ``ValidateNonLinearFormatIO``:
  ``FORMAT_NHWC``/``FORMAT_NCHW`` need 3 dims; shape tensors and non-linear formats only for
  ``tensorrt_plan``.
* ``ValidateBatchIO``: batch input kinds, one source input, INT32/FP32, known names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.core.findings import Finding, line_of, new_finding
from orchestrator.core.model_config import (
    BatchInput,
    DataType,
    InputFormat,
    InstanceKind,
    ModelConfig,
    QueuePolicy,
    SequenceControl,
)

__all__ = ["core_rule_findings"]

_TENSORRT_PLATFORM = "tensorrt_plan"
_Control = SequenceControl
_QueuePolicy = QueuePolicy
_BatchInput = BatchInput
_InputFormat = InputFormat
_CORRID_TYPES = {
    DataType.TYPE_UINT64, DataType.TYPE_INT64, DataType.TYPE_UINT32, DataType.TYPE_INT32,
    DataType.TYPE_STRING,
}  # fmt: skip
_ONE_SOURCE_KINDS = {
    _BatchInput.BATCH_ELEMENT_COUNT,
    _BatchInput.BATCH_ACCUMULATED_ELEMENT_COUNT,
    _BatchInput.BATCH_ACCUMULATED_ELEMENT_COUNT_WITH_ZERO,
    _BatchInput.BATCH_MAX_ELEMENT_COUNT_AS_SHAPE,
    _BatchInput.BATCH_ITEM_SHAPE,
    _BatchInput.BATCH_ITEM_SHAPE_FLATTEN,
}

Add = Callable[[str, str, str, str], None]


def core_rule_findings(config: ModelConfig, platform: str, text: str, path: Path) -> list[Finding]:
    """Every rule below that ``config`` breaks (``platform`` is the one after core's autofill).

    Example:
        >>> found = core_rule_findings(config, "onnxruntime_onnx", text, path)  # doctest: +SKIP
        >>> [f.code for f in found]  # doctest: +SKIP
        ['priority-invalid']
    """
    found: list[Finding] = []

    def add(code: str, message: str, hint: str, needle: str) -> None:
        found.append(new_finding(code, "error", path, message, hint, line_of(text, needle)))

    _dynamic_batching(config, add)
    _sequence_batching(config, add)
    _instance_groups(config, platform, add)
    _tensor_flags(config, platform, add)
    _batch_io(config, add)
    return found


def _dynamic_batching(config: ModelConfig, add: Add) -> None:
    if not config.HasField("dynamic_batching"):
        return
    batching = config.dynamic_batching
    levels = batching.priority_levels
    if levels != 0:
        # ValidateModelConfig: "default priority level must be in range [1, N]"
        if not 1 <= batching.default_priority_level <= levels:
            add(
                "priority-invalid",
                f"default_priority_level {batching.default_priority_level} is not in "
                f"1..priority_levels ({levels})",
                "Set default_priority_level between 1 and priority_levels.",
                "priority_levels",
            )
        # "priority queue policy must have priority level in range [1, N]"
        for level in sorted(batching.priority_queue_policy):
            if not 1 <= level <= levels:
                add(
                    "priority-invalid",
                    f"priority_queue_policy names level {level}, outside 1..priority_levels "
                    f"({levels})",
                    "Key priority_queue_policy by levels between 1 and priority_levels.",
                    "priority_queue_policy",
                )
    if batching.preserve_ordering:
        # "Only one priority level is allowed when 'preserve_ordering' is true"
        if levels > 1:
            add(
                "preserve-ordering-invalid",
                f"preserve_ordering is true with {levels} priority levels; Triton allows one",
                "Drop preserve_ordering or the priority levels.",
                "preserve_ordering",
            )
        # "Queue policy can not have DELAY as timeout action when 'preserve_ordering'"
        policies = [batching.default_queue_policy, *batching.priority_queue_policy.values()]
        if any(
            p.default_timeout_microseconds != 0 and p.timeout_action == _QueuePolicy.DELAY
            for p in policies
        ):
            add(
                "preserve-ordering-invalid",
                "a queue policy with a timeout has timeout_action DELAY while "
                "preserve_ordering is true",
                "Use timeout_action: REJECT, or drop preserve_ordering.",
                "timeout_action",
            )


def _sequence_batching(config: ModelConfig, add: Add) -> None:
    if not config.HasField("sequence_batching"):
        if config.model_transaction_policy.decoupled and config.response_cache.enable:
            add(
                "response-cache-invalid",
                "the response cache is enabled for a decoupled model; Triton 24.10 does "
                "not support that",
                "Disable response_cache.",
                "response_cache",
            )
        return
    batcher = config.sequence_batching
    if config.response_cache.enable:
        add(
            "response-cache-invalid",
            "the response cache is enabled with sequence batching; Triton 24.10 does not "
            "support that",
            "Disable response_cache.",
            "response_cache",
        )
    for problem in _control_problems(batcher):
        add("sequence-control-invalid", problem, "Fix the control_input entry.", "control")
    if batcher.HasField("oldest"):
        for size in batcher.oldest.preferred_batch_size:
            if size <= 0 or size > config.max_batch_size:
                add(
                    "preferred-batch-size",
                    f"sequence batching preferred size {size} is not in 1..max_batch_size "
                    f"({config.max_batch_size})",
                    "Use preferred sizes no larger than max_batch_size.",
                    "preferred_batch_size",
                )
    if batcher.HasField("direct"):
        utilization = batcher.direct.minimum_slot_utilization
        if utilization < 0.0 or utilization > 1.0:
            add(
                "sequence-batching-invalid",
                f"minimum_slot_utilization {utilization} is not in (0.0, 1.0]",
                "Use a value between 0 and 1.",
                "minimum_slot_utilization",
            )


def _control_problems(batcher: object) -> list[str]:
    """GetBooleanSequenceControlProperties / GetTypedSequenceControlProperties, per kind."""
    problems: list[str] = []
    controls = list(getattr(batcher, "control_input", []))
    seen: set[str] = set()
    for control_input in controls:
        if not control_input.name:
            return ["a sequence batching control tensor has no name"]
        if control_input.name in seen:
            return [f"control tensor '{control_input.name}' is given for several control kinds"]
        seen.add(control_input.name)
    boolean = (
        _Control.CONTROL_SEQUENCE_START,
        _Control.CONTROL_SEQUENCE_END,
        _Control.CONTROL_SEQUENCE_READY,
    )
    for kind in (*boolean, _Control.CONTROL_SEQUENCE_CORRID):
        name = _Control.Kind.Name(kind)
        entries = [c for ci in controls for c in ci.control if c.kind == kind]
        if len(entries) > 1:
            problems.append(f"sequence batching names several {name} tensors")
            continue
        if not entries:
            continue
        entry = entries[0]
        sizes = [len(entry.int32_false_true), len(entry.fp32_false_true),
                 len(entry.bool_false_true)]  # fmt: skip
        if kind != _Control.CONTROL_SEQUENCE_CORRID:
            given = [s for s in sizes if s]
            if len(given) != 1:
                problems.append(
                    f"{name} must set exactly one of int32_false_true, fp32_false_true, "
                    "bool_false_true"
                )
            elif given[0] != 2:
                problems.append(f"{name}'s false/true list must have exactly 2 entries")
        elif any(sizes):
            problems.append(f"{name} must not set int32/fp32/bool_false_true")
        elif entry.data_type not in _CORRID_TYPES:
            problems.append(
                f"{name} has data type {DataType.Name(entry.data_type)}; allowed are "
                "TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and TYPE_STRING"
            )
    return problems


def _instance_groups(config: ModelConfig, platform: str, add: Add) -> None:
    for group in config.instance_group:
        if group.kind == InstanceKind.KIND_MODEL and group.gpus:
            add(
                "instance-group-gpus",
                f"instance group of kind KIND_MODEL lists GPUs {list(group.gpus)}",
                "Only KIND_GPU groups may list gpus.",
                "KIND_MODEL",
            )
        if group.profile and platform != _TENSORRT_PLATFORM:
            add(
                "instance-group-invalid",
                f"instance group sets profile {list(group.profile)}, which only TensorRT "
                f"models accept (platform here: {platform or 'none'})",
                "Remove the profile field.",
                "profile",
            )
        elif group.profile:
            for profile in group.profile:
                if not _stoi(profile):
                    add(
                        "instance-group-invalid",
                        f"instance group profile {profile!r} is not a number",
                        "Name TensorRT optimization profiles by index.",
                        "profile",
                    )


def _stoi(text: str) -> bool:
    stripped = text.lstrip(" \t\n\v\f\r")
    stripped = stripped[1:] if stripped[:1] in "+-" else stripped
    return bool(stripped) and stripped[0].isdigit()


def _tensor_flags(config: ModelConfig, platform: str, add: Add) -> None:
    for kind, tensors in (("input", config.input), ("output", config.output)):
        for io in tensors:
            if (
                kind == "input"
                and io.format in (_InputFormat.FORMAT_NHWC, _InputFormat.FORMAT_NCHW)
                and len(io.dims) != 3
            ):
                add(
                    "io-format-invalid",
                    f"input '{io.name}' has format {_InputFormat.Name(io.format)} with dims "
                    f"{list(io.dims)}; NHWC/NCHW need 3 dims",
                    "Give 3 dims or drop the format.",
                    f'"{io.name}"',
                )
            if platform != _TENSORRT_PLATFORM and io.is_shape_tensor:
                add(
                    "io-flag-invalid",
                    f"{kind} '{io.name}' is_shape_tensor, which only TensorRT models accept",
                    "Remove is_shape_tensor.",
                    "is_shape_tensor",
                )
            if io.is_non_linear_format_io and platform != _TENSORRT_PLATFORM:
                add(
                    "io-flag-invalid",
                    f"{kind} '{io.name}' is_non_linear_format_io, which only TensorRT "
                    "models accept",
                    "Remove is_non_linear_format_io.",
                    "is_non_linear_format_io",
                )


def _batch_io(config: ModelConfig, add: Add) -> None:
    inputs = {io.name for io in config.input}
    _batch_inputs(config, inputs, add)
    _batch_outputs(config, inputs, add)


_BATCH_HINT = "Fix the batch_input / batch_output entry (see model_config.proto)."


def _batch_inputs(config: ModelConfig, inputs: set[str], add: Add) -> None:
    hint = _BATCH_HINT
    for batch in config.batch_input:
        if batch.kind not in _ONE_SOURCE_KINDS or len(batch.source_input) != 1:
            add(
                "batch-io-invalid",
                f"batch input '{batch.target_name}' of kind "
                f"{_BatchInput.Kind.Name(batch.kind)} needs exactly 1 source input, got "
                f"{len(batch.source_input)}",
                hint,
                "batch_input",
            )
        if batch.data_type not in (DataType.TYPE_INT32, DataType.TYPE_FP32):
            add("batch-io-invalid", "batch input data type must be TYPE_INT32 or TYPE_FP32",
                hint, "batch_input")  # fmt: skip
        for source in batch.source_input:
            if source not in inputs:
                add("batch-io-invalid", f"batch input names unknown source input '{source}'",
                    hint, "batch_input")  # fmt: skip


def _batch_outputs(config: ModelConfig, inputs: set[str], add: Add) -> None:
    hint = _BATCH_HINT
    outputs = {io.name for io in config.output}
    for batch in config.batch_output:
        if len(batch.source_input) != 1:
            add("batch-io-invalid", "batch output needs exactly 1 source input", hint,
                "batch_output")  # fmt: skip
        for source in batch.source_input:
            if source not in inputs:
                add("batch-io-invalid", f"batch output names unknown source input '{source}'",
                    hint, "batch_output")  # fmt: skip
        targets = list(batch.target_name)
        for target in targets:
            if target not in outputs:
                add("batch-io-invalid", f"batch output names unknown output '{target}'", hint,
                    "batch_output")  # fmt: skip
        if len(set(targets)) != len(targets):
            add("batch-io-invalid", "a batch output names a target output twice", hint,
                "batch_output")  # fmt: skip
