"""config.pbtxt through Triton's own ModelConfig protobuf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.core.model_config import (
    DataType,
    config_as_dict,
    config_to_json,
    data_type_name,
    load_config,
    parse_config,
    uses_gpu_instances,
    version_policy_text,
    with_cpu_instances,
)
from orchestrator.errors import ConfigError, ConfigSyntaxError

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


def test_syntax_error_carries_line_and_column() -> None:
    with pytest.raises(ConfigSyntaxError) as caught:
        parse_config('name: "m"\nmax_batch_size: eight\n', "x/config.pbtxt")
    assert (caught.value.line, caught.value.column) == (2, 17)


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


def test_config_as_dict_is_the_json_triton_hands_a_backend() -> None:
    config = parse_config(GPU_CONFIG)
    as_dict = config_as_dict(config)
    assert as_dict == json.loads(config_to_json(config))
    assert as_dict["instance_group"] == [{"kind": "KIND_GPU", "count": 2, "gpus": [0]}]
    assert as_dict["max_batch_size"] == 8


def test_data_type_names_are_the_config_spelling() -> None:
    assert data_type_name(DataType.TYPE_FP32) == "TYPE_FP32"
    assert data_type_name(DataType.TYPE_STRING) == "TYPE_STRING"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "latest { }"),
        ("version_policy { all { } }", "all { }"),
        (
            "version_policy { specific { versions: [ 1, 3 ] } }",
            "specific { versions: 1 versions: 3 }",
        ),
    ],
    ids=["unset", "all", "specific"],
)
def test_version_policy_text_is_one_line(text: str, expected: str) -> None:
    assert version_policy_text(parse_config(text)) == expected
