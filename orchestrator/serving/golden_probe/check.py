"""Compare and probe: every served version must answer its golden inputs as recorded.

- The rule is ``orchestrator.core.golden``'s: ``|served - expected| <= atol + rtol *
  |expected|``, NaN equal to NaN, other types exactly.
- A model's own ``smoke_rtol`` / ``smoke_atol`` config parameters come from Triton's
  ``GET /v2/models/<m>/config`` JSON.
- ``probe`` is the post-rollout smoke of a release's files; ``probe_served`` the
  startup probe's run, which may resume where an earlier run stopped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import ProbeError
from .npz import read_npz
from .resume import Resume
from .tensor import Tensor
from .wire import TritonHttp, infer, served_versions

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "MAX_ATOL",
    "MAX_RTOL",
    "ProbeReport",
    "probe",
    "probe_served",
    "release_models",
]

logger = logging.getLogger(__name__)

# orchestrator.core.golden.DEFAULT_TOLERANCE (a test keeps the two equal).
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-5
MAX_RTOL = 1.0  # orchestrator.core.golden.MAX_RTOL / MAX_ATOL
MAX_ATOL = 1e6


@dataclass(frozen=True)
class ProbeReport:
    """What the probe checked ("model/version") and why it failed (one line each)."""

    ok: bool
    checked: tuple[str, ...]
    failures: tuple[str, ...]


def _tolerance(config: Any) -> tuple[float, float]:
    values = {"smoke_rtol": DEFAULT_RTOL, "smoke_atol": DEFAULT_ATOL}
    parameters = config.get("parameters") if isinstance(config, dict) else None
    for key in values:
        entry = parameters.get(key) if isinstance(parameters, dict) else None
        if entry is None:
            continue
        text = entry.get("string_value") if isinstance(entry, dict) else None
        try:
            value = float(str(text)[:64])
        except ValueError:
            raise ProbeError(f"parameter {key} is {text!r}; expected a number") from None
        most = MAX_RTOL if key == "smoke_rtol" else MAX_ATOL
        if not math.isfinite(value) or not 0 <= value <= most:
            raise ProbeError(f"parameter {key} is {text!r}; expected a number from 0 to {most:g}")
        values[key] = value
    return values["smoke_rtol"], values["smoke_atol"]


def _compare(
    name: str, got: Tensor, want: Tensor, rtol: float, atol: float, deadline: float = math.inf
) -> str | None:
    if got.shape != want.shape:
        return f"output {name!r} has shape {list(got.shape)}, golden has {list(want.shape)}"
    if len(got.values) != len(want.values):
        return f"output {name!r} has {len(got.values)} values for shape {list(got.shape)}"
    if (got.datatype == "BYTES") != (want.datatype == "BYTES"):
        return f"output {name!r} is {got.datatype}, golden is {want.datatype}"
    if got.is_float or want.is_float:
        worst: tuple[float, int, float] | None = None  # (excess, index, error)
        for index, (a, b) in enumerate(zip(got.values, want.values, strict=True)):
            if index % 65536 == 0 and time.monotonic() > deadline:
                raise ProbeError(f"ran out of time comparing output {name!r}")
            a, b = float(a), float(b)
            if math.isnan(a) and math.isnan(b):
                continue
            error = abs(a - b)
            error = math.inf if math.isnan(error) else error
            allowed = atol + rtol * abs(0.0 if math.isnan(b) else b)
            if error > allowed and (worst is None or error - allowed > worst[0]):
                worst = (error - allowed, index, error)
        if worst is None:
            return None
        _, index, error = worst
        return (
            f"output {name!r}[{index}] is {got.values[index]!r}, expected "
            f"{want.values[index]!r} (abs error {error:.3g}, rtol {rtol:g}, atol {atol:g})"
        )
    for index, (a, b) in enumerate(zip(got.values, want.values, strict=True)):
        if a != b:
            return f"output {name!r}[{index}] is {a!r}, expected {b!r} (exact match)"
    return None


def _check_version(http: TritonHttp, version_dir: Path, model: str, version: str) -> list[str]:
    arrays = read_npz(version_dir / "golden.npz", deadline=http.deadline)
    inputs = {k.removeprefix("inputs/"): v for k, v in arrays.items() if k.startswith("inputs/")}
    expected = {
        k.removeprefix("outputs/"): v for k, v in arrays.items() if k.startswith("outputs/")
    }
    if not inputs or not expected:
        raise ProbeError(f"golden.npz has keys {sorted(arrays)}; needs inputs/ and outputs/")
    rtol, atol = _tolerance(http.json("GET", f"/v2/models/{quote(model)}/config"))
    served = infer(http, model, version, inputs)
    problems = []
    for name, want in expected.items():
        if name not in served:
            problems.append(f"output {name!r} is missing from the answer (got {sorted(served)})")
            continue
        problem = _compare(name, served[name], want, rtol, atol, http.deadline)
        if problem:
            problems.append(problem)
    return problems


def probe(url: str, repository: Path, *, timeout_s: float) -> ProbeReport:
    """Check the served versions of ``repository``'s models against their golden data.

    This is the post-rollout smoke: ``repository`` holds a release's files
    (``<model>/<version>/golden.npz``). Every model in it must be served, and every
    version Triton serves of those models must answer its golden inputs. Models Triton
    serves that the release does not hold are not checked (a shared server); in a pod,
    the startup probe (``main`` without ``--repository``) checks every served model.

    Args:
        url: Triton's HTTP ``host:port``.
        repository: the release's files.
        timeout_s: the whole budget, including the wait until the models are ready.

    Returns:
        A report; ``ok`` only when at least one version was checked and none failed.

    Example:
        >>> probe("127.0.0.1:8000", Path("/tmp/release"), timeout_s=30).ok  # doctest: +SKIP
        True
    """
    wanted = release_models(repository)
    if isinstance(wanted, str):
        return ProbeReport(False, (), (wanted,))
    return probe_served(url, lambda model: repository / model, timeout_s, wanted)


def release_models(repository: Path) -> set[str] | str:
    """The model folders of a release's files, or why there are none."""
    try:
        wanted = {p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")}
    except OSError as exc:
        return f"cannot read {repository}: {exc.strerror}"
    return wanted or f"{repository} holds no model folder"


def probe_served(
    url: str,
    model_dir: Callable[[str], Path],
    timeout_s: float,
    wanted: set[str] | None,
    resume: Resume | None = None,
) -> ProbeReport:
    """Check the versions Triton at ``url`` serves (of ``wanted``, or all when None).

    ``model_dir`` says where a model's files are; with ``resume``, versions that passed
    in an earlier run are not checked again, and versions left when ``timeout_s`` is
    spent are named for the next run. Never raises: every problem is a report line.
    """
    http = TritonHttp(url, time.monotonic() + timeout_s)
    checked: list[str] = []
    failures: list[str] = []
    try:
        http.wait_ready(sorted(wanted) if wanted is not None else None)
        served = served_versions(http)
    except ProbeError as exc:
        return ProbeReport(False, (), (str(exc),))
    if wanted is not None:
        missing = sorted(wanted - {model for model, _ in served})
        failures += [
            f"{model}: in the release but not served by Triton at {url}" for model in missing
        ]
        served = [(model, version) for model, version in served if model in wanted]
    if not served and not failures:
        failures.append(f"Triton at {url} serves no model version")
    left: list[str] = []
    for model, version in served:
        label = f"{model}/{version}"
        try:
            version_dir = model_dir(model) / version
        except ProbeError as exc:
            failures.append(f"{label}: {exc}")
            continue
        key = resume.key(label, version_dir) if resume else None
        if resume is not None and key in resume.passed:
            checked.append(label)  # passed in an earlier run of this container's probe
            continue
        if checked and time.monotonic() >= http.deadline:
            left.append(label)  # the next run resumes here
            continue
        checked.append(label)
        try:
            problems = _check_version(http, version_dir, model, version)
        except ProbeError as exc:
            problems = [str(exc)]
        if not problems and resume is not None and key is not None:
            resume.add(key)
        failures.extend(f"{label}: {p}" for p in problems)
    if left:
        failures.append(
            f"{len(left)} version(s) not checked yet ({', '.join(left[:5])}"
            f"{', ...' if len(left) > 5 else ''}): this run's {timeout_s:g} s are spent"
            + ("; the next run resumes with them" if resume else "")
        )
    logger.info("Golden probe of %s: %d checked, %d failed", url, len(checked), len(failures))
    return ProbeReport(not failures, tuple(checked), tuple(failures))
