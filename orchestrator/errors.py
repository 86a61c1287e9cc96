"""Errors raised by orchestrator.

Every error a user can cause or meet derives from ``OrchestratorError``; the CLI turns
it into one message and exit status 1. Anything else is a bug and keeps its traceback.

* OrchestratorError
  + ConfigError       settings or model-config inputs are wrong
    + ConfigSyntaxError   config.pbtxt text does not parse (has line and column)
  + RepositoryError   the on-disk layout is wrong
  + ServerError       the Triton server could not be found, started, reached or used
  + StorageError      sync to or from object storage failed
  + DeployError       Kubernetes rejected a rollout or it never finished
  + SmokeTestError    Triton answered wrongly, or not in time
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConfigSyntaxError",
    "DeployError",
    "OrchestratorError",
    "RepositoryError",
    "ServerError",
    "SmokeTestError",
    "StorageError",
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


class ServerError(OrchestratorError):
    """Raised when a Triton server cannot be found, started, reached or used."""


class StorageError(OrchestratorError):
    """Raised when a sync to or from object storage fails."""


class DeployError(OrchestratorError):
    """Raised when Kubernetes rejects a rollout or it never finishes."""


class SmokeTestError(OrchestratorError):
    """Raised when Triton answers wrongly, or not in time."""
