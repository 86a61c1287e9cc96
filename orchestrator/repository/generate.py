"""Generate a complete production config.pbtxt from an ONNX signature, in named steps.

``generate_config`` writes every field production needs (Triton runs with
``--disable-auto-complete-config``): batching from the graph's leading dims, the inputs
and outputs, dynamic batching, the instance group, the version policy and a warmup
request, each in its own ``_set_*`` step. ``GenerationOptions`` holds what a user may
override; every default is production's.

Dynamic batching is generated as ``dynamic_batching { }``: no preferred batch sizes and
no queue delay. That is the first step of the "Recommended Configuration Process" in
Triton's dynamic batcher guide
(https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/batcher.html):
with all default settings "the dynamic batcher will create batches as large as possible
up to the maximum batch size and will not delay when forming batches"; a delay or
preferred sizes come later, only where measuring shows they help. Measured here
(benchmarks/batching_defaults.py), a 100 us delay with preferred sizes cost 31-46% of the
throughput at concurrency 1 and no clear gain at 8 or 32. ``orchestrator tune --write``
(or ``publish``'s options) adds them when a measurement justifies it.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.model_config import (
    DataType,
    InstanceKind,
    ModelConfig,
    ModelVersionPolicy,
    render_config,
)
from orchestrator.core.onnx_signature import Signature
from orchestrator.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_BATCH_SIZE",
    "DEFAULT_QUEUE_DELAY_US",
    "INT32_MAX",
    "UINT64_MAX",
    "GenerationOptions",
    "generate_config",
    "io_diff",
    "parse_version_policy",
    "updated_config",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH_SIZE = 64
# Triton's own default: no delay when forming a batch (see the module docstring).
DEFAULT_QUEUE_DELAY_US = 0
# The widths of ModelConfig's fields: a larger number cannot be written into config.pbtxt.
INT32_MAX = 2**31 - 1  # max_batch_size, preferred_batch_size, instance_group.count
UINT64_MAX = 2**64 - 1  # max_queue_delay_microseconds


@dataclass(frozen=True)
class GenerationOptions:
    """What a generated config may override; every default is production's.

    Attributes:
        max_batch_size: None for ``DEFAULT_MAX_BATCH_SIZE`` when the graph has a dynamic
            leading dim on every tensor (else 0); 0 turns batching off.
        preferred_batch_sizes: dynamic batching's preferred sizes; none by default
            (Triton then forms batches as large as the queue allows).
        max_queue_delay_microseconds: how long dynamic batching waits to fill a batch;
            0 (the default) waits not at all.
        instance_kind: ``KIND_GPU`` (production) or ``KIND_CPU``.
        instance_count: instances per device.
        version_policy: ``latest``, ``latest:N``, ``all`` or ``specific:1,3``.
        warmup: add a ``model_warmup`` entry (zeros, batch size 1).
    """

    max_batch_size: int | None = None
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_microseconds: int = DEFAULT_QUEUE_DELAY_US
    instance_kind: str = "KIND_GPU"
    instance_count: int = 1
    version_policy: str = "latest:1"
    warmup: bool = True

    def __post_init__(self) -> None:
        limits = [
            ("max_batch_size", self.max_batch_size, INT32_MAX),
            ("instance_count", self.instance_count, INT32_MAX),
            ("max_queue_delay_microseconds", self.max_queue_delay_microseconds, UINT64_MAX),
            *(("preferred_batch_size", n, INT32_MAX) for n in self.preferred_batch_sizes),
        ]
        for name, value, highest in limits:
            if value is not None and value > highest:
                raise ConfigError(
                    f"{name} {value} does not fit config.pbtxt (at most {highest}). Pass a "
                    "realistic value; production batches are usually 1 to a few hundred."
                )
        if self.max_batch_size is not None and self.max_batch_size < 0:
            raise ConfigError(f"max_batch_size must be >= 0, got {self.max_batch_size}.")
        if self.instance_kind not in ("KIND_GPU", "KIND_CPU"):
            raise ConfigError(
                f"instance_kind must be KIND_GPU or KIND_CPU, got {self.instance_kind!r}."
            )
        if self.instance_count < 1:
            raise ConfigError(f"instance_count must be >= 1, got {self.instance_count}.")
        if self.max_queue_delay_microseconds < 0:
            raise ConfigError(
                "max_queue_delay_microseconds must be >= 0, got "
                f"{self.max_queue_delay_microseconds}."
            )
        parse_version_policy(self.version_policy)


def parse_version_policy(spec: str) -> ModelVersionPolicy:
    """Parse ``latest[:N]``, ``all`` or ``specific:1,3`` into a ``ModelVersionPolicy``.

    Example:
        >>> parse_version_policy("latest:2").latest.num_versions
        2
    """
    policy = ModelVersionPolicy()
    kind, _, arg = spec.partition(":")
    try:
        if kind == "latest":
            policy.latest.num_versions = int(arg) if arg else 1
            if policy.latest.num_versions < 1:
                raise ValueError(arg)
        elif kind == "all" and not arg:
            policy.all.SetInParent()
        elif kind == "specific" and arg:
            versions = [int(v) for v in arg.split(",")]
            if any(v < 1 for v in versions):
                raise ValueError(arg)
            policy.specific.versions.extend(versions)
        else:
            raise ValueError(spec)
    except ValueError as exc:
        raise ConfigError(
            f"Version policy {spec!r} is not valid. Expected 'latest', 'latest:N' (N >= 1), "
            "'all' or 'specific:1,3'."
        ) from exc
    return policy


def generate_config(
    name: str, signature: Signature, options: GenerationOptions | None = None
) -> ModelConfig:
    """A complete production config for an ONNX graph (no auto-complete needed).

    Raises:
        ConfigError: the graph has tensors Triton's onnxruntime backend cannot serve, or
            the options ask for batching that the graph does not allow.

    Example:
        >>> config = generate_config("digits", read_signature(Path("model.onnx")))  # doctest: +SKIP
        >>> print(render_config(config))  # doctest: +SKIP
    """
    options = options or GenerationOptions()
    _check_servable(name, signature)
    config = ModelConfig(name=name, backend="onnxruntime")
    _set_batching(config, signature, options)
    _set_io(config, signature)
    _set_dynamic_batching(config, options)
    _set_instance_group(config, options)
    _set_version_policy(config, options)
    _set_warmup(config, options)
    return config


def _check_servable(name: str, signature: Signature) -> None:
    for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
        for tensor in tensors:
            if tensor.data_type is None:
                raise ConfigError(
                    f"Model {name!r}: {kind} {tensor.name!r} has ONNX type {tensor.onnx_type}, "
                    "which Triton's onnxruntime backend cannot serve. Expected a tensor of "
                    "bool, (u)int8-64, float16/32/64 or string; re-export without sequence or "
                    "map outputs (scikit-learn classifiers: options={'zipmap': False})."
                )
    if not signature.outputs:
        raise ConfigError(f"Model {name!r}: the graph has no outputs; Triton needs at least one.")


def _set_batching(config: ModelConfig, signature: Signature, options: GenerationOptions) -> None:
    if options.max_batch_size is None:
        config.max_batch_size = DEFAULT_MAX_BATCH_SIZE if signature.supports_batching else 0
        return
    if options.max_batch_size > 0 and not signature.supports_batching:
        fixed = [
            f"{t.name} {list(t.dims)}"
            for t in (*signature.inputs, *signature.outputs)
            if not t.has_batch_dim
        ]
        raise ConfigError(
            f"Model {config.name!r}: max_batch_size {options.max_batch_size} needs a dynamic "
            f"leading dim on every input and output, but these have none: {', '.join(fixed)}. "
            "Export with a dynamic batch axis, or use max_batch_size 0."
        )
    config.max_batch_size = options.max_batch_size


def _set_io(config: ModelConfig, signature: Signature) -> None:
    batching = config.max_batch_size > 0
    for tensors, field_ in ((signature.inputs, config.input), (signature.outputs, config.output)):
        for tensor in tensors:
            io = field_.add()
            io.name = tensor.name
            io.data_type = DataType.Value(str(tensor.data_type))
            dims = list(tensor.dims[1:] if batching else tensor.dims)
            if not dims:
                # A rank-1 tensor of a batching model (one label per row): Triton's answer
                # is dims [1] with an empty reshape, which the backend compares as the
                # graph's [-1]. A scalar of a non-batching model is dims [1] alone (Triton
                # refuses an empty reshape without batching).
                io.dims.append(1)
                if batching:
                    io.reshape.SetInParent()
            else:
                io.dims.extend(dims)


def _set_dynamic_batching(config: ModelConfig, options: GenerationOptions) -> None:
    # ``dynamic_batching { }`` unless the options ask for more: Triton's recommended
    # starting point (module docstring); an empty message still turns the batcher on.
    size = config.max_batch_size
    if size == 0:
        return
    preferred = options.preferred_batch_sizes
    too_large = [p for p in preferred if p < 1 or p > size]
    if too_large:
        raise ConfigError(
            f"Preferred batch sizes {too_large} are outside 1..max_batch_size ({size}). "
            "Choose sizes no larger than max_batch_size."
        )
    config.dynamic_batching.SetInParent()
    config.dynamic_batching.preferred_batch_size.extend(preferred)
    config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_microseconds


def _set_instance_group(config: ModelConfig, options: GenerationOptions) -> None:
    group = config.instance_group.add()
    group.kind = InstanceKind.Value(options.instance_kind)
    group.count = options.instance_count


def _set_version_policy(config: ModelConfig, options: GenerationOptions) -> None:
    config.version_policy.CopyFrom(parse_version_policy(options.version_policy))


def _set_warmup(config: ModelConfig, options: GenerationOptions) -> None:
    if not options.warmup:
        return
    warmup = config.model_warmup.add()
    warmup.name = "zeros"
    warmup.batch_size = 1
    for io in config.input:
        entry = warmup.inputs[io.name]
        entry.data_type = io.data_type
        # A warmup request needs concrete dims: 1 wherever the config leaves one dynamic.
        entry.dims.extend(d if d > 0 else 1 for d in io.dims)
        entry.zero_data = True


def _io_only(config: ModelConfig) -> str:
    io = ModelConfig(max_batch_size=config.max_batch_size)
    io.input.extend(config.input)
    io.output.extend(config.output)
    return render_config(io)


def io_diff(
    existing: ModelConfig,
    generated: ModelConfig,
    path: Path,
) -> str:
    """A unified diff of the inputs, outputs and batch size of two configs.

    Example:
        >>> print(io_diff(existing, generated, Path("m/config.pbtxt")))  # doctest: +SKIP
        --- m/config.pbtxt
        +++ generated from the new graph
        ...
    """
    return "".join(
        difflib.unified_diff(
            _io_only(existing).splitlines(keepends=True),
            _io_only(generated).splitlines(keepends=True),
            fromfile=str(path),
            tofile="generated from the new graph",
        )
    )


def updated_config(existing: ModelConfig, generated: ModelConfig) -> ModelConfig:
    """The existing config with the generated I/O, batching and warmup (--update-config).

    Everything else (instance groups, version policy, parameters) stays as it was;
    dynamic batching is dropped without a batch dimension and regenerated when a
    preferred size no longer fits.

    Example:
        >>> updated_config(existing, generate_config("digits", signature))  # doctest: +SKIP
        max_batch_size: 64 ...
    """
    config = ModelConfig()
    config.CopyFrom(existing)
    config.max_batch_size = generated.max_batch_size
    for name in ("input", "output", "model_warmup"):
        config.ClearField(name)
    config.input.extend(generated.input)
    config.output.extend(generated.output)
    config.model_warmup.extend(generated.model_warmup)
    if generated.max_batch_size == 0:
        config.ClearField("dynamic_batching")
    elif config.HasField("dynamic_batching"):
        sizes = [s for s in config.dynamic_batching.preferred_batch_size]
        if any(s > generated.max_batch_size for s in sizes):
            config.dynamic_batching.CopyFrom(generated.dynamic_batching)
    return config
