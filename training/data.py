"""The training data: scikit-learn's bundled datasets, a fixed held-out split, a fingerprint.

Nothing here downloads: ``load_digits`` and ``load_breast_cancer`` ship inside the
scikit-learn wheel. The held-out split depends only on ``SPLIT_SEED``, not on the training
seed, so metrics of runs with different seeds are measured on the same rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from orchestrator.errors import TrainingError

__all__ = ["DATASETS", "HELD_OUT_FRACTION", "SPLIT_SEED", "Dataset", "load_dataset"]

SPLIT_SEED = 20240
HELD_OUT_FRACTION = 0.2

DATASETS = {
    "digits": "sklearn.datasets.load_digits",
    "breast_cancer": "sklearn.datasets.load_breast_cancer",
}


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into training rows and held-out rows.

    Attributes:
        name: ``digits`` or ``breast_cancer``.
        source: the scikit-learn loader it came from.
        x_train: float32 training inputs, shape ``[n_train, *sample_shape]``.
        y_train: int64 training labels.
        x_held_out: float32 held-out inputs; training never sees them.
        y_held_out: int64 held-out labels.
        num_classes: number of classes.
        fingerprint: ``sha256:<hex>`` over dtype, shape and bytes of all four arrays.
    """

    name: str
    source: str
    x_train: npt.NDArray[np.float32]
    y_train: npt.NDArray[np.int64]
    x_held_out: npt.NDArray[np.float32]
    y_held_out: npt.NDArray[np.int64]
    num_classes: int
    fingerprint: str

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one input row, without the batch dimension."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        """Return what ``export.json`` records about the data.

        Example:
            >>> load_dataset("breast_cancer").describe()["n_held_out"]
            114
        """
        return {
            "name": self.name,
            "source": self.source,
            "n_train": int(self.x_train.shape[0]),
            "n_held_out": int(self.x_held_out.shape[0]),
            "split_seed": SPLIT_SEED,
            "held_out_fraction": HELD_OUT_FRACTION,
            "fingerprint": self.fingerprint,
        }


def load_dataset(name: str) -> Dataset:
    """Load a bundled scikit-learn dataset and split it, stratified, into train and held-out.

    Args:
        name: ``digits`` (inputs ``[N, 1, 8, 8]``, raw intensities 0..16) or
            ``breast_cancer`` (inputs ``[N, 30]``, raw unscaled features).

    Returns:
        The split ``Dataset``; the same on every call.

    Raises:
        TrainingError: the name is unknown.

    Example:
        >>> load_dataset("digits").sample_shape
        (1, 8, 8)
    """
    if name == "digits":
        bunch = load_digits()
        x = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :]
    elif name == "breast_cancer":
        bunch = load_breast_cancer()
        x = np.asarray(bunch.data, dtype=np.float32)
    else:
        raise TrainingError(f"Unknown dataset {name!r}. Expected one of: {', '.join(DATASETS)}.")
    y = np.asarray(bunch.target, dtype=np.int64)
    x_train, x_held_out, y_train, y_held_out = train_test_split(
        x, y, test_size=HELD_OUT_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train, x_held_out, y_held_out)]
    return Dataset(
        name=name,
        source=DATASETS[name],
        x_train=arrays[0],
        y_train=arrays[1],
        x_held_out=arrays[2],
        y_held_out=arrays[3],
        num_classes=int(y.max()) + 1,
        fingerprint=fingerprint_arrays(arrays),
    )


def fingerprint_arrays(arrays: list[npt.NDArray[Any]]) -> str:
    """Return ``sha256:<hex>`` over each array's dtype, shape and C-order bytes.

    Example:
        >>> fingerprint_arrays([np.zeros(2, np.float32)])[:7]
        'sha256:'
    """
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return f"sha256:{digest.hexdigest()}"
