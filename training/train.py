"""The training loop: seeded, deterministic, minibatch Adam on a ``Classifier``."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from orchestrator.errors import TrainingError
from training.data import Dataset
from training.models import Classifier

__all__ = [
    "EpochStats",
    "TrainConfig",
    "TrainReport",
    "deterministic",
    "evaluate",
    "resolve_device",
    "train_classifier",
]

logger = logging.getLogger(__name__)

TRAINING_THREADS = 1


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        epochs: passes over the training split.
        batch_size: examples per optimizer step.
        learning_rate: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        seed: seeds weight initialization, dropout and the shuffling order.
        device: ``cpu`` or ``cuda`` (``cuda:1`` works too).
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise TrainingError(f"epochs is {self.epochs}; expected 1 or more.")
        if self.batch_size < 1:
            raise TrainingError(f"batch_size is {self.batch_size}; expected 1 or more.")


@dataclass(frozen=True)
class EpochStats:
    """What one finished epoch reports to a progress callback."""

    epoch: int
    epochs: int
    loss: float
    train_accuracy: float


@dataclass(frozen=True)
class TrainReport:
    """The outcome of ``train_classifier``.

    Attributes:
        final_loss: mean training cross-entropy of the last epoch.
        train_time_s: wall time of the training loop.
        metrics: held-out metrics (``accuracy``, ``loss``).
    """

    final_loss: float
    train_time_s: float
    metrics: dict[str, float]


def resolve_device(device: str) -> torch.device:
    """Return the torch device, or explain why it cannot be used.

    Raises:
        TrainingError: the device is not ``cpu``/``cuda[:N]``/``auto``, or CUDA is missing.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise TrainingError(
            f"Device {device!r} is not supported. Expected 'cpu', 'cuda' or 'auto'."
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(
            f"Device {device!r} was asked for, but torch {torch.__version__} sees no CUDA GPU "
            f"(torch.version.cuda={torch.version.cuda}). Use --device cpu, or install a CUDA "
            "build of torch on a machine with an NVIDIA GPU."
        )
    return torch.device(device)


@contextlib.contextmanager
def deterministic(seed: int, device: str = "cpu") -> Iterator[None]:
    """Seed every generator and train on one CPU thread; on CUDA, deterministic kernels too.

    Two runs with the same seed on the same machine then produce the same weights. The
    previous thread count and deterministic mode are restored on exit.

    Example:
        >>> with deterministic(0):
        ...     torch.rand(1)
        tensor([0.4963])
    """
    previous_threads = torch.get_num_threads()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # One CPU thread: these models are too small to gain from more (on a busy 2-core
    # machine more threads made training 3-10x slower), and a fixed thread count keeps
    # the float summation order, hence the weights, independent of the core count.
    torch.set_num_threads(TRAINING_THREADS)
    with _deterministic_kernels(enabled=device.startswith("cuda")):
        try:
            yield
        finally:
            torch.set_num_threads(previous_threads)


@contextlib.contextmanager
def _deterministic_kernels(*, enabled: bool) -> Iterator[None]:
    # The CPU kernels these models use are deterministic already, and the switch costs
    # seconds (it imports torch's compiler stack), so it is thrown only for CUDA, where
    # atomics-based kernels (and cuBLAS without a fixed workspace) are not.
    if not enabled:
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


def train_classifier(
    model: Classifier,
    dataset: Dataset,
    config: TrainConfig,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainReport:
    """Train ``model`` on ``dataset.x_train`` and measure it on the held-out rows.

    Call it inside ``deterministic(config.seed, config.device)``, after building the model
    there, for reproducible weights. The model is left in eval mode on the CPU.

    Args:
        model: the untrained classifier.
        dataset: the split data; held-out rows are used only for the final metrics.
        config: epochs, batch size, optimizer settings, seed and device.
        on_epoch: called after every epoch, e.g. to advance a progress bar.

    Returns:
        The last epoch's loss, the training time and the held-out metrics.

    Example:
        >>> report = train_classifier(model, load_dataset("digits"), config)
        >>> report.metrics["accuracy"] > 0.95
        True
    """
    device = resolve_device(config.device)
    model.to(device)
    x = torch.from_numpy(dataset.x_train).to(device)
    y = torch.from_numpy(dataset.y_train).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    shuffle = torch.Generator().manual_seed(config.seed)
    n = x.shape[0]
    loss_mean = float("nan")
    start = time.monotonic()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=shuffle).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        for first in range(0, n, config.batch_size):
            index = order[first : first + config.batch_size]
            logits = model.logits(x[index])
            loss = F.cross_entropy(logits, y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            loss_sum += loss.detach() * index.shape[0]
            correct += (logits.argmax(dim=1) == y[index]).sum()
        loss_mean = float(loss_sum.item()) / n
        stats = EpochStats(epoch, config.epochs, loss_mean, float(correct.item()) / n)
        logger.debug("Epoch %d/%d: loss %.4f", epoch, config.epochs, loss_mean)
        if on_epoch is not None:
            on_epoch(stats)
    train_time_s = time.monotonic() - start
    model.to("cpu").eval()
    metrics = evaluate(model, dataset.x_held_out, dataset.y_held_out)
    logger.info(
        "Trained %s for %d epochs in %.1f s; held-out accuracy %.4f",
        type(model).__name__,
        config.epochs,
        train_time_s,
        metrics["accuracy"],
    )
    return TrainReport(final_loss=loss_mean, train_time_s=train_time_s, metrics=metrics)


def evaluate(
    model: Classifier, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]
) -> dict[str, float]:
    """Return the accuracy and mean cross-entropy of ``model`` on ``(x, y)``.

    Example:
        >>> evaluate(model, data.x_held_out, data.y_held_out)["accuracy"]
        0.9861111111111112
    """
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        logits = model.logits(torch.from_numpy(x).to(device))
        labels = torch.from_numpy(y).to(device)
        loss = F.cross_entropy(logits, labels).item()
        accuracy = (logits.argmax(dim=1) == labels).double().mean().item()
    return {"accuracy": float(accuracy), "loss": float(loss)}
