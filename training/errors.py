"""Errors raised by training and export.

They derive from ``orchestrator.errors.OrchestratorError`` so that every command line of
the project turns them into one message and exit status 1.

* OrchestratorError
  + TrainingError         training or export cannot go on; nothing was written
    + TorchMissingError   PyTorch (the ``train`` extra) is not installed
    + ParityError         the ONNX graph disagrees with the PyTorch model
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from training.parity import ParityReport

__all__ = ["ParityError", "TorchMissingError", "TrainingError"]


class TrainingError(OrchestratorError):
    """Raised when a model cannot be trained or exported; no bundle was written."""


class TorchMissingError(TrainingError):
    """Raised when PyTorch or scikit-learn (the ``train`` extra) cannot be imported."""


class ParityError(TrainingError):
    """Raised when ONNX Runtime and PyTorch disagree beyond the tolerance."""

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report
