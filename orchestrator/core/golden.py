"""Golden data: a few real inputs with their expected outputs, stored beside each version.

Every published version folder holds ``golden.npz`` (``<repo>/<model>/<version>/golden.npz``)
with one array per tensor under the keys ``inputs/<name>`` and ``outputs/<name>``. Training
writes it from held-out data and the exported model's ONNX Runtime outputs; smoke tests
send the inputs to Triton and compare the answers with the outputs.

The comparison tolerance is ``rtol 1e-3`` / ``atol 1e-5`` (numpy's ``isclose`` rule:
``|served - expected| <= atol + rtol * |expected|``). A model may set its own in its
config.pbtxt, so the tolerance travels with the model into every release::

    parameters { key: "smoke_rtol" value { string_value: "1e-2" } }
    parameters { key: "smoke_atol" value { string_value: "1e-4" } }

Triton hands config parameters to the backend, and the onnxruntime backend ignores keys
it does not know.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.core import untrusted
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.model_config import ModelConfig
from orchestrator.errors import ConfigError, SmokeTestError, UnsafeFileError

if TYPE_CHECKING:
    from numpy.typing import NDArray

# numpy (and core.npz, which imports it) is imported where arrays are made, not here:
# validate and sync import this module for its names and tolerances, and a numpy import
# costs them more than the rest of their start (benchmarks/startup.py).

__all__ = [
    "DEFAULT_TOLERANCE",
    "GOLDEN_FACT",
    "GOLDEN_FILENAME",
    "INPUT_PREFIX",
    "OUTPUT_PREFIX",
    "Golden",
    "Mismatch",
    "Tolerance",
    "check_golden",
    "compare_outputs",
    "golden_path",
    "parse_golden",
    "read_golden",
    "tolerance_for",
    "write_golden",
]

logger = logging.getLogger(__name__)

GOLDEN_FILENAME = "golden.npz"
# The golden.npz key scheme: "inputs/<tensor>" and "outputs/<tensor>".
INPUT_PREFIX = "inputs/"
OUTPUT_PREFIX = "outputs/"
RTOL_PARAMETER = "smoke_rtol"
ATOL_PARAMETER = "smoke_atol"
MAX_RTOL = 1.0
"""A relative tolerance over 100% checks nothing (the startup probe has the same limit)."""
MAX_ATOL = 1e6
"""An absolute tolerance beyond any output a model computes in float32 ranges is no check."""
GOLDEN_FACT = "golden-readable/1"
"""The digest cache's name for "this content passed ``parse_golden``" (``check_golden``)."""


@dataclass(frozen=True)
class Tolerance:
    """How far a served float may be from the golden one: ``atol + rtol * |expected|``."""

    rtol: float = 1e-3
    atol: float = 1e-5

    def __post_init__(self) -> None:
        for name, most in (("rtol", MAX_RTOL), ("atol", MAX_ATOL)):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= most:
                raise ConfigError(
                    f"Smoke tolerance {name} is {value}; expected a number from 0 to {most:g} "
                    "(a larger one would turn the golden check off)."
                )

    def __str__(self) -> str:
        return f"rtol {self.rtol:g}, atol {self.atol:g}"


DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class Golden:
    """Inputs by tensor name, and the outputs they must produce."""

    inputs: dict[str, NDArray[Any]]
    outputs: dict[str, NDArray[Any]]

    @property
    def batch_size(self) -> int:
        """The number of samples (the leading dimension of the first input)."""
        first = next(iter(self.inputs.values()))
        return int(first.shape[0]) if first.ndim else 1


@dataclass(frozen=True)
class Mismatch:
    """The single worst element of one output, and how far over the tolerance it is."""

    output: str
    index: tuple[int, ...]
    served: Any
    expected: Any
    abs_error: float
    allowed: float

    @property
    def excess(self) -> float:
        """``abs_error / allowed``: above 1 fails; ``inf`` for exact types that differ."""
        if self.abs_error == 0:
            return 0.0
        return self.abs_error / self.allowed if self.allowed > 0 else math.inf

    def __str__(self) -> str:
        where = f"{self.output!r}{list(self.index)}"
        if math.isinf(self.excess) and self.allowed == 0:
            return f"output {where} is {self.served!r}, expected {self.expected!r} (exact match)"
        return (
            f"output {where} is {self.served!r}, expected {self.expected!r} "
            f"(abs error {self.abs_error:.3g} > allowed {self.allowed:.3g})"
        )


def golden_path(version_folder: Path) -> Path:
    """Where a version's golden data lives: ``<version folder>/golden.npz``."""
    return version_folder / GOLDEN_FILENAME


def write_golden(
    path: Path, inputs: Mapping[str, NDArray[Any]], outputs: Mapping[str, NDArray[Any]]
) -> Path:
    """Write a golden file with ``inputs/<name>`` and ``outputs/<name>`` keys.

    Example:
        >>> write_golden(Path("golden.npz"), {"x": x}, {"y": model(x)})  # doctest: +SKIP
    """
    arrays = {f"{INPUT_PREFIX}{k}": _storable(v) for k, v in inputs.items()}
    arrays.update({f"{OUTPUT_PREFIX}{k}": _storable(v) for k, v in outputs.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    import numpy as np

    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def _storable(value: Any) -> NDArray[Any]:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in ("O", "U"):
        items = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in array.ravel()]
        return np.array(items, dtype=np.bytes_).reshape(array.shape)
    return array


def _loaded(array: NDArray[Any]) -> NDArray[Any]:
    import numpy as np

    if array.dtype.kind == "S":
        return np.array(list(array.ravel()), dtype=object).reshape(array.shape)
    return array


def read_golden(path: Path, *, within: Path | None = None) -> Golden:
    """Read a golden file.

    The file is read under the untrusted-input rule (``core.untrusted``): a regular
    file, not a link, of ``GOLDEN_MAX_BYTES`` at most (on disk and uncompressed), inside
    ``within`` when given; then as ``parse_golden``.

    Raises:
        SmokeTestError: the file is missing, unreadable, or lacks inputs or outputs.

    Example:
        >>> golden = read_golden(Path("model_repository/digits_cnn/1/golden.npz"))  # doctest: +SKIP
        >>> golden.batch_size  # doctest: +SKIP
        16
    """
    try:
        return parse_golden(_golden_bytes(path, within), path)
    except (ConfigError, UnsafeFileError) as exc:
        raise SmokeTestError(str(exc)) from exc


def check_golden(
    path: Path, *, within: Path | None = None, digests: DigestCache | None = None
) -> None:
    """Raise what ``read_golden`` would raise for ``path``; return when it would read it.

    With ``digests`` (the repository's digest cache), a file whose stat is unchanged since
    its content passed is checked by the untrusted-input rule but not read or parsed
    again (nor is numpy imported); a file that passes is remembered by the sha256 of the
    bytes parsed.

    Raises:
        SmokeTestError: as ``read_golden``.

    Example:
        >>> check_golden(Path("model_repository/digits_cnn/1/golden.npz"))  # doctest: +SKIP
    """
    try:
        root, relative = untrusted.split(path, within)
        if digests is not None and (
            digests.recall_unchanged(
                root, relative, GOLDEN_FACT, max_bytes=untrusted.GOLDEN_MAX_BYTES
            )
            is True
        ):
            return
        raw = _golden_bytes(path, within)
        parse_golden(raw, path)
    except (ConfigError, UnsafeFileError) as exc:
        raise SmokeTestError(str(exc)) from exc
    if digests is not None:
        digests.remember(GOLDEN_FACT, hashlib.sha256(raw).hexdigest(), True)


def _golden_bytes(path: Path, within: Path | None) -> bytes:
    root, relative = untrusted.split(path, within)
    if untrusted.kind_of(root, relative) is None:
        raise SmokeTestError(
            f"No golden data at {path}. Every served version needs its golden.npz to be "
            "smoke-tested: republish the version from an export bundle that has one."
        )
    return untrusted.read_bytes(root, relative, max_bytes=untrusted.GOLDEN_MAX_BYTES)


def parse_golden(raw: bytes, source: Path | str = "<golden>") -> Golden:
    """Parse the bytes of a golden file: an npz read without pickles, inputs and outputs.

    Every array's header is read and checked against ``GOLDEN_MAX_BYTES`` and
    ``GOLDEN_MAX_ELEMENTS`` before anything is decompressed or allocated (``core.npz``),
    so a small archive cannot expand into memory without bound.

    Raises:
        ConfigError: not an npz archive, a pickled or oversized array, or no inputs or
            no outputs.

    Example:
        >>> parse_golden(Path("golden.npz").read_bytes(), "golden.npz").batch_size  # doctest: +SKIP
        16
    """
    # No pickles: a golden file is data, never code. Every header is checked against the
    # limits before numpy allocates (core.npz). BYTES tensors are stored as fixed-width
    # byte strings (trailing NUL bytes are not kept) and come back as the object arrays
    # Triton uses.
    from orchestrator.core import npz

    arrays = {key: _loaded(array) for key, array in npz.load(raw, source).items()}
    inputs = {
        k.removeprefix(INPUT_PREFIX): v for k, v in arrays.items() if k.startswith(INPUT_PREFIX)
    }
    outputs = {
        k.removeprefix(OUTPUT_PREFIX): v for k, v in arrays.items() if k.startswith(OUTPUT_PREFIX)
    }
    if not inputs or not outputs:
        raise ConfigError(
            f"Golden data {source} has keys {sorted(arrays)}; expected at least one "
            "inputs/<tensor> and one outputs/<tensor> array."
        )
    return Golden(inputs=inputs, outputs=outputs)


def tolerance_for(config: ModelConfig, default: Tolerance = DEFAULT_TOLERANCE) -> Tolerance:
    """The model's own tolerance (``smoke_rtol``/``smoke_atol`` parameters) or ``default``.

    Raises:
        ConfigError: a parameter is not a non-negative number.
    """
    values = {"rtol": default.rtol, "atol": default.atol}
    for key, field in ((RTOL_PARAMETER, "rtol"), (ATOL_PARAMETER, "atol")):
        if key in config.parameters:
            text = config.parameters[key].string_value
            try:
                values[field] = float(text[:64])
            except ValueError:
                raise ConfigError(
                    f"Model {config.name!r}: parameter {key} is {text[:64]!r}; expected a "
                    'number such as "1e-3".'
                ) from None
    try:
        return Tolerance(**values)
    except ConfigError as exc:
        raise ConfigError(
            f"Model {config.name!r}: {exc} Set parameters {RTOL_PARAMETER} / "
            f'{ATOL_PARAMETER} in its config.pbtxt to a number such as "1e-3".'
        ) from None


def compare_outputs(
    served: Mapping[str, NDArray[Any]],
    expected: Mapping[str, NDArray[Any]],
    tolerance: Tolerance,
) -> tuple[float, Mismatch | None, list[str]]:
    """Compare served outputs with golden ones.

    Returns:
        The largest absolute error over all float outputs, the worst element when any
        element is off (else None), and structural problems (a missing output, a shape
        that differs), one line each.

    Example:
        >>> compare_outputs({"y": np.ones(2)}, {"y": np.ones(2)}, Tolerance())
        (0.0, None, [])
    """
    max_error = 0.0
    worst: Mismatch | None = None
    problems: list[str] = []
    for name, want in expected.items():
        got = served.get(name)
        if got is None:
            problems.append(f"output {name!r} is missing from the answer (got {sorted(served)})")
            continue
        if got.shape != want.shape:
            problems.append(
                f"output {name!r} has shape {list(got.shape)}, golden has {list(want.shape)}"
            )
            continue
        if got.size == 0:
            continue
        error, candidate = _compare_one(name, got, want, tolerance)
        max_error = max(max_error, error)
        if (
            candidate is not None
            and candidate.excess > 1
            and (worst is None or candidate.excess > worst.excess)
        ):
            worst = candidate
    return max_error, worst, problems


def _compare_one(
    name: str, got: NDArray[Any], want: NDArray[Any], tolerance: Tolerance
) -> tuple[float, Mismatch | None]:
    import numpy as np

    if want.dtype.kind in "fc" or got.dtype.kind in "fc":
        got_f = got.astype(np.float64)
        want_f = want.astype(np.float64)
        both_nan = np.isnan(got_f) & np.isnan(want_f)
        error = np.where(both_nan, 0.0, np.abs(got_f - want_f))
        error = np.where(np.isnan(error), np.inf, error)
        allowed = tolerance.atol + tolerance.rtol * np.abs(np.nan_to_num(want_f))
        excess = np.where(error == 0, 0.0, error / np.where(allowed > 0, allowed, np.inf))
        excess = np.where((error > 0) & (allowed == 0), np.inf, excess)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
        return float(np.max(error)), Mismatch(
            name,
            index,
            got[index].item(),
            want[index].item(),
            float(error[index]),
            float(allowed[index]),
        )
    same = np.vectorize(_same_value, otypes=[bool])(got, want)
    if bool(np.all(same)):
        return 0.0, None
    index = tuple(int(i) for i in np.argwhere(~same)[0])
    return 0.0, Mismatch(name, index, got[index], want[index], math.inf, 0.0)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return bool(a == b)
