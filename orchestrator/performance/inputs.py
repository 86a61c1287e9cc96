"""The inputs a bench run sends: rows of the model's golden.npz, or random ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orchestrator.core import npz
from orchestrator.core.golden import INPUT_PREFIX, golden_path
from orchestrator.core.tensors import config_datatype, numpy_dtype
from orchestrator.errors import ConfigError, UnsafeFileError
from orchestrator.repository.layout import is_folder, version_dir, version_numbers

__all__ = ["find_golden", "model_inputs"]


def find_golden(repository: Path, model: str) -> Path | None:
    """``<repository>/<model>/<highest version>/golden.npz`` when it exists.

    Example:
        >>> find_golden(Path("model_repository"), "digits_cnn")  # doctest: +SKIP
        PosixPath('model_repository/digits_cnn/3/golden.npz')
    """
    model_dir = repository / model
    if not is_folder(model_dir):
        return None
    for version in sorted(version_numbers(model_dir), reverse=True):
        candidate = golden_path(version_dir(repository, model, version))
        if candidate.is_file():
            return candidate
    return None


def model_inputs(
    config: dict[str, Any], batch_size: int, golden: Path | None = None, seed: int = 0
) -> tuple[dict[str, NDArray[Any]], str]:
    """One request's inputs: rows of ``golden`` (repeated as needed), else random ones.

    Args:
        config: the model config as Triton reports it (JSON form).
        batch_size: rows per request; must be 1 for a model without batching.
        golden: an ``.npz`` with ``inputs/<tensor>`` arrays.
        seed: the random generator's seed for the fallback.

    Returns:
        The inputs by name and where they came from ("golden:<path>" or "random").

    Raises:
        ConfigError: the batch size does not fit the model, or the golden file does not
            hold every input.
    """
    name = config.get("name", "?")
    max_batch_size = int(config.get("max_batch_size", 0))
    if max_batch_size == 0 and batch_size != 1:
        raise ConfigError(
            f"Model {name!r} does not batch (max_batch_size 0), so --batch-size must be 1, "
            f"not {batch_size}."
        )
    if max_batch_size and batch_size > max_batch_size:
        raise ConfigError(
            f"Batch size {batch_size} is larger than model {name!r}'s max_batch_size "
            f"{max_batch_size}. Pick a batch size up to {max_batch_size}."
        )
    if golden is not None:
        return _golden_inputs(config, batch_size, golden), f"golden:{golden}"
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in config.get("input", []):
        dims = [1 if int(d) < 0 else int(d) for d in spec.get("dims", [])]
        shape = [batch_size, *dims] if max_batch_size else dims
        inputs[str(spec["name"])] = _random_array(rng, str(spec.get("data_type")), shape)
    return inputs, "random"


def _golden_inputs(config: dict[str, Any], batch_size: int, golden: Path) -> dict[str, Any]:
    try:
        arrays = npz.read(golden)
    except (OSError, ValueError, ConfigError, UnsafeFileError) as exc:
        raise ConfigError(
            f"Cannot read golden inputs {golden}: {exc}. Expected an .npz with "
            "inputs/<tensor> arrays, as `python -m training` writes it."
        ) from exc
    batching = int(config.get("max_batch_size", 0)) > 0
    inputs = {}
    for spec in config.get("input", []):
        key = f"{INPUT_PREFIX}{spec['name']}"
        if key not in arrays:
            raise ConfigError(
                f"{golden} has no array {key!r} (it has {sorted(arrays)}). Expected one "
                "inputs/<tensor> array per model input; omit --golden for random inputs."
            )
        array = arrays[key]
        if batching:
            repeats = -(-batch_size // max(1, array.shape[0]))
            array = np.concatenate([array] * repeats)[:batch_size]
        inputs[str(spec["name"])] = np.ascontiguousarray(array)
    return inputs


def _random_array(rng: np.random.Generator, data_type: str, shape: list[int]) -> NDArray[Any]:
    try:
        dtype = numpy_dtype(config_datatype(data_type))
    except ConfigError:
        message = f"Cannot make random inputs of type {data_type}; pass --golden."
        raise ConfigError(message) from None
    if dtype.kind == "O":
        return np.full(shape, b"x", dtype=np.object_)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        return rng.integers(0, 8, size=shape).astype(dtype)
    return rng.random(size=shape).astype(dtype)
