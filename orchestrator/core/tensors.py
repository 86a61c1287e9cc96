"""Tensor signatures (name, datatype, shape) and the arrays checked against them.

A signature is written in Triton's own terms, as its model metadata reports it:
datatypes are ``FP32``, ``INT64``, ``BYTES`` ... and shapes include the batch dimension
(``-1``) when the model batches. The same ``TensorSpec`` is built from a repository's
config.pbtxt and from a server's metadata, so the two can be compared directly, and
arrays (golden data, ``--input`` files) are checked against it before they are sent.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orchestrator.core import npz
from orchestrator.core.golden import INPUT_PREFIX, OUTPUT_PREFIX
from orchestrator.core.model_config import ModelConfig, config_datatype, data_type_name
from orchestrator.errors import ConfigError

__all__ = [
    "ServingSignature",
    "TensorSpec",
    "check_arrays",
    "compare_signatures",
    "config_datatype",
    "load_tensor_file",
    "numpy_dtype",
    "signature_from_config",
    "signature_from_metadata",
]

logger = logging.getLogger(__name__)

# Triton's datatype names (as in model metadata) -> numpy dtypes.
_NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, Triton datatype and full shape (-1 = any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.datatype not in _NUMPY_DTYPES:
            raise ConfigError(
                f"Tensor {self.name!r} has datatype {self.datatype!r}, which numpy cannot "
                f"hold. Expected one of {', '.join(_NUMPY_DTYPES)}."
            )

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of this tensor (``object`` for BYTES)."""
        return _NUMPY_DTYPES[self.datatype]

    def __str__(self) -> str:
        return f"{self.name} {self.datatype} {list(self.shape)}"


@dataclass(frozen=True)
class ServingSignature:
    """A model's inputs and outputs, in order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    """The numpy dtype of a Triton datatype name such as ``FP32``.

    Example:
        >>> numpy_dtype("FP32")
        dtype('float32')
    """
    try:
        return _NUMPY_DTYPES[datatype]
    except KeyError:
        raise ConfigError(
            f"Unknown Triton datatype {datatype!r}. Expected one of {', '.join(_NUMPY_DTYPES)}."
        ) from None


def _config_datatype(data_type: int) -> str:
    return config_datatype(data_type_name(data_type))


def signature_from_config(config: ModelConfig) -> ServingSignature:
    """The signature Triton reports for a config: batch dim ``-1`` first when batching.

    Example:
        >>> signature_from_config(parse_config(text)).inputs[0]  # doctest: +SKIP
        TensorSpec(name='x', datatype='FP32', shape=(-1, 4))
    """
    batch: tuple[int, ...] = (-1,) if config.max_batch_size > 0 else ()

    def spec(tensor: Any) -> TensorSpec:
        return TensorSpec(
            tensor.name, _config_datatype(tensor.data_type), batch + tuple(tensor.dims)
        )

    return ServingSignature(
        inputs=tuple(spec(t) for t in config.input), outputs=tuple(spec(t) for t in config.output)
    )


def signature_from_metadata(metadata: Mapping[str, Any]) -> ServingSignature:
    """The signature in a server's model metadata (``client.model_metadata``)."""

    def specs(key: str) -> tuple[TensorSpec, ...]:
        return tuple(
            TensorSpec(str(t["name"]), str(t["datatype"]), tuple(int(d) for d in t["shape"]))
            for t in metadata.get(key, [])
        )

    return ServingSignature(inputs=specs("inputs"), outputs=specs("outputs"))


def compare_signatures(expected: ServingSignature, served: ServingSignature) -> list[str]:
    """The differences between two signatures, one readable line each (empty: equal)."""
    problems: list[str] = []
    for kind, want, got in (
        ("input", expected.inputs, served.inputs),
        ("output", expected.outputs, served.outputs),
    ):
        want_by_name = {t.name: t for t in want}
        got_by_name = {t.name: t for t in got}
        for name in sorted(want_by_name.keys() - got_by_name.keys()):
            problems.append(f"{kind} {name!r} is in the config but not served")
        for name in sorted(got_by_name.keys() - want_by_name.keys()):
            problems.append(f"{kind} {name!r} is served but not in the config")
        for name in sorted(want_by_name.keys() & got_by_name.keys()):
            if want_by_name[name] != got_by_name[name]:
                problems.append(
                    f"{kind} {name!r}: config says {want_by_name[name]}, "
                    f"server says {got_by_name[name]}"
                )
    return problems


def _shape_fits(shape: Sequence[int], spec_shape: Sequence[int]) -> bool:
    return len(shape) == len(spec_shape) and all(
        want == -1 or want == got for got, want in zip(shape, spec_shape, strict=True)
    )


def check_arrays(
    arrays: Mapping[str, NDArray[Any]], specs: Sequence[TensorSpec], what: str
) -> list[str]:
    """Why ``arrays`` cannot be sent as (or compared with) ``specs``; empty when they fit.

    Args:
        arrays: tensors by name.
        specs: the signature's inputs (or outputs).
        what: names the arrays' source in the messages, e.g. "golden.npz inputs".
    """
    problems: list[str] = []
    want = {s.name: s for s in specs}
    missing = sorted(want.keys() - arrays.keys())
    extra = sorted(arrays.keys() - want.keys())
    if missing:
        problems.append(f"{what} lack {', '.join(map(repr, missing))}")
    if extra:
        problems.append(
            f"{what} have {', '.join(map(repr, extra))}, which the model does not have "
            f"(it has {', '.join(map(repr, want))})"
        )
    for name in sorted(want.keys() & arrays.keys()):
        spec, array = want[name], arrays[name]
        if not _dtype_fits(array.dtype, spec):
            problems.append(
                f"{what}: {name!r} has dtype {array.dtype}, the model expects "
                f"{spec.datatype} ({spec.dtype})"
            )
        if not _shape_fits(array.shape, spec.shape):
            problems.append(
                f"{what}: {name!r} has shape {list(array.shape)}, the model expects "
                f"{list(spec.shape)} (-1: any size)"
            )
    return problems


def _dtype_fits(dtype: np.dtype[Any], spec: TensorSpec) -> bool:
    if spec.datatype == "BYTES":
        return dtype.kind in ("O", "S", "U")
    return dtype == spec.dtype


def load_tensor_file(path: Path, inputs: Sequence[TensorSpec]) -> dict[str, NDArray[Any]]:
    """Read request inputs from ``.npy``, ``.npz`` or ``.json`` and check them.

    * ``.npy``: one array, for a model with exactly one input.
    * ``.npz``: one array per input name (``inputs/<name>`` keys, as in golden.npz, work too).
    * ``.json``: ``{"<input>": nested lists}``; values take the input's datatype.

    Raises:
        ConfigError: the file cannot be read, or its tensors do not fit ``inputs``
            (names, dtypes, shapes), with every difference named.

    Example:
        >>> load_tensor_file(Path("digit.npy"), signature.inputs)  # doctest: +SKIP
        {'input': array([[[[0., ...]]]], dtype=float32)}
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            arrays = _from_npy(path, inputs)
        elif suffix == ".npz":
            loaded = npz.read(path, "tensors from")
            arrays = {k.removeprefix(INPUT_PREFIX): v for k, v in loaded.items()}
            arrays = {k: v for k, v in arrays.items() if not k.startswith(OUTPUT_PREFIX)}
        elif suffix == ".json":
            arrays = _from_json(path, inputs)
        else:
            raise ConfigError(
                f"{path}: unknown input file type {suffix or '(none)'!r}. "
                "Expected .npy (one input), .npz (one array per input) or .json."
            )
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(
            f"Cannot read tensors from {path}: {exc}. Check the file and its type ({suffix})."
        ) from exc
    problems = check_arrays(arrays, inputs, f"The tensors in {path}")
    if problems:
        expected = "; ".join(str(s) for s in inputs)
        raise ConfigError(
            f"{path} does not fit the model's inputs: {'; '.join(problems)}. Expected: {expected}."
        )
    return arrays


def _from_npy(path: Path, inputs: Sequence[TensorSpec]) -> dict[str, NDArray[Any]]:
    if len(inputs) != 1:
        raise ConfigError(
            f"{path} holds one array but the model has {len(inputs)} inputs "
            f"({', '.join(s.name for s in inputs)}). Use an .npz or .json file keyed by name."
        )
    (array,) = npz.read(path, "tensors from").values()
    return {inputs[0].name: array}


def _from_json(path: Path, inputs: Sequence[TensorSpec]) -> dict[str, NDArray[Any]]:
    body = json.loads(path.read_text())
    if not isinstance(body, dict):
        raise ConfigError(
            f"{path} holds a JSON {type(body).__name__}; expected an object "
            '{"<input name>": [nested lists], ...}.'
        )
    specs = {s.name: s for s in inputs}
    arrays: dict[str, NDArray[Any]] = {}
    for name, value in body.items():
        spec = specs.get(name)
        if spec is None:
            arrays[name] = np.asarray(value)  # reported as an unknown input by the check
            continue
        arrays[name] = _json_array(path, name, value, spec)
    return arrays


def _json_array(path: Path, name: str, value: Any, spec: TensorSpec) -> NDArray[Any]:
    if spec.datatype == "BYTES":
        encoded: NDArray[Any] = np.vectorize(lambda v: str(v).encode("utf-8"), otypes=[object])(
            np.asarray(value, dtype=object)
        )
        return encoded
    raw = np.asarray(value)
    if raw.dtype.kind not in "biuf":
        raise ConfigError(
            f"{path}: input {name!r} holds {raw.dtype} values; the model expects numbers "
            f"({spec.datatype})."
        )
    array = raw.astype(spec.dtype)
    if spec.dtype.kind in "biu" and not np.array_equal(array, raw):
        raise ConfigError(
            f"{path}: input {name!r} has values that {spec.datatype} cannot hold exactly "
            f"(e.g. fractions); the model expects {spec.datatype}."
        )
    return array
