"""Golden files and the comparison of served outputs with them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.core.golden import (
    Tolerance,
    compare_outputs,
    read_golden,
    tolerance_for,
    write_golden,
)
from orchestrator.core.model_config import parse_config
from orchestrator.errors import ConfigError, SmokeTestError


def test_write_then_read_round_trips_every_array_by_tensor_name(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    text = np.array([b"a", b"bc"], dtype=object)
    path = write_golden(tmp_path / "1" / "golden.npz", {"x": x, "t": text}, {"y": x * 2})
    golden = read_golden(path)
    assert sorted(golden.inputs) == ["t", "x"] and list(golden.outputs) == ["y"]
    np.testing.assert_array_equal(golden.inputs["x"], x)
    np.testing.assert_array_equal(golden.outputs["y"], x * 2)
    assert golden.inputs["t"].tolist() == [b"a", b"bc"]
    assert golden.batch_size == 3
    with np.load(path) as archive:
        assert sorted(archive.files) == ["inputs/t", "inputs/x", "outputs/y"]


def test_missing_golden_file_says_where_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(
        SmokeTestError, match=rf"No golden data at {tmp_path}/golden.npz.*republish"
    ):
        read_golden(tmp_path / "golden.npz")


def test_golden_without_outputs_names_the_keys_it_has(tmp_path: Path) -> None:
    path = tmp_path / "golden.npz"
    np.savez(path, x=np.zeros(2))
    with pytest.raises(SmokeTestError, match=r"has keys \['x'\]; expected at least one inputs/"):
        read_golden(path)


def test_corrupt_golden_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "golden.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(SmokeTestError, match="Cannot read golden data"):
        read_golden(path)


def test_outputs_within_tolerance_pass_and_report_the_largest_error() -> None:
    want = np.array([[1.0, 100.0]], dtype=np.float32)
    got = want + np.array([[5e-6, 0.05]], dtype=np.float32)  # 0.05 <= 1e-5 + 1e-3 * 100
    max_error, worst, problems = compare_outputs({"y": got}, {"y": want}, Tolerance())
    assert worst is None and problems == []
    assert max_error == pytest.approx(0.05, rel=1e-3)


def test_the_worst_element_is_named_with_its_index_and_both_values() -> None:
    want = np.zeros((2, 3), dtype=np.float32)
    got = want.copy()
    got[0, 1] = 1e-4  # 10x the allowed 1e-5
    got[1, 2] = 1e-3  # 100x: the worst
    _, worst, _ = compare_outputs({"p": got}, {"p": want}, Tolerance())
    assert worst is not None
    assert (worst.output, worst.index) == ("p", (1, 2))
    assert worst.excess == pytest.approx(100, rel=1e-3)
    assert str(worst).startswith("output 'p'[1, 2] is 0.001")
    assert "expected 0.0 (abs error 0.001 > allowed 1e-05)" in str(worst)


def test_nan_matches_nan_but_not_a_number() -> None:
    want = np.array([np.nan, 1.0])
    assert compare_outputs({"y": want.copy()}, {"y": want}, Tolerance())[1] is None
    _, worst, _ = compare_outputs({"y": np.array([np.nan, np.nan])}, {"y": want}, Tolerance())
    assert worst is not None and worst.index == (1,) and math.isinf(worst.excess)


@pytest.mark.parametrize(
    ("got", "want"),
    [
        (np.array([1, 2, 4]), np.array([1, 2, 3])),
        (np.array([b"a", b"x"], dtype=object), np.array([b"a", b"b"], dtype=object)),
    ],
    ids=["int", "bytes"],
)
def test_exact_types_must_match_exactly(
    got: np.ndarray[Any, Any], want: np.ndarray[Any, Any]
) -> None:
    _, worst, _ = compare_outputs({"y": got}, {"y": want}, Tolerance(rtol=1, atol=1))
    assert worst is not None and worst.index == (got.size - 1,)
    assert "(exact match)" in str(worst)


def test_missing_output_and_wrong_shape_are_problems() -> None:
    want = {"y": np.zeros((2, 3)), "s": np.zeros((2, 1))}
    _, _, problems = compare_outputs({"y": np.zeros((3, 2))}, want, Tolerance())
    assert problems == [
        "output 'y' has shape [3, 2], golden has [2, 3]",
        "output 's' is missing from the answer (got ['y'])",
    ]


def test_model_config_parameters_override_the_default_tolerance() -> None:
    config = parse_config(
        'name: "m" parameters { key: "smoke_rtol" value { string_value: "0.01" } }'
    )
    assert tolerance_for(config, Tolerance(rtol=1e-3, atol=2e-5)) == Tolerance(0.01, 2e-5)
    assert tolerance_for(parse_config('name: "m"')) == Tolerance(1e-3, 1e-5)


def test_a_tolerance_parameter_that_is_not_a_number_is_a_config_error() -> None:
    config = parse_config('name: "m" parameters { key: "smoke_atol" value { string_value: "x" } }')
    with pytest.raises(ConfigError, match="parameter smoke_atol is 'x'; expected a number"):
        tolerance_for(config)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf], ids=["negative", "nan", "inf"])
def test_tolerance_must_be_a_finite_non_negative_number(value: float) -> None:
    with pytest.raises(ConfigError, match="expected a number from 0 to 1"):
        Tolerance(rtol=value)


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("smoke_atol", "abc", "parameter smoke_atol is 'abc'; expected a number"),
        ("smoke_atol", "", "parameter smoke_atol is ''; expected a number"),
        ("smoke_rtol", "-0.1", "rtol is -0.1; expected a number from 0 to 1"),
        ("smoke_rtol", "nan", "rtol is nan; expected a number from 0 to 1"),
        ("smoke_atol", "inf", "atol is inf; expected a number from 0 to 1e\\+06"),
        ("smoke_atol", "1e308", "atol is 1e\\+308; expected a number from 0 to 1e\\+06"),
        ("smoke_rtol", "1e400", "rtol is inf"),
        ("smoke_rtol", "2", "rtol is 2.0; expected a number from 0 to 1"),
        ("smoke_rtol", "1" * 5000, "expected a number from 0 to 1"),
    ],
    ids=["text", "empty", "negative", "nan", "inf", "absurd", "overflow", "over-100%", "digits"],
)
def test_a_config_tolerance_the_probe_would_refuse_is_a_config_error_naming_the_model(
    key: str, text: str, expected: str
) -> None:
    config = parse_config(
        f'name: "m" parameters {{ key: "{key}" value {{ string_value: "{text}" }} }}'
    )
    with pytest.raises(ConfigError, match=f"Model 'm'.*{expected}"):
        tolerance_for(config)
