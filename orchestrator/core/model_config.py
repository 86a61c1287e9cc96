"""config.pbtxt <-> Triton's own ``ModelConfig`` protobuf.

Configs are never hand-parsed: ``tritonclient.grpc.model_config_pb2`` is the schema that
Triton itself reads, and ``google.protobuf.text_format`` is the parser it uses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.core.onnx_signature import Signature

__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_MAX_BATCH_SIZE",
    "ConfigSyntaxError",
    "GenerationOptions",
    "ModelConfig",
    "generate_config",
    "parse_version_policy",
    "config_to_json",
    "load_config",
    "parse_config",
    "render_config",
    "uses_gpu_instances",
    "with_cpu_instances",
]

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.pbtxt"
ModelConfig = model_config_pb2.ModelConfig
_KIND_GPU = model_config_pb2.ModelInstanceGroup.Kind.KIND_GPU
_KIND_CPU = model_config_pb2.ModelInstanceGroup.Kind.KIND_CPU


class ConfigSyntaxError(ConfigError):
    """Raised when config.pbtxt text does not parse as a ModelConfig; has line and column."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


def parse_config(text: str, source: str | Path = "<config>") -> model_config_pb2.ModelConfig:
    """Parse config.pbtxt text into a ``ModelConfig``.

    Args:
        text: the protobuf text format, as Triton reads it.
        source: the file name used in error messages.

    Returns:
        The parsed message.

    Raises:
        ConfigError: the text is not a valid ModelConfig; the message has file:line:column.

    Example:
        >>> parse_config('name: "m" max_batch_size: 8').max_batch_size
        8
    """
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        line, column = exc.GetLine(), exc.GetColumn()
        where = f"{source}:{line}:{column}" if line else str(source)
        raise ConfigSyntaxError(
            f"{where}: not a valid Triton model config: {_strip_position(str(exc))}. "
            "Expected protobuf text format of Triton's ModelConfig "
            "(https://github.com/triton-inference-server/common/blob/main/protobuf/model_config.proto).",
            line=line or None,
            column=column or None,
        ) from exc
    return config


def load_config(path: Path) -> model_config_pb2.ModelConfig:
    """Read and parse a config.pbtxt file.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 text, or does not parse.

    Example:
        >>> config = load_config(Path("model_repository/digits_cnn/config.pbtxt"))  # doctest: +SKIP
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"Cannot read model config {path}: {exc.strerror or exc}. "
            "Check that it is a readable file."
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}). "
            "Expected a protobuf text file; regenerate it with `orchestrator publish`."
        ) from exc
    return parse_config(text, path)


def render_config(config: model_config_pb2.ModelConfig) -> str:
    r"""Render a ``ModelConfig`` as config.pbtxt text, the important fields first.

    Fields come in the order a reader looks for them (name, backend, batching, tensors,
    scheduling, versions, warmup, then the rest by field number), and
    ``max_batch_size: 0`` is written explicitly (protobuf text format leaves out zero
    values), so a reader sees that batching is off on purpose.

    Example:
        >>> render_config(parse_config('backend: "onnxruntime" name: "m"'))
        'name: "m"\nbackend: "onnxruntime"\nmax_batch_size: 0\n'
    """
    present = {descriptor.name for descriptor, _ in config.ListFields()}
    present.add("max_batch_size")
    names = [n for n in _FIELD_ORDER if n in present]
    names += sorted(
        present - set(_FIELD_ORDER), key=lambda n: config.DESCRIPTOR.fields_by_name[n].number
    )
    parts = []
    for name in names:
        if name == "max_batch_size":
            parts.append(f"max_batch_size: {config.max_batch_size}\n")
            continue
        single = model_config_pb2.ModelConfig()
        single.CopyFrom(config)
        for other in present - {name}:
            single.ClearField(other)
        parts.append(str(text_format.MessageToString(single)))
    return "".join(parts)


_FIELD_ORDER = (
    "name",
    "platform",
    "backend",
    "max_batch_size",
    "input",
    "output",
    "dynamic_batching",
    "instance_group",
    "version_policy",
    "model_warmup",
)


def config_to_json(config: model_config_pb2.ModelConfig) -> str:
    """Render a ``ModelConfig`` as the JSON that Triton's load API accepts as an override."""
    return str(json_format.MessageToJson(config, preserving_proto_field_name=True, indent=None))


def uses_gpu_instances(config: model_config_pb2.ModelConfig) -> bool:
    """Whether any instance group of the config asks for ``KIND_GPU``."""
    return any(group.kind == _KIND_GPU for group in config.instance_group)


def with_cpu_instances(config: model_config_pb2.ModelConfig) -> model_config_pb2.ModelConfig:
    """A copy of ``config`` whose ``KIND_GPU`` instance groups run on the CPU instead.

    The instance kind (and the GPU list that only a GPU group may carry) is the only
    change: everything else stays exactly as production will load it.
    """
    override = model_config_pb2.ModelConfig()
    override.CopyFrom(config)
    for group in override.instance_group:
        if group.kind == _KIND_GPU:
            group.kind = _KIND_CPU
            del group.gpus[:]
    return override


def _strip_position(message: str) -> str:
    # text_format prefixes "line:column : "; the caller already reports the position.
    head, sep, tail = message.partition(" : ")
    return tail if sep and head.replace(":", "").isdigit() else message


# --- generation from an ONNX signature, in named steps ------------------------------------

DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_QUEUE_DELAY_US = 100


@dataclass(frozen=True)
class GenerationOptions:
    """What a generated config may override; every default is production's.

    Attributes:
        max_batch_size: None for ``DEFAULT_MAX_BATCH_SIZE`` when the graph has a dynamic
            leading dim on every tensor (else 0); 0 turns batching off.
        preferred_batch_sizes: dynamic batching's preferred sizes; None for a quarter, a
            half and all of ``max_batch_size``.
        max_queue_delay_microseconds: how long dynamic batching waits to fill a batch.
        instance_kind: ``KIND_GPU`` (production) or ``KIND_CPU``.
        instance_count: instances per device.
        version_policy: ``latest``, ``latest:N``, ``all`` or ``specific:1,3``.
        warmup: add a ``model_warmup`` entry (zeros, batch size 1).
    """

    max_batch_size: int | None = None
    preferred_batch_sizes: tuple[int, ...] | None = None
    max_queue_delay_microseconds: int = DEFAULT_QUEUE_DELAY_US
    instance_kind: str = "KIND_GPU"
    instance_count: int = 1
    version_policy: str = "latest:1"
    warmup: bool = True

    def __post_init__(self) -> None:
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


def parse_version_policy(spec: str) -> model_config_pb2.ModelVersionPolicy:
    """Parse ``latest[:N]``, ``all`` or ``specific:1,3`` into a ``ModelVersionPolicy``.

    Example:
        >>> parse_version_policy("latest:2").latest.num_versions
        2
    """
    policy = model_config_pb2.ModelVersionPolicy()
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
) -> model_config_pb2.ModelConfig:
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
    config = model_config_pb2.ModelConfig(name=name, backend="onnxruntime")
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


def _set_batching(
    config: model_config_pb2.ModelConfig, signature: Signature, options: GenerationOptions
) -> None:
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


def _set_io(config: model_config_pb2.ModelConfig, signature: Signature) -> None:
    batching = config.max_batch_size > 0
    for tensors, field_ in ((signature.inputs, config.input), (signature.outputs, config.output)):
        for tensor in tensors:
            io = field_.add()
            io.name = tensor.name
            io.data_type = model_config_pb2.DataType.Value(str(tensor.data_type))
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


def _set_dynamic_batching(config: model_config_pb2.ModelConfig, options: GenerationOptions) -> None:
    size = config.max_batch_size
    if size == 0:
        return
    preferred = options.preferred_batch_sizes
    if preferred is None:
        preferred = tuple(sorted({max(1, size // 4), max(1, size // 2), size}))
    too_large = [p for p in preferred if p < 1 or p > size]
    if too_large:
        raise ConfigError(
            f"Preferred batch sizes {too_large} are outside 1..max_batch_size ({size}). "
            "Choose sizes no larger than max_batch_size."
        )
    config.dynamic_batching.preferred_batch_size.extend(preferred)
    config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_microseconds


def _set_instance_group(config: model_config_pb2.ModelConfig, options: GenerationOptions) -> None:
    group = config.instance_group.add()
    group.kind = model_config_pb2.ModelInstanceGroup.Kind.Value(options.instance_kind)
    group.count = options.instance_count


def _set_version_policy(config: model_config_pb2.ModelConfig, options: GenerationOptions) -> None:
    config.version_policy.CopyFrom(parse_version_policy(options.version_policy))


def _set_warmup(config: model_config_pb2.ModelConfig, options: GenerationOptions) -> None:
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
