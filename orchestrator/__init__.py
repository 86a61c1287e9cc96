"""Orchestrator: publish, validate, serve, smoke-test, release and deploy a Triton model repository.

A library first, with a thin click CLI (``orchestrator --help``).
"""

from orchestrator.errors import (
    ConfigError,
    DeployError,
    OrchestratorError,
    RepositoryError,
    ServerError,
    SmokeTestError,
    StorageError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DeployError",
    "OrchestratorError",
    "RepositoryError",
    "ServerError",
    "SmokeTestError",
    "StorageError",
    "__version__",
]
