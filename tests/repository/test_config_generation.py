"""Config generation from an ONNX signature: golden files, options, refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from onnx import TensorProto

from orchestrator.core.model_config import parse_config, render_config
from orchestrator.core.onnx_signature import read_signature
from orchestrator.errors import ConfigError
from orchestrator.repository.generate import (
    GenerationOptions,
    generate_config,
    parse_version_policy,
)
from tests.support.onnx_models import make_affine_onnx, make_identity_onnx

ASSETS = Path(__file__).parents[1] / "assets" / "generated"

GOLDEN: dict[str, tuple[Callable[[Path], Path], GenerationOptions | None]] = {
    "affine": (lambda d: make_affine_onnx(d / "m.onnx"), None),
    "affine_fixed_batch": (lambda d: make_affine_onnx(d / "m.onnx", batch=3), None),
    "labels": (
        lambda d: make_identity_onnx(
            d / "m.onnx",
            [("x", "label", TensorProto.INT64, ["N"]), ("t", "text", TensorProto.STRING, ["N"])],
        ),
        None,
    ),
    "scalar": (
        lambda d: make_identity_onnx(d / "m.onnx", [("x", "y", TensorProto.FLOAT, [])]),
        None,
    ),
    "affine_overrides": (
        lambda d: make_affine_onnx(d / "m.onnx"),
        GenerationOptions(
            max_batch_size=16,
            preferred_batch_sizes=(4, 8),
            max_queue_delay_microseconds=500,
            instance_kind="KIND_CPU",
            instance_count=2,
            version_policy="latest:2",
            warmup=False,
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN), ids=sorted(GOLDEN))
def test_generated_config_matches_its_golden_file_exactly(name: str, tmp_path: Path) -> None:
    build, options = GOLDEN[name]
    text = render_config(generate_config(name, read_signature(build(tmp_path)), options))
    assert text == (ASSETS / f"{name}.pbtxt").read_text()
    assert render_config(parse_config(text)) == text, "rendering is stable"


def test_batching_turned_off_keeps_the_batch_dim_in_dims(tmp_path: Path) -> None:
    signature = read_signature(make_affine_onnx(tmp_path / "m.onnx"))
    config = generate_config("m", signature, GenerationOptions(max_batch_size=0))
    assert config.max_batch_size == 0
    assert [list(io.dims) for io in config.output] == [[-1, 4], [-1, 1]]
    assert not config.HasField("dynamic_batching")
    assert list(config.model_warmup[0].inputs["x"].dims) == [1, 4]


def test_batching_asked_for_a_graph_without_batch_axis_is_refused(tmp_path: Path) -> None:
    signature = read_signature(make_affine_onnx(tmp_path / "m.onnx", batch=3))
    with pytest.raises(
        ConfigError, match=r"max_batch_size 8 needs a dynamic leading dim.*x \[3, 4\]"
    ):
        generate_config("m", signature, GenerationOptions(max_batch_size=8))


def test_preferred_sizes_above_the_max_are_refused(tmp_path: Path) -> None:
    signature = read_signature(make_affine_onnx(tmp_path / "m.onnx"))
    options = GenerationOptions(max_batch_size=8, preferred_batch_sizes=(4, 16))
    with pytest.raises(ConfigError, match=r"\[16\] are outside 1..max_batch_size \(8\)"):
        generate_config("m", signature, options)


def test_graph_with_a_sequence_output_cannot_be_served(tmp_path: Path) -> None:
    from tests.support.corpus import CASES

    zipmap = next(c for c in CASES if c.id == "zipmap-output")
    zipmap.build(tmp_path, "z")
    with pytest.raises(ConfigError, match=r"output 'probs' has ONNX type seq\(map\(int64"):
        generate_config("z", read_signature(tmp_path / "z" / "1" / "model.onnx"))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("latest", "latest {\n  num_versions: 1\n}\n"),
        ("latest:3", "latest {\n  num_versions: 3\n}\n"),
        ("all", "all {\n}\n"),
        ("specific:1,3", "specific {\n  versions: 1\n  versions: 3\n}\n"),
    ],
)
def test_version_policy_specs(spec: str, expected: str) -> None:
    from google.protobuf import text_format

    assert text_format.MessageToString(parse_version_policy(spec)) == expected


@pytest.mark.parametrize("spec", ["latest:0", "newest", "specific:", "specific:a", "all:2"])
def test_bad_version_policy_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="Expected 'latest', 'latest:N'"):
        parse_version_policy(spec)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_batch_size": -1}, {"instance_kind": "KIND_TPU"}, {"instance_count": 0}],
)
def test_bad_options_fail_where_they_are_made(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        GenerationOptions(**kwargs)  # type: ignore[arg-type]


def test_dynamic_batching_defaults_to_tritons_recommended_empty_block(tmp_path: Path) -> None:
    # Triton's dynamic batcher guide, "Recommended Configuration Process": start from
    # `dynamic_batching { }` (batches as large as possible, no delay).
    config = generate_config("m", read_signature(make_affine_onnx(tmp_path / "m.onnx")))
    assert config.HasField("dynamic_batching")
    assert list(config.dynamic_batching.preferred_batch_size) == []
    assert config.dynamic_batching.max_queue_delay_microseconds == 0
    assert "dynamic_batching {\n}\n" in render_config(config)


@pytest.mark.parametrize("model", ["cancer_mlp", "digits_cnn"])
def test_the_shipped_configs_are_what_publish_generates_for_their_graphs(model: str) -> None:
    folder = Path(__file__).parents[2] / "model_repository" / model
    newest = max(int(p.name) for p in folder.iterdir() if p.name.isdigit())
    generated = generate_config(model, read_signature(folder / str(newest) / "model.onnx"))
    assert (folder / "config.pbtxt").read_text() == render_config(generated)
