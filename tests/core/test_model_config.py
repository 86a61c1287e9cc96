"""config.pbtxt through Triton's own ModelConfig protobuf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.core.model_config import (
    config_to_json,
    load_config,
    parse_config,
    uses_gpu_instances,
    with_cpu_instances,
)
from orchestrator.errors import ConfigError

GPU_CONFIG = """name: "m"
backend: "onnxruntime"
max_batch_size: 8
instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
"""


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_text('name: "m"\nmax_batch_size: eight\n')
    with pytest.raises(ConfigError, match=rf"^{path}:2:17: not a valid Triton model config"):
        load_config(path)


def test_unknown_field_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        parse_config('name: "m"\nmax_batch: 8\n', "x/config.pbtxt")


def test_binary_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.pbtxt"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path)


def test_cpu_override_changes_only_the_instance_kind() -> None:
    config = parse_config(GPU_CONFIG)
    assert uses_gpu_instances(config)
    override = with_cpu_instances(config)
    assert not uses_gpu_instances(override)
    assert uses_gpu_instances(config), "the original must not change"
    as_json = json.loads(config_to_json(override))
    assert as_json["instance_group"] == [{"kind": "KIND_CPU", "count": 2}]
    original = json.loads(config_to_json(config))
    del original["instance_group"], as_json["instance_group"]
    assert as_json == original
