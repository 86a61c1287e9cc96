"""The models this package trains, as data: names, tensors and training settings.

This module imports neither torch nor scikit-learn, so the command line can list the
models and check its arguments before the heavy frameworks load.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import TrainingError

__all__ = ["MODELS", "MODEL_NAMES", "ModelSpec", "get_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """What to train and how, for one model.

    Attributes:
        name: the model's name in the repository (``digits_cnn``).
        description: one line for ``--help`` and ``export.json``.
        dataset: the scikit-learn dataset it trains on (see ``training.data``).
        input_name: the ONNX input tensor's name.
        output_name: the ONNX output tensor's name (class probabilities).
        epochs: default number of passes over the training split.
        batch_size: examples per optimizer step.
        learning_rate: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
    """

    name: str
    description: str
    dataset: str
    input_name: str
    output_name: str
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise TrainingError(
                f"Model spec {self.name!r} has epochs={self.epochs}, "
                f"batch_size={self.batch_size}, learning_rate={self.learning_rate}; "
                "expected positive values."
            )


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="digits_cnn",
            description="A small CNN on scikit-learn's 8x8 digits: raw pixels 0..16 in, "
            "10 class probabilities out.",
            dataset="digits",
            input_name="input",
            output_name="probabilities",
            epochs=15,
            batch_size=32,
            learning_rate=3e-3,
        ),
        ModelSpec(
            name="cancer_mlp",
            description="An MLP on scikit-learn's breast cancer data: 30 raw features in "
            "(standardized inside the graph), 2 class probabilities out.",
            dataset="breast_cancer",
            input_name="features",
            output_name="probabilities",
            epochs=40,
            batch_size=32,
            learning_rate=1e-3,
            weight_decay=1e-4,
        ),
    )
}

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def get_spec(name: str) -> ModelSpec:
    """Return the spec of a known model.

    Args:
        name: a model name such as ``"digits_cnn"``.

    Returns:
        The model's ``ModelSpec``.

    Raises:
        TrainingError: the name is not one of ``MODEL_NAMES``.

    Example:
        >>> get_spec("cancer_mlp").input_name
        'features'
    """
    try:
        return MODELS[name]
    except KeyError:
        raise TrainingError(
            f"Unknown model {name!r}. Expected one of: {', '.join(MODEL_NAMES)}."
        ) from None
