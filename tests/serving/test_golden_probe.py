"""golden_probe offline: .npz parsing without numpy, the tolerance rule, finding the files."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from orchestrator.core.golden import DEFAULT_TOLERANCE, Tolerance, compare_outputs
from orchestrator.serving import golden_probe
from orchestrator.serving.golden_probe import (
    ProbeError,
    Tensor,
    check,
    find_model_dirs,
    main,
    read_npz,
    wire,
)
from orchestrator.serving.golden_probe import npz as probe_npz

PROBE = Path(golden_probe.__file__).parent  # the folder the image copies and runs


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7,
        np.array([1.5, -2.25, np.nan, np.inf], dtype=np.float16),
        np.linspace(-1, 1, 5, dtype=">f8"),
        np.array([[-128, 127]], dtype=np.int8),
        np.array([-(2**40), 2**40], dtype=np.int64),
        np.array([0, 65535], dtype=np.uint16),
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([True, False, True]),
        np.array([b"ab", b"", b"c\0d"]),
        np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
        np.array(3.5, dtype=np.float32),
        np.zeros((0, 4), dtype=np.float32),
    ],
    ids=[
        "fp32-3d",
        "fp16",
        "fp64-big-endian",
        "int8",
        "int64",
        "uint16",
        "uint64",
        "bool",
        "bytes",
        "fortran-order",
        "scalar",
        "empty",
    ],
)
def test_read_npz_agrees_with_numpy(tmp_path: Path, array: NDArray[Any]) -> None:
    path = tmp_path / "golden.npz"
    np.savez(path, **{"inputs/x": array})
    (tensor,) = read_npz(path).values()
    assert tensor.shape == array.shape
    if array.dtype.kind == "S":
        assert list(tensor.values) == array.ravel().tolist()
    else:
        got = np.array(tensor.values, dtype=array.dtype).reshape(array.shape)
        assert np.array_equal(got, array, equal_nan=array.dtype.kind == "f")


def test_read_npz_refuses_pickles_other_members_and_oversize(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pickled = tmp_path / "object.npz"
    np.savez(pickled, x=np.array([1, "a"], dtype=object))
    with pytest.raises(ProbeError, match=r"dtype '\|O'.*pickle, which is refused"):
        read_npz(pickled)
    other = tmp_path / "other.npz"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("run.py", "print('hi')")
    with pytest.raises(ProbeError, match=r"holds 'run.py', not an .npy array"):
        read_npz(other)
    big = tmp_path / "big.npz"
    np.savez_compressed(big, x=np.zeros(10_000, dtype=np.float64))
    monkeypatch.setattr(probe_npz, "MAX_GOLDEN_BYTES", 50_000)
    with pytest.raises(ProbeError, match=r"unpacks to over 50000 bytes"):
        read_npz(big)
    with pytest.raises(ProbeError, match=r"no golden data at .*missing.npz"):
        read_npz(tmp_path / "missing.npz")


def test_defaults_are_core_golden_defaults() -> None:
    assert (golden_probe.DEFAULT_RTOL, golden_probe.DEFAULT_ATOL) == (
        DEFAULT_TOLERANCE.rtol,
        DEFAULT_TOLERANCE.atol,
    )


def test_tolerance_rule_agrees_with_core_golden() -> None:
    outcomes = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        want = rng.normal(scale=10.0 ** rng.integers(-6, 3), size=(3, 5)).astype(np.float32)
        tolerance = Tolerance(
            rtol=float(rng.choice([1e-3, 1e-2, 0])), atol=float(rng.choice([1e-5, 0.1]))
        )
        allowed = tolerance.atol + tolerance.rtol * np.abs(want)
        # Every element just inside its allowance, or some just outside.
        factors = [0.5, 0.99] if seed % 2 else [0.5, 0.99, 1.01, 2.0]
        factor = rng.choice(factors, size=want.shape)
        got = (want + allowed * factor * rng.choice([-1, 1], size=want.shape)).astype(np.float32)
        if seed % 5 == 0:
            got[0, 0] = want[0, 0] = np.nan
        _, worst, problems = compare_outputs({"y": got}, {"y": want}, tolerance)
        core_ok = worst is None and not problems
        probe = check._compare(
            "y",
            Tensor("FP32", got.shape, tuple(got.ravel().tolist())),
            Tensor("FP32", want.shape, tuple(want.ravel().tolist())),
            tolerance.rtol,
            tolerance.atol,
        )
        assert (probe is None) == core_ok, (seed, probe)
        outcomes.append(core_ok)
    assert 10 <= sum(outcomes) <= 30, "both outcomes must be exercised"


def test_exact_types_and_shapes_must_match() -> None:
    ints = Tensor("INT64", (2,), (1, 2))
    assert check._compare("k", ints, ints, 1e-3, 1e-5) is None
    assert "exact match" in str(check._compare("k", Tensor("INT64", (2,), (1, 3)), ints, 1, 1))
    assert "has shape [1, 2]" in str(
        check._compare("k", Tensor("INT64", (1, 2), (1, 2)), ints, 1, 1)
    )


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, (1e-3, 1e-5)),
        (
            {"smoke_rtol": {"string_value": "1e-2"}, "smoke_atol": {"string_value": "0.5"}},
            (1e-2, 0.5),
        ),
    ],
    ids=["defaults", "model-own"],
)
def test_tolerance_comes_from_tritons_config_json(
    parameters: dict[str, Any], expected: tuple[float, float]
) -> None:
    assert check._tolerance({"parameters": parameters}) == expected


@pytest.mark.parametrize("text", ["-1", "nan", "loose"])
def test_a_bad_tolerance_parameter_is_a_failure(text: str) -> None:
    with pytest.raises(ProbeError, match=r"parameter smoke_atol is"):
        check._tolerance({"parameters": {"smoke_atol": {"string_value": text}}})


def _copy(mount: Path, folder: str, name: str | None) -> Path:
    copy = mount / folder
    (copy / "1").mkdir(parents=True)
    (copy / "config.pbtxt").write_text(
        (f'name: "{name}"\n' if name else "") + 'backend: "onnxruntime"\n'
    )
    return copy


def test_find_model_dirs_reads_tritons_copies_newest_first(tmp_path: Path) -> None:
    mount = tmp_path / "release"
    mount.mkdir()
    environ = {
        "MODEL_REPOSITORY": "s3://bucket/releases/r1",
        "TRITON_AWS_MOUNT_DIRECTORY": str(mount),
    }
    locate = find_model_dirs(environ)  # before Triton copied anything, as in a probe
    old = _copy(mount, "folderAAAAAA", "alpha")
    os.utime(old, (time.time() - 600, time.time() - 600))
    new = _copy(mount, "folderBBBBBB", "alpha")
    beta = _copy(mount, "folderCCCCCC", "beta")
    _copy(mount, "folderDDDDDD", None)
    assert (locate("alpha"), locate("beta")) == (new, beta)
    with pytest.raises(ProbeError, match=r"no copy of model 'gamma'.*\['alpha', 'beta'\]"):
        locate("gamma")


def test_find_model_dirs_uses_a_local_model_repository(tmp_path: Path) -> None:
    assert find_model_dirs({"MODEL_REPOSITORY": str(tmp_path)})("alpha") == tmp_path / "alpha"


def test_main_fails_fast_with_one_line_when_triton_does_not_answer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "alpha" / "1").mkdir(parents=True)
    started = time.monotonic()
    code = main(["--url", "127.0.0.1:9", "--repository", str(tmp_path), "--timeout-s", "1.5"])
    assert code == 1
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert err.startswith("golden probe: FAILED Triton was not ready (models alpha): ")
    assert err.count("\n") == 1


def test_the_pods_probe_waits_for_the_whole_server(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODEL_REPOSITORY", str(tmp_path))
    assert main(["--url", "127.0.0.1:9", "--timeout-s", "1"]) == 1
    assert "Triton was not ready (/v2/health/ready): " in capsys.readouterr().err


def test_an_empty_release_folder_is_a_failure(tmp_path: Path) -> None:
    report = golden_probe.probe("127.0.0.1:9", tmp_path, timeout_s=1)
    assert (report.ok, report.failures) == (False, (f"{tmp_path} holds no model folder",))


def test_main_refuses_a_bad_timeout_as_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--repository", str(tmp_path), "--timeout-s", "0"])
    assert exit_info.value.code == 2


def test_the_probe_imports_only_the_standard_library() -> None:
    absolute = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for source in PROBE.glob("*.py")
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.ImportFrom) and node.level)  # within the package
        for alias in node.names
    }
    assert absolute <= set(sys.stdlib_module_names) | {"__future__"}


# The image (nvcr.io/nvidia/tritonserver:24.10-py3, Ubuntu 22.04) runs the probe with its
# own python3, 3.10; this machine's is newer, so the grammar and the standard-library names
# the probe uses are checked against 3.10 here.
IMAGE_PYTHON = (3, 10)
# Standard-library names added after 3.10 (What's New in Python 3.11 and 3.12).
NEWER_THAN_IMAGE = {
    "tomllib",
    "UTC",
    "Self",
    "StrEnum",
    "ExceptionGroup",
    "TaskGroup",
    "file_digest",
    "LiteralString",
    "Never",
    "NotRequired",
    "assert_never",
}


@pytest.mark.parametrize("source", sorted(PROBE.glob("*.py")), ids=lambda p: p.name)
def test_the_probe_is_python_3_10_as_in_the_image(source: Path) -> None:
    tree = ast.parse(source.read_text(), feature_version=IMAGE_PYTHON)
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    } | {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not names & NEWER_THAN_IMAGE


def test_the_probe_folder_imports_alone_with_only_the_standard_library(tmp_path: Path) -> None:
    # As in the image: the folder copied on its own, no orchestrator, no site-packages
    # (-S), sys.path holding the standard library and the folder's parent only.
    shutil.copytree(PROBE, tmp_path / "golden_probe", ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import importlib, json, pkgutil, sys\n"
        f"sys.path = [{str(tmp_path)!r}] + [p for p in sys.path if p]\n"
        "package = importlib.import_module('golden_probe')\n"
        "for module in pkgutil.iter_modules(package.__path__):\n"
        "    if module.name != '__main__':\n"
        "        importlib.import_module(f'golden_probe.{module.name}')\n"
        "outside = sorted(\n"
        "    name for name in sys.modules\n"
        "    if name.split('.')[0] not in sys.stdlib_module_names | {'golden_probe', '__main__'}\n"
        ")\n"
        "print(json.dumps({'outside': outside, 'path': sys.path}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["outside"] == []
    assert not any("site-packages" in folder for folder in loaded["path"])


def test_the_probe_runs_as_a_file_under_an_isolated_python(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            str(PROBE),
            "--url",
            "127.0.0.1:9",
            "--timeout-s",
            "1",
            "--repository",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "golden probe: FAILED Triton was not ready" in result.stderr
    assert "Traceback" not in result.stderr


SHORT_HEAD = (
    b'{"outputs": [{"name": "y", "datatype": "FP32", "shape": [2],'
    b' "parameters": {"binary_data_size": 4}}]}'
)


@pytest.mark.parametrize(
    ("data", "headers", "message"),
    [
        (b"<html>", {}, "non-JSON"),
        (b"[1]", {}, "the inference answer is not a JSON object"),
        (b"{}", {"Inference-Header-Content-Length": "99"}, "Inference-Header-Content-Length"),
        (b'{"outputs": [{"name": "y", "shape": ["2"]}]}', {}, "shape is '2'"),
        (b'{"outputs": [{"name": "y", "shape": [3], "data": [1, 2]}]}', {}, "does not fit"),
        (
            SHORT_HEAD + b"\0\0\0\0",
            {"Inference-Header-Content-Length": str(len(SHORT_HEAD))},
            "4 bytes for shape [2]",
        ),
    ],
    ids=["html", "list", "header-length", "shape-text", "short-data", "short-binary"],
)
def test_a_malformed_inference_answer_is_one_line_failure(
    data: bytes, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(ProbeError, match=re.escape(message)):
        wire._outputs(data, headers)


def test_a_binary_inference_answer_is_unpacked() -> None:
    head = (
        b'{"outputs": [{"name": "y", "datatype": "FP32", "shape": [2],'
        b' "parameters": {"binary_data_size": 8}}]}'
    )
    data = head + np.array([1.5, -2.0], dtype="<f4").tobytes()
    outputs = wire._outputs(data, {"Inference-Header-Content-Length": str(len(head))})
    assert outputs == {"y": Tensor("FP32", (2,), (1.5, -2.0))}
