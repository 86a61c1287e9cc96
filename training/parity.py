"""Compare two sets of outputs element-wise: the numbers behind the export's parity gate.

Pure numpy, so reports can be built, read and tested without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "ParityReport", "TensorParity", "compare_batches"]

DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5


@dataclass(frozen=True)
class TensorParity:
    """How far one output tensor of the candidate is from the reference, over all batches.

    Attributes:
        name: the output tensor's name.
        max_abs_error: the largest ``|candidate - reference|``.
        max_rel_error: the largest ``|candidate - reference| / |reference|`` over elements
            whose reference magnitude exceeds ``atol`` (smaller ones are judged by ``atol``).
        worst_batch: the label of the batch holding the element furthest out of tolerance
            (or with the largest absolute error when all are within).
        mismatched: how many elements violate ``|c - r| <= atol + rtol * |r|``, or -1 when
            the candidate failed to run or returned the wrong shape.
        detail: why the comparison could not be made, when ``mismatched`` is -1.
    """

    name: str
    max_abs_error: float
    max_rel_error: float
    worst_batch: str
    mismatched: int
    detail: str = ""

    @property
    def passed(self) -> bool:
        """Whether every element of every batch was within tolerance."""
        return self.mismatched == 0


@dataclass(frozen=True)
class ParityReport:
    """The per-output result of comparing a candidate (ONNX Runtime) with a reference.

    Example:
        >>> report = compare_batches({"b": {"y": ref}}, {"b": {"y": ref}})
        >>> report.passed, report.worst.max_abs_error
        (True, 0.0)
    """

    outputs: tuple[TensorParity, ...]
    batches: tuple[str, ...]
    rtol: float
    atol: float

    @property
    def passed(self) -> bool:
        """Whether every output agreed within tolerance on every batch."""
        return all(output.passed for output in self.outputs)

    @property
    def worst(self) -> TensorParity:
        """The failing output with the most mismatches, else the one with the largest error."""
        return max(
            self.outputs,
            key=lambda o: (not o.passed, o.mismatched < 0, o.max_abs_error, o.max_rel_error),
        )

    def as_dict(self) -> dict[str, dict[str, float]]:
        """Return ``{output name: {max_abs_error, max_rel_error}}`` for ``export.json``."""
        return {
            o.name: {"max_abs_error": o.max_abs_error, "max_rel_error": o.max_rel_error}
            for o in self.outputs
        }

    def describe_failure(self) -> str:
        """Return one sentence naming the worst output, its error and the batch."""
        worst = self.worst
        if worst.mismatched < 0:
            return f"output {worst.name!r} on batch {worst.worst_batch}: {worst.detail}"
        return (
            f"output {worst.name!r}: {worst.mismatched} element(s) out of tolerance, "
            f"max abs error {worst.max_abs_error:.3g}, max rel error {worst.max_rel_error:.3g} "
            f"(worst on batch {worst.worst_batch}; allowed |a-b| <= {self.atol:g} + "
            f"{self.rtol:g}*|b|)"
        )


def compare_batches(
    reference: Mapping[str, Mapping[str, npt.NDArray[Any]]],
    candidate: Mapping[str, Mapping[str, npt.NDArray[Any] | str]],
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> ParityReport:
    """Compare candidate outputs with reference outputs, batch by batch and output by output.

    Args:
        reference: ``{batch label: {output name: array}}`` from the trusted model.
        candidate: the same layout from the model under test; a string in place of an
            array is an error message (the candidate failed on that batch).
        rtol: relative tolerance, as in ``numpy.isclose``.
        atol: absolute tolerance, as in ``numpy.isclose``.

    Returns:
        One ``TensorParity`` per output name, aggregated over all batches.

    Example:
        >>> ref = {"held-out": {"probabilities": np.array([[0.25, 0.75]])}}
        >>> compare_batches(ref, ref).passed
        True
    """
    names = sorted({name for outputs in reference.values() for name in outputs})
    results = [_compare_output(name, reference, candidate, rtol, atol) for name in names]
    return ParityReport(tuple(results), tuple(reference), rtol, atol)


def _compare_output(
    name: str,
    reference: Mapping[str, Mapping[str, npt.NDArray[Any]]],
    candidate: Mapping[str, Mapping[str, npt.NDArray[Any] | str]],
    rtol: float,
    atol: float,
) -> TensorParity:
    max_abs = 0.0
    max_rel = 0.0
    mismatched = 0
    worst_batch = ""
    worst_excess = -np.inf
    for batch, ref_outputs in reference.items():
        expected = np.asarray(ref_outputs[name], dtype=np.float64)
        got = candidate.get(batch, {}).get(name, "the candidate returned no such output")
        if isinstance(got, str) or np.shape(got) != expected.shape:
            detail = (
                got
                if isinstance(got, str)
                else (f"shape {list(np.shape(got))} where the reference has {list(expected.shape)}")
            )
            return TensorParity(name, float("inf"), float("inf"), batch, -1, detail)
        actual = np.asarray(got, dtype=np.float64)
        abs_error = np.abs(actual - expected)
        allowed = atol + rtol * np.abs(expected)
        bad = ~(abs_error <= allowed)  # NaN counts as bad
        mismatched += int(bad.sum())
        big = np.abs(expected) > atol
        batch_rel = float((abs_error[big] / np.abs(expected[big])).max(initial=0.0))
        batch_abs = float(abs_error.max(initial=0.0)) if not np.isnan(abs_error).any() else np.inf
        excess = float((abs_error - allowed).max(initial=-np.inf))
        if np.isnan(excess):
            excess = np.inf
        if excess > worst_excess:
            worst_excess, worst_batch = excess, batch
        max_abs = max(max_abs, batch_abs)
        max_rel = max(max_rel, batch_rel)
    return TensorParity(name, max_abs, max_rel, worst_batch, mismatched)
