"""The PyTorch models. Each maps raw inputs to class probabilities, preprocessing included.

Every model has ``logits(x)`` for training (cross-entropy on logits is numerically
stable) and ``forward(x) = softmax(logits(x))`` for export, so the served graph returns
probabilities and needs no client-side preprocessing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from orchestrator.errors import TrainingError
from training.data import Dataset

__all__ = ["CancerMLP", "Classifier", "DigitsCNN", "Standardize", "build_model"]

DIGITS_MAX_INTENSITY = 16.0


class Classifier(nn.Module):
    """A classifier whose ``forward`` returns probabilities over the last axis."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Return unnormalized class scores ``[N, num_classes]``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return class probabilities ``[N, num_classes]``; each row sums to 1."""
        return torch.softmax(self.logits(x), dim=-1)


class Standardize(nn.Module):
    """``(x - mean) / scale`` with constants fitted on the training split, kept in the graph.

    Example:
        >>> Standardize(np.zeros(2, np.float32), np.ones(2, np.float32))(torch.ones(1, 2))
        tensor([[1., 1.]])
    """

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: npt.NDArray[np.float32], scale: npt.NDArray[np.float32]) -> None:
        super().__init__()
        # A constant feature would divide by zero; leave it centred but unscaled.
        safe_scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        self.register_buffer("mean", torch.from_numpy(mean.astype(np.float32)))
        self.register_buffer("scale", torch.from_numpy(safe_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the standardized input."""
        return (x - self.mean) / self.scale


class DigitsCNN(Classifier):
    """Two 3x3 convolutions, a 2x2 max-pool and two dense layers on ``[N, 1, 8, 8]`` pixels."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(64, num_classes),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Scale raw intensities 0..16 to 0..1, then convolve and classify."""
        scores: torch.Tensor = self.head(self.features(x / DIGITS_MAX_INTENSITY))
        return scores


class CancerMLP(Classifier):
    """Standardization fitted on the training split, then a 30-32-16-2 perceptron."""

    def __init__(
        self, mean: npt.NDArray[np.float32], scale: npt.NDArray[np.float32], num_classes: int = 2
    ) -> None:
        super().__init__()
        self.standardize = Standardize(mean, scale)
        self.body = nn.Sequential(
            nn.Linear(mean.shape[0], 32),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(32, 16),
            nn.ReLU(),
            nn.Linear(16, num_classes),
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Standardize the raw features, then classify."""
        scores: torch.Tensor = self.body(self.standardize(x))
        return scores


def build_model(name: str, dataset: Dataset) -> Classifier:
    """Create an untrained model; call it after seeding torch for reproducible weights.

    Args:
        name: ``digits_cnn`` or ``cancer_mlp``.
        dataset: the split data; ``cancer_mlp`` fits its scaling on ``dataset.x_train``.

    Returns:
        The model, in training mode, on the CPU.

    Raises:
        TrainingError: the name is unknown.

    Example:
        >>> build_model("digits_cnn", load_dataset("digits"))(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """
    if name == "digits_cnn":
        return DigitsCNN(dataset.num_classes)
    if name == "cancer_mlp":
        mean = dataset.x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = dataset.x_train.std(axis=0, dtype=np.float64).astype(np.float32)
        return CancerMLP(mean, scale, dataset.num_classes)
    raise TrainingError(f"No model architecture named {name!r}.")
