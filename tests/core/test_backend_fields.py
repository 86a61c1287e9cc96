"""Triton core 24.10's backend autofill (AutoCompleteBackendFields), branch by branch."""

from __future__ import annotations

import pytest

from orchestrator.core.backend_fields import (
    BackendFields,
    autofill_backend_fields,
    backend_fields_problem,
    first_subfolder,
)

FILE, DIR = False, True


@pytest.mark.parametrize(
    ("backend", "platform", "filename", "files", "expected"),
    [
        ("", "", "", {"model.onnx": FILE}, ("onnxruntime", "onnxruntime_onnx", "model.onnx")),
        ("", "", "", {"model.onnx": DIR}, ("onnxruntime", "onnxruntime_onnx", "model.onnx")),
        ("", "", "", {"model.plan": FILE}, ("tensorrt", "tensorrt_plan", "model.plan")),
        ("", "", "", {"model.plan": DIR}, ("", "", "")),
        ("", "", "", {"model.pt": FILE}, ("pytorch", "pytorch_libtorch", "model.pt")),
        ("", "", "", {"model.pt2": FILE}, ("", "", "")),  # AOTI is newer than 24.10
        ("", "", "", {"model.py": FILE}, ("python", "", "model.py")),
        ("", "", "", {"model.xml": FILE}, ("openvino", "", "model.xml")),
        ("", "", "", {"model.savedmodel": DIR},
         ("tensorflow", "tensorflow_savedmodel", "model.savedmodel")),
        ("", "", "", {"model.graphdef": FILE},
         ("tensorflow", "tensorflow_graphdef", "model.graphdef")),
        # TensorRT is tried before ONNX Runtime, ONNX Runtime before PyTorch.
        ("", "", "", {"model.plan": FILE, "model.onnx": FILE},
         ("tensorrt", "tensorrt_plan", "model.plan")),
        ("", "", "", {"model.pt": FILE, "model.onnx": FILE},
         ("onnxruntime", "onnxruntime_onnx", "model.onnx")),
        ("", "onnxruntime_onnx", "", {}, ("onnxruntime", "onnxruntime_onnx", "model.onnx")),
        ("", "pytorch_libtorch", "", {}, ("pytorch", "pytorch_libtorch", "model.pt")),
        ("", "", "model.onnx", {}, ("onnxruntime", "onnxruntime_onnx", "model.onnx")),
        # A name Triton does not know stops every file rule.
        ("", "", "net.onnx", {"model.onnx": FILE}, ("", "", "net.onnx")),
        ("", "onnx", "", {"model.onnx": FILE}, ("", "onnx", "")),
        ("onnxruntime", "", "net.onnx", {}, ("onnxruntime", "onnxruntime_onnx", "net.onnx")),
        ("python", "", "", {}, ("python", "", "model.py")),
    ],
)  # fmt: skip
def test_autofill_follows_triton_24_10(
    backend: str,
    platform: str,
    filename: str,
    files: dict[str, bool],
    expected: tuple[str, str, str],
) -> None:
    fields = autofill_backend_fields("m", backend, platform, filename, files)
    assert (fields.backend, fields.platform, fields.default_model_filename) == expected


def test_no_sub_folder_means_no_file_rule() -> None:
    assert autofill_backend_fields("m", "", "", "", None).backend == ""


def test_a_dotted_model_name_names_a_custom_backend() -> None:
    fields = autofill_backend_fields("m.identity", "", "", "", {})
    assert fields == BackendFields("identity", "", "model.identity", "model name")
    assert backend_fields_problem("m.identity", fields) is None


def test_first_subfolder_is_the_first_name_in_byte_order() -> None:
    assert first_subfolder(["9", "10"]) == "10"
    assert first_subfolder(["1", ".staging-1-ab", "warmup"]) == ".staging-1-ab"
    assert first_subfolder([]) is None


@pytest.mark.parametrize(
    ("name", "fields", "problem"),
    [
        ("m", BackendFields("", "", "", ""), "Invalid model name: Could not determine backend"),
        ("m", BackendFields("", "onnx", "", ""), "unexpected platform type 'onnx' for m"),
        ("m", BackendFields("", "", "net.onnx", ""), "unexpected platform type '' for m"),
        ("m", BackendFields("", "ensemble", "", ""), None),
        ("m", BackendFields("python", "ensemble", "", ""), "must have platform type"),
        ("m", BackendFields("onnxruntime", "tensorrt_plan", "", ""), "'platform' and 'backend'"),
        ("m", BackendFields("python", "anything", "", ""), None),
        ("m", BackendFields("onnxruntime", "onnxruntime_onnx", "model.onnx", ""), None),
    ],
)
def test_core_refuses_what_autofill_cannot_settle(
    name: str, fields: BackendFields, problem: str | None
) -> None:
    found = backend_fields_problem(name, fields)
    assert (found is None) if problem is None else (found is not None and problem in found)
