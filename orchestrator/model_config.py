"""config.pbtxt <-> Triton's own ``ModelConfig`` protobuf.

Configs are never hand-parsed: ``tritonclient.grpc.model_config_pb2`` is the schema that
Triton itself reads, and ``google.protobuf.text_format`` is the parser it uses.
"""

from __future__ import annotations

import logging
from pathlib import Path

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from orchestrator.errors import ConfigError

__all__ = [
    "CONFIG_FILENAME",
    "ModelConfig",
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
        raise ConfigError(
            f"{where}: not a valid Triton model config: {_strip_position(str(exc))}. "
            "Expected protobuf text format of Triton's ModelConfig "
            "(https://github.com/triton-inference-server/common/blob/main/protobuf/model_config.proto)."
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
    """Render a ``ModelConfig`` as config.pbtxt text."""
    return str(text_format.MessageToString(config))


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
