"""Offline checks of ensemble configs, as Triton core validates them at load.

Mirrors ``ValidateEnsembleSchedulingConfig`` (fields an ensemble must and must not have,
the data flow from ensemble inputs through the steps to the outputs) and the tensor
mapping checks against each step's model, plus dependency cycles between ensembles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator.core.findings import Finding, line_of
from orchestrator.core.model_config import EnsembleStep, ModelConfig, data_type_name

__all__ = ["ENSEMBLE_PLATFORM", "ensemble_findings"]

ENSEMBLE_PLATFORM = "ensemble"


class _ErrorFactory(Protocol):
    def __call__(self, code: str, message: str, hint: str, *needles: str) -> Finding: ...


def ensemble_findings(
    path: Path,
    text: str,
    config: ModelConfig,
    configs: Mapping[str, ModelConfig],
    served: Mapping[str, list[int]] | None = None,
) -> list[Finding]:
    """Findings for one ensemble config; ``configs`` are all models of the repository.

    ``served`` gives the versions each model's version_policy serves, to check steps that
    name a version.

    Example:
        >>> ensemble_findings(path, text, config, {"pre": pre, "cls": cls})  # doctest: +SKIP
        []
    """

    def error(code: str, message: str, hint: str, *needles: str) -> Finding:
        line = line_of(text, *needles) if needles else None
        return Finding(code, "error", path, line, message, hint)

    found = _structure(config, error)
    if found:
        return found
    nodes = _ensemble_nodes(config)
    for index, step in enumerate(config.ensemble_scheduling.step):
        where = f"step {index} ({step.model_name!r})"
        target = configs.get(step.model_name)
        if target is None:
            found.append(
                error(
                    "ensemble-model-missing",
                    f"{where} names a model that is not in the repository",
                    "Publish the model, or fix model_name.",
                    "model_name",
                    f'"{step.model_name}"',
                )
            )
            continue
        found += _check_step(config, step, where, target, error, nodes)
        versions = (served or {}).get(step.model_name)
        if step.model_version >= 0 and versions is not None and step.model_version not in versions:
            found.append(
                error(
                    "ensemble-version-missing",
                    f"{where} asks for version {step.model_version}, but the model serves "
                    f"{versions or 'no versions'}",
                    "Use model_version: -1 (the latest served) or a version it serves.",
                    "model_version",
                    str(step.model_version),
                )
            )
    found += _data_flow(config, error)
    cycle = _cycle(config.name, configs)
    if cycle:
        found.append(
            error(
                "ensemble-cycle",
                f"ensemble steps form a cycle: {' -> '.join(cycle)}",
                "An ensemble cannot (indirectly) contain itself.",
                "model_name",
            )
        )
    return found


@dataclass(frozen=True)
class _TensorNode:
    """An ensemble tensor as core's ``TensorNode`` records it (ensemble_utils.cc, r24.10)."""

    origin: str
    data_type: int
    dims: tuple[int, ...]
    batching: bool

    @property
    def full_dims(self) -> tuple[int, ...]:
        # "Expand dims to full shape, which includes batch dimension if exist"
        return (-1, *self.dims) if self.batching else self.dims


def _ensemble_nodes(config: ModelConfig) -> dict[str, _TensorNode]:
    # ValidateEnsembleConfig: the ensemble's inputs and outputs, by their reshape when given.
    batching = config.max_batch_size > 0
    nodes = {}
    for io in (*config.input, *config.output):
        dims = io.reshape.shape if io.HasField("reshape") else io.dims
        nodes[io.name] = _TensorNode("the ensemble", io.data_type, tuple(dims), batching)
    return nodes


def _check_step(
    config: ModelConfig,
    step: EnsembleStep,
    where: str,
    target: ModelConfig,
    error: _ErrorFactory,
    nodes: dict[str, _TensorNode],
) -> list[Finding]:
    """Core's ``ValidateEnsembleConfig`` batch-size rule and ``ValidateTensorMapping`` for a step.

    ``nodes`` holds the ensemble tensors seen so far (the ensemble's own inputs and
    outputs, then each step's); a tensor met again must agree with its first sighting
    (``ValidateTensorConsistency``).
    """
    found = []
    # "batchable ensemble can include non-batchable models as long as the expanded shapes
    # are consistent": only a batching step with a smaller max_batch_size is refused.
    if 0 < target.max_batch_size < config.max_batch_size:
        found.append(
            error(
                "ensemble-batch-size",
                f"the ensemble allows max_batch_size {config.max_batch_size}, but {where} "
                f"allows {target.max_batch_size}",
                "Give the ensemble a max_batch_size no larger than any batching step's.",
                "max_batch_size",
            )
        )
    batching = target.max_batch_size > 0
    for kind, mapping, tensors in (
        ("input", step.input_map, {io.name: io for io in target.input}),
        ("output", step.output_map, {io.name: io for io in target.output}),
    ):
        for key, ensemble_tensor in mapping.items():
            tensor = tensors.get(key)
            if tensor is None:
                found.append(
                    error(
                        "ensemble-tensor-unknown",
                        f"{where} maps {kind} '{key}', which model {step.model_name!r} does "
                        f"not have ({kind}s: {sorted(tensors)})",
                        f"Use the step model's {kind} names as {kind}_map keys.",
                        f'"{key}"',
                    )
                )
                continue
            # The step's tensor by its dims (not its reshape), with its own batching.
            node = _TensorNode(
                f"{where} {kind} '{key}'", tensor.data_type, tuple(tensor.dims), batching
            )
            seen = nodes.setdefault(ensemble_tensor, node)
            if seen is not node:
                found += _consistency(ensemble_tensor, seen, node, error)
        if kind == "input":
            for name, tensor in tensors.items():
                if name not in mapping and not tensor.optional:
                    found.append(
                        error(
                            "ensemble-input-unmapped",
                            f"{where} input '{name}' is not mapped to any ensemble tensor",
                            "Map every non-optional input of the step in its input_map.",
                            f'"{step.model_name}"',
                        )
                    )
    return found


def _consistency(
    name: str, first: _TensorNode, other: _TensorNode, error: _ErrorFactory
) -> list[Finding]:
    """Core's ``ValidateTensorConsistency``: same data type; dims or full dims match."""
    if first.data_type != other.data_type:
        return [
            error(
                "ensemble-dtype-mismatch",
                f"ensemble tensor '{name}' is {data_type_name(first.data_type)} for "
                f"{first.origin}, but {data_type_name(other.data_type)} for {other.origin}",
                "Give the ensemble tensor one data type everywhere.",
                f'"{name}"',
            )
        ]
    if _dims_compatible(first.dims, other.dims) or _dims_compatible(
        first.full_dims, other.full_dims
    ):
        return []
    return [
        error(
            "ensemble-dims-mismatch",
            f"ensemble tensor '{name}' has shape {list(first.full_dims)} for {first.origin}, "
            f"but {list(other.full_dims)} for {other.origin} (batch dimension included)",
            "Give the tensors the same dims (-1 matches any size; a non-batching step's "
            "leading -1 matches a batching model's batch dimension).",
            f'"{name}"',
        )
    ]


def _dims_compatible(left: Sequence[int], right: Sequence[int]) -> bool:
    # triton::common::CompareDimsWithWildcard
    return len(left) == len(right) and all(
        a == b or -1 in (a, b) for a, b in zip(left, right, strict=True)
    )


def _structure(config: ModelConfig, error: _ErrorFactory) -> list[Finding]:
    hint = (
        'Ensembles have platform: "ensemble", no backend, instance_group, optimization or warmup.'
    )
    found = []
    if config.backend:
        found.append(
            error("ensemble-invalid", "an ensemble must not name a backend", hint, "backend")
        )
    for field, what in (
        ("instance_group", "instance_group"),
        ("model_warmup", "model_warmup"),
    ):
        if len(getattr(config, field)):
            found.append(error("ensemble-invalid", f"an ensemble must not set {what}", hint, field))
    if config.HasField("optimization"):
        found.append(error("ensemble-invalid", "an ensemble must not set optimization", hint))
    if not config.HasField("ensemble_scheduling") or not config.ensemble_scheduling.step:
        found.append(
            error(
                "ensemble-invalid",
                "the ensemble has no ensemble_scheduling steps",
                "Add ensemble_scheduling { step [ ... ] }.",
            )
        )
        return found
    for index, step in enumerate(config.ensemble_scheduling.step):
        for field in ("model_name", "input_map", "output_map"):
            if not getattr(step, field):
                found.append(
                    error(
                        "ensemble-invalid",
                        f"step {index} of the ensemble must specify '{field}'",
                        "Every step needs model_name, input_map and output_map.",
                    )
                )
    return found


def _data_flow(config: ModelConfig, error: _ErrorFactory) -> list[Finding]:
    """Triton's readiness propagation from ensemble inputs through the steps."""
    steps = list(config.ensemble_scheduling.step)
    producers: set[str] = set()
    consumers: set[str] = set()
    for step in steps:
        for tensor in step.output_map.values():
            if tensor in producers:
                return [
                    error(
                        "ensemble-dataflow",
                        f"ensemble tensor '{tensor}' appears in more than one output_map",
                        "Each ensemble tensor must be written by exactly one step.",
                        f'"{tensor}"',
                    )
                ]
            producers.add(tensor)
        consumers.update(step.input_map.values())
    inputs = {io.name for io in config.input}
    outputs = {io.name for io in config.output}
    ready = _ready_tensors(steps, inputs)
    hint = "Connect every ensemble input to a step, and every output to a step's output_map."
    problems = [(f"ensemble input '{n}' is not used", n) for n in sorted(inputs - consumers)]
    for name in sorted(outputs):
        if name not in producers | consumers:
            problems.append((f"ensemble output '{name}' is not used", name))
        elif name not in ready:
            problems.append((f"output '{name}' is not written", name))
    for name in sorted((producers | consumers) - outputs):
        if name not in ready or name not in consumers:
            problems.append((f"ensemble tensor '{name}' is unused or never written", name))
    return [error("ensemble-dataflow", message, hint, f'"{n}"') for message, n in problems]


def _ready_tensors(steps: list[EnsembleStep], inputs: set[str]) -> set[str]:
    ready = set(inputs)
    done: set[int] = set()
    progress = True
    while progress:
        progress = False
        for index, step in enumerate(steps):
            if index not in done and all(t in ready for t in step.input_map.values()):
                done.add(index)
                ready.update(step.output_map.values())
                progress = True
    return ready


def _cycle(start: str, configs: Mapping[str, ModelConfig]) -> list[str] | None:
    def steps_of(name: str) -> list[str]:
        config = configs.get(name)
        if config is None or config.platform != ENSEMBLE_PLATFORM:
            return []
        return [step.model_name for step in config.ensemble_scheduling.step]

    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, trail = stack.pop()
        for nxt in steps_of(name):
            if nxt == start:
                return [*trail, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None
