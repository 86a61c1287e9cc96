"""The parity arithmetic (numpy only): tolerances, NaN, shapes, failures of the candidate."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from training.parity import compare_batches

REFERENCE = {
    "held-out[2]": {"probabilities": np.array([[0.2, 0.8], [0.6, 0.4]], dtype=np.float32)},
    "random[1]": {"probabilities": np.array([[0.5, 0.5]], dtype=np.float32)},
}


def _shifted(batch: str, delta: float) -> dict[str, dict[str, npt.NDArray[Any] | str]]:
    candidate = {b: {k: v.copy() for k, v in o.items()} for b, o in REFERENCE.items()}
    candidate[batch]["probabilities"][0, 0] += delta
    return candidate  # type: ignore[return-value]


def test_identical_outputs_pass_with_zero_error() -> None:
    report = compare_batches(REFERENCE, REFERENCE)
    assert report.passed
    assert report.as_dict() == {"probabilities": {"max_abs_error": 0.0, "max_rel_error": 0.0}}
    assert report.batches == ("held-out[2]", "random[1]")


def test_error_within_rtol_passes_and_is_reported() -> None:
    report = compare_batches(REFERENCE, _shifted("random[1]", 2e-4))  # rtol 1e-3 of 0.5
    assert report.passed
    assert report.worst.max_abs_error == pytest.approx(2e-4, rel=1e-3)
    assert report.worst.max_rel_error == pytest.approx(4e-4, rel=1e-3)


def test_error_beyond_tolerance_fails_and_names_output_and_batch() -> None:
    report = compare_batches(REFERENCE, _shifted("random[1]", 0.01))
    assert not report.passed
    worst = report.worst
    assert (worst.name, worst.worst_batch, worst.mismatched) == ("probabilities", "random[1]", 1)
    message = report.describe_failure()
    assert "'probabilities'" in message and "random[1]" in message and "0.01" in message


def test_nan_in_candidate_is_a_mismatch() -> None:
    report = compare_batches(REFERENCE, _shifted("held-out[2]", float("nan")))
    assert not report.passed
    assert report.worst.worst_batch == "held-out[2]"


def test_relative_error_ignores_references_below_atol() -> None:
    reference = {"b": {"y": np.array([1e-9, 1.0])}}
    candidate = {"b": {"y": np.array([5e-6, 1.0])}}
    report = compare_batches(reference, candidate)
    assert report.passed  # |5e-6 - 1e-9| <= atol 1e-5
    assert report.worst.max_rel_error == 0.0
    assert report.worst.max_abs_error == pytest.approx(5e-6, rel=1e-3)


def test_wrong_shape_or_failed_run_fails_with_the_reason() -> None:
    wrong_shape = {b: {"probabilities": np.zeros((3, 2))} for b in REFERENCE}
    report = compare_batches(REFERENCE, wrong_shape)
    assert not report.passed
    assert "shape [3, 2] where the reference has [2, 2]" in report.describe_failure()
    failed = {b: {"probabilities": "ONNX Runtime could not run it"} for b in REFERENCE}
    assert "ONNX Runtime could not run it" in compare_batches(REFERENCE, failed).describe_failure()
