"""Training: PyTorch models on data that ships with scikit-learn, exported as ONNX bundles.

Importing this package does not import torch; ``train_and_export`` checks for the
``train`` extra and names it when it is missing.

Example:
    >>> from training import train_and_export
    >>> result = train_and_export("digits_cnn", "models/exports/digits_cnn")
    >>> print(result.summary())
"""

from orchestrator.errors import ParityError, TorchMissingError, TrainingError
from training.pipeline import ExportResult, train_and_export
from training.specs import MODEL_NAMES, ModelSpec, get_spec

__all__ = [
    "MODEL_NAMES",
    "ExportResult",
    "ModelSpec",
    "ParityError",
    "TorchMissingError",
    "TrainingError",
    "get_spec",
    "train_and_export",
]
