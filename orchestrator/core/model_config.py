"""config.pbtxt <-> Triton's own ``ModelConfig`` protobuf.

Configs are never hand-parsed: ``tritonclient.grpc.model_config_pb2`` is the schema that
Triton itself reads, and ``google.protobuf.text_format`` is the parser it uses. This module
is the only importer of both: the rest of the package gets the message types (``ModelConfig``,
``ModelInput``, ``EnsembleStep``, ``ModelVersionPolicy``), the enums (``DataType``,
``InstanceKind``) and the conversions it needs from here, with parse errors already turned
into ``ConfigError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, text_format

from orchestrator.core import untrusted
from orchestrator.errors import ConfigError, ConfigSyntaxError

__all__ = [
    "CONFIG_FILENAME",
    "DataType",
    "EnsembleStep",
    "InstanceKind",
    "ModelConfig",
    "ModelInput",
    "ModelVersionPolicy",
    "WarmupInput",
    "SequenceControl",
    "QueuePolicy",
    "BatchInput",
    "InputFormat",
    "config_as_dict",
    "config_datatype",
    "config_from_dict",
    "config_to_json",
    "data_type_name",
    "load_config",
    "parse_config",
    "read_config_text",
    "render_config",
    "uses_gpu_instances",
    "version_policy_text",
    "with_cpu_instances",
]


def _load_schema() -> Any:
    """``tritonclient.grpc.model_config_pb2``, without running ``tritonclient.grpc``'s __init__.

    The schema is one generated module that needs protobuf only; the package's __init__
    also imports grpc, gevent-free asyncio and the whole gRPC client (0.1-0.3 s: a third
    of ``orchestrator validate``). The module is registered under its own name, so a later
    ``import tritonclient.grpc`` (the client) reuses it and protobuf sees one descriptor.
    """
    name = "tritonclient.grpc.model_config_pb2"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("tritonclient")
    locations = package.submodule_search_locations if package is not None else None
    if not locations:  # not a plain package: let the import system do it
        return importlib.import_module(name)
    spec = importlib.util.spec_from_file_location(
        name, Path(next(iter(locations))) / "grpc" / "model_config_pb2.py"
    )
    if spec is None or spec.loader is None:
        return importlib.import_module(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2
else:
    model_config_pb2 = _load_schema()

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.pbtxt"

# Triton's ModelConfig protobuf types, for building and annotating configs elsewhere.
ModelConfig = model_config_pb2.ModelConfig
ModelInput = model_config_pb2.ModelInput
ModelVersionPolicy = model_config_pb2.ModelVersionPolicy
EnsembleStep = model_config_pb2.ModelEnsembling.Step
WarmupInput = model_config_pb2.ModelWarmup.Input
SequenceControl = model_config_pb2.ModelSequenceBatching.Control
QueuePolicy = model_config_pb2.ModelQueuePolicy
BatchInput = model_config_pb2.BatchInput
InputFormat = model_config_pb2.ModelInput.Format
DataType = model_config_pb2.DataType
InstanceKind = model_config_pb2.ModelInstanceGroup.Kind
_KIND_GPU = InstanceKind.KIND_GPU
_KIND_CPU = InstanceKind.KIND_CPU


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
        # Python's protobuf only warns about an invalid escape such as "\h" in a string;
        # Triton's C++ tokenizer refuses it ("Invalid escape sequence in string literal").
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            text_format.Parse(text, config)
    except DeprecationWarning as exc:
        raise ConfigSyntaxError(
            f"{source}: not a valid Triton model config: a string holds an invalid escape "
            f"sequence ({exc}); Triton's parser refuses it. Write a backslash as \\\\.",
        ) from exc
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


def load_config(path: Path, *, within: Path | None = None) -> model_config_pb2.ModelConfig:
    """Read and parse a config.pbtxt file.

    The file is read under the untrusted-input rule (``core.untrusted``): a regular
    file, not a link, of ``CONFIG_MAX_BYTES`` at most, inside ``within`` (the
    repository; no folder in between may be a link) when given.

    Raises:
        ConfigError: the file is not UTF-8 text, or does not parse.
        UnsafeFileError: the file is missing, a link, not a regular file, unreadable or
            too large (nothing is read then).

    Example:
        >>> config = load_config(Path("model_repository/digits_cnn/config.pbtxt"))  # doctest: +SKIP
    """
    return parse_config(read_config_text(path, within=within), path)


def read_config_text(path: Path, *, within: Path | None = None) -> str:
    """The text of a config.pbtxt file, read as ``load_config`` reads it (one read).

    Raises:
        ConfigError: the file is not UTF-8 text.
        UnsafeFileError: as ``load_config``.

    Example:
        >>> text = read_config_text(Path("model_repository/m/config.pbtxt"))  # doctest: +SKIP
    """
    root, relative = untrusted.split(path, within)
    raw = untrusted.read_bytes(root, relative, max_bytes=untrusted.CONFIG_MAX_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start]:#04x}). "
            "Expected a protobuf text file; regenerate it with `orchestrator publish`."
        ) from exc


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
    """Render a ``ModelConfig`` as the JSON that Triton's load API accepts as an override.

    Example:
        >>> config_to_json(parse_config('name: "m" max_batch_size: 8'))
        '{"name": "m", "max_batch_size": 8}'
    """
    return str(json_format.MessageToJson(config, preserving_proto_field_name=True, indent=None))


def config_as_dict(config: model_config_pb2.ModelConfig) -> dict[str, Any]:
    """A ``ModelConfig`` as Triton's JSON form, parsed: what a backend's ``model_config`` is.

    Enums are names (``TYPE_FP32``) and 64-bit integers are strings (``"4"``), exactly as
    Triton hands the config to a backend.

    Example:
        >>> config_as_dict(parse_config('name: "m" input { name: "x" dims: [ 4 ] }'))
        {'name': 'm', 'input': [{'name': 'x', 'dims': ['4']}]}
    """
    parsed: dict[str, Any] = json.loads(config_to_json(config))
    return parsed


def config_from_dict(config: dict[str, Any]) -> model_config_pb2.ModelConfig:
    """The ``ModelConfig`` of Triton's JSON form (the inverse of ``config_as_dict``).

    Raises:
        ConfigError: the dict is not a model config.

    Example:
        >>> config_from_dict({"name": "m", "max_batch_size": 4}).max_batch_size
        4
    """
    message = model_config_pb2.ModelConfig()
    try:
        json_format.ParseDict(config, message)
    except json_format.ParseError as exc:
        raise ConfigError(
            f"Not a Triton model config: {exc}. Expected the fields of model_config.proto."
        ) from exc
    return message


def data_type_name(data_type: int) -> str:
    """The config name of a ``DataType`` value, e.g. ``TYPE_FP32``.

    Example:
        >>> data_type_name(DataType.TYPE_FP32)
        'TYPE_FP32'
    """
    return str(DataType.Name(data_type))


def config_datatype(type_name: str) -> str:
    """The datatype Triton reports for a config's ``data_type`` (``TYPE_STRING`` is BYTES).

    Example:
        >>> config_datatype("TYPE_FP32"), config_datatype("TYPE_STRING")
        ('FP32', 'BYTES')
    """
    name = type_name.removeprefix("TYPE_")
    return "BYTES" if name == "STRING" else name


def version_policy_text(config: model_config_pb2.ModelConfig) -> str:
    """The config's ``version_policy`` on one line of text format (``latest { }`` when unset).

    Example:
        >>> version_policy_text(parse_config('version_policy { latest { num_versions: 2 } }'))
        'latest { num_versions: 2 }'
    """
    text = str(text_format.MessageToString(config.version_policy, as_one_line=True))
    return text or "latest { }"


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
