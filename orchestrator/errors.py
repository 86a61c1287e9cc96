"""Errors raised by orchestrator and by training.

Every error a user can cause or meet derives from ``OrchestratorError``; the CLI turns
it into one message and exit status 1. Anything else is a bug and keeps its traceback.
This module is the whole tree: no other module of the project defines an exception.

* OrchestratorError
  + ConfigError                   settings or model-config inputs are wrong
    + ConfigSyntaxError           config.pbtxt text does not parse (has line and column)
  + RepositoryError               the on-disk layout is wrong
    + UnsafeFileError             a file breaks the untrusted-input rule (core.untrusted)
  + ServerError                   the Triton server could not be found, started, reached or used
    + ModelControlDisabledError   Triton refuses load/unload: not in explicit model control mode
    + ServerGone                  the server stopped answering in the middle of a load run
  + StorageError                  sync to or from object storage failed
    + StoreConflictError          a conditional write lost to someone else's write
  + DeployError                   Kubernetes rejected a rollout or it never finished
    + GateError                   a release failed its gate, or has no passing gate record
  + SmokeTestError                Triton answered wrongly, or not in time
  + TrainingError                 training or export cannot go on; nothing was written
    + TorchMissingError           PyTorch (the ``train`` extra) is not installed
    + ParityError                 the ONNX graph disagrees with the PyTorch model
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = [
    "ConfigError",
    "ConfigSyntaxError",
    "DeployError",
    "GateError",
    "GateOutcome",
    "ModelControlDisabledError",
    "OrchestratorError",
    "ParityError",
    "ParityOutcome",
    "RepositoryError",
    "ServerError",
    "ServerGone",
    "SmokeTestError",
    "StorageError",
    "StoreConflictError",
    "TorchMissingError",
    "TrainingError",
    "UnsafeFileError",
]


class OrchestratorError(Exception):
    """Raised for every expected failure; the message says what, why and what to try."""


class ConfigError(OrchestratorError):
    """Raised when settings or a model configuration are wrong."""


class ConfigSyntaxError(ConfigError):
    """Raised when config.pbtxt text does not parse as a ModelConfig; has line and column."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.line = line
        self.column = column


class RepositoryError(OrchestratorError):
    """Raised when the model repository's on-disk layout is wrong."""


class UnsafeFileError(RepositoryError):
    """Raised when a repository or bundle file breaks the untrusted-input rule.

    ``reason`` says which part (``orchestrator.core.untrusted``): ``link`` (a symbolic
    link), ``special`` (not a regular file where one is expected), ``outside`` (a name
    that leaves its folder), ``too-large`` (over a size, depth or count cap), ``missing``
    or ``unreadable``; ``path`` is the file concerned. Nothing was read from it.
    """

    def __init__(self, message: str, *, path: Path, reason: str) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason


class ServerError(OrchestratorError):
    """Raised when a Triton server cannot be found, started, reached or used."""


class ModelControlDisabledError(ServerError):
    """Raised when Triton refuses to load or unload a model: it is not in explicit mode."""


class ServerGone(ServerError):
    """Raised when the server stops accepting connections in the middle of a run."""


class StorageError(OrchestratorError):
    """Raised when a sync to or from object storage fails."""


class StoreConflictError(StorageError):
    """Raised when a conditional write finds the key created or changed by someone else."""


class DeployError(OrchestratorError):
    """Raised when Kubernetes rejects a rollout or it never finishes."""


class GateOutcome(Protocol):
    """What a ``GateError`` of a measured gate carries: ``deploy.gate.GateResult`` has this shape.

    A protocol, so that this module imports nothing of ``deploy``.
    """

    @property
    def passed(self) -> bool:
        """Whether every check of the gate passed."""
        ...


class GateError(DeployError):
    """Raised when a release fails its gate, or has no passing gate record to promote.

    ``outcome`` is the gate's result when a gate was measured and failed (promote's gate
    of its target), None otherwise.
    """

    def __init__(self, message: str, outcome: GateOutcome | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome


class SmokeTestError(OrchestratorError):
    """Raised when Triton answers wrongly, or not in time."""


class TrainingError(OrchestratorError):
    """Raised when a model cannot be trained or exported; no bundle was written."""


class TorchMissingError(TrainingError):
    """Raised when PyTorch or scikit-learn (the ``train`` extra) cannot be imported."""


class ParityOutcome(Protocol):
    """What a ``ParityError`` carries: ``training.parity.ParityReport`` has this shape.

    A protocol, so that this module imports nothing of ``training``.
    """

    @property
    def passed(self) -> bool:
        """Whether every output agreed within tolerance."""
        ...


class ParityError(TrainingError):
    """Raised when ONNX Runtime and PyTorch disagree beyond the tolerance."""

    def __init__(self, message: str, report: ParityOutcome) -> None:
        super().__init__(message)
        self.report = report
