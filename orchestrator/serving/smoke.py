"""Smoke tests: every served version answers its own golden data correctly, per protocol.

For each served model version and each protocol (HTTP, gRPC) a smoke test

1. checks that the server's model metadata (input and output names, datatypes, shapes)
   matches the repository's config.pbtxt,
2. checks that the version's ``golden.npz`` fits those inputs,
3. sends the golden inputs, pinned to that version (in chunks of ``max_batch_size``),
4. compares the answers with the golden outputs (see ``orchestrator.core.golden`` for the
   tolerance and its per-model override).

Every check gives one ``SmokeResult``; nothing stops at the first failure, so one run
shows everything that is off. ``SmokeReport.raise_for_failures()`` then names the worst.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orchestrator import client
from orchestrator.client import Transport
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import (
    DEFAULT_TOLERANCE,
    Golden,
    Mismatch,
    Tolerance,
    compare_outputs,
    golden_path,
    read_golden,
    tolerance_for,
)
from orchestrator.core.model_config import CONFIG_FILENAME, ModelConfig, load_config
from orchestrator.core.tensors import (
    check_arrays,
    compare_signatures,
    signature_from_config,
    signature_from_metadata,
)
from orchestrator.errors import OrchestratorError, ServerError, SmokeTestError
from orchestrator.repository.layout import version_dir

__all__ = [
    "PROTOCOLS",
    "SmokeReport",
    "check_reachable",
    "SmokeResult",
    "smoke",
    "smoke_version",
]

logger = logging.getLogger(__name__)

PROTOCOLS: tuple[Transport, ...] = ("http", "grpc")


@dataclass(frozen=True)
class SmokeResult:
    """One model version checked over one protocol."""

    model: str
    version: str
    protocol: str
    max_abs_error: float | None = None
    latency_ms: float | None = None
    problems: tuple[str, ...] = ()
    worst: Mismatch | None = None

    @property
    def ok(self) -> bool:
        """Whether the metadata matched and every output was within tolerance."""
        return not self.problems and self.worst is None

    @property
    def severity(self) -> float:
        """How bad the failure is: ``inf`` for errors, the worst excess for mismatches."""
        if self.problems:
            return math.inf
        return self.worst.excess if self.worst is not None else 0.0

    def describe(self) -> str:
        """One line: where, and what is off."""
        where = f"{self.model} version {self.version} over {self.protocol}"
        if self.ok:
            return f"{where}: ok"
        details = list(self.problems)
        if self.worst is not None:
            details.append(str(self.worst))
        return f"{where}: {'; '.join(details)}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the check, its latency in ms to 3 decimals, the worst as text."""
        return {
            "model": self.model,
            "version": self.version,
            "protocol": self.protocol,
            "ok": self.ok,
            "max_abs_error": self.max_abs_error,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "problems": list(self.problems),
            "worst": None if self.worst is None else str(self.worst),
        }


@dataclass(frozen=True)
class SmokeReport:
    """Every smoke check of one run."""

    results: tuple[SmokeResult, ...]
    tolerances: dict[str, Tolerance] = field(default_factory=dict)

    @property
    def failures(self) -> tuple[SmokeResult, ...]:
        """The checks that failed, worst first."""
        failed = [r for r in self.results if not r.ok]
        return tuple(sorted(failed, key=lambda r: r.severity, reverse=True))

    @property
    def ok(self) -> bool:
        """Whether there was at least one check and all of them passed."""
        return bool(self.results) and not self.failures

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``ok``, every check, and the tolerance of each model."""
        return {
            "ok": self.ok,
            "results": [result.as_dict() for result in self.results],
            "tolerances": {
                model: {"rtol": t.rtol, "atol": t.atol} for model, t in self.tolerances.items()
            },
        }

    def raise_for_failures(self) -> None:
        """Raise a ``SmokeTestError`` naming the worst failure, if anything failed.

        Raises:
            SmokeTestError: a check failed, or there was nothing to check.
        """
        if not self.results:
            raise SmokeTestError(
                "Nothing was smoke-tested: no model version is served. Load a model first "
                "(`orchestrator serve`), or check --model."
            )
        failures = self.failures
        if failures:
            raise SmokeTestError(
                f"{len(failures)} of {len(self.results)} smoke check(s) failed. Worst: "
                f"{failures[0].describe()}."
            )


def smoke(
    endpoints: Endpoints,
    repository: Path,
    *,
    models: Iterable[str] | None = None,
    protocols: Sequence[Transport] = PROTOCOLS,
    default_tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> SmokeReport:
    """Smoke-test every served version of ``models`` (all served models when None).

    Args:
        endpoints: the server.
        repository: the local copy of what the server serves (configs and golden data).
        models: the models to check; each must be served.
        protocols: "http", "grpc" or both.
        default_tolerance: for models whose config sets no ``smoke_rtol``/``smoke_atol``.

    Returns:
        One result per (model, version, protocol); failures are results, not raised.

    Raises:
        ServerError: the server cannot be reached over one of ``protocols``.

    Example:
        >>> endpoints = Endpoints.from_urls("127.0.0.1:8000")
        >>> smoke(endpoints, Path("model_repository")).ok  # doctest: +SKIP
        True
    """
    check_reachable(endpoints, protocols)
    index = client.repository_index(endpoints.http_url)
    ready: dict[str, list[str]] = {}
    for row in index:
        if row.state == "READY":
            ready.setdefault(row.name, []).append(row.version)
    wanted = sorted(set(models)) if models is not None else sorted(ready)
    results: list[SmokeResult] = []
    tolerances: dict[str, Tolerance] = {}
    for model in wanted:
        if model not in ready:
            known = sorted({row.name for row in index})
            results.append(
                SmokeResult(
                    model,
                    "-",
                    "-",
                    problems=(
                        f"model {model!r} is not served (READY) at {endpoints.http_url}; "
                        f"served: {', '.join(sorted(ready)) or 'none'}; in its repository: "
                        f"{', '.join(known) or 'none'}",
                    ),
                )
            )
            continue
        for version in sorted(ready[model], key=int):
            report = smoke_version(
                endpoints,
                repository,
                model,
                int(version),
                protocols=protocols,
                default_tolerance=default_tolerance,
            )
            results.extend(report.results)
            tolerances.update(report.tolerances)
    return SmokeReport(tuple(results), tolerances)


def smoke_version(
    endpoints: Endpoints,
    repository: Path,
    model: str,
    version: int,
    *,
    protocols: Sequence[Transport] = PROTOCOLS,
    default_tolerance: Tolerance = DEFAULT_TOLERANCE,
) -> SmokeReport:
    """Smoke-test one version of ``model``, pinned by version number.

    Example:
        >>> smoke_version(endpoints, Path("model_repository"), "digits_cnn", 2).ok  # doctest: +SKIP
        True
    """
    try:
        config = load_config(repository / model / CONFIG_FILENAME)
        tolerance = tolerance_for(config, default_tolerance)
        golden = read_golden(golden_path(version_dir(repository, model, version)))
    except OrchestratorError as exc:
        return SmokeReport(
            tuple(SmokeResult(model, str(version), p, problems=(str(exc),)) for p in protocols)
        )
    results = tuple(
        _check(endpoints, protocol, model, version, config, golden, tolerance)
        for protocol in protocols
    )
    return SmokeReport(results, {model: tolerance})


def check_reachable(endpoints: Endpoints, protocols: Sequence[Transport]) -> None:
    """Raise a ``ServerError`` naming the first protocol on which no Triton answers.

    Example:
        >>> check_reachable(Endpoints.from_urls("127.0.0.1:8000"), PROTOCOLS)  # doctest: +SKIP
    """
    for protocol in protocols:
        url = endpoints.url(protocol)
        if not client.is_server_live(url, protocol=protocol):
            raise ServerError(
                f"No Triton answers {protocol.upper()} at {url}. Check that the server "
                f"runs and that the URL is its {protocol.upper()} HOST:PORT"
                + (
                    " (--grpc-url; the default is the HTTP port + 1)."
                    if protocol == "grpc"
                    else "."
                )
            )


def _check(
    endpoints: Endpoints,
    protocol: Transport,
    model: str,
    version: int,
    config: ModelConfig,
    golden: Golden,
    tolerance: Tolerance,
) -> SmokeResult:
    url = endpoints.url(protocol)
    result = SmokeResult(model, str(version), protocol)
    expected = signature_from_config(config)
    try:
        metadata = client.model_metadata(url, model, str(version), protocol=protocol)
    except ServerError as exc:
        return _with(result, problems=(f"cannot read the model metadata: {exc}",))
    problems = [
        f"metadata differs from {model}/{CONFIG_FILENAME}: {p}"
        for p in compare_signatures(expected, signature_from_metadata(metadata))
    ]
    problems += check_arrays(golden.inputs, expected.inputs, "golden.npz inputs")
    problems += check_arrays(golden.outputs, expected.outputs, "golden.npz outputs")
    if problems:
        return _with(result, problems=tuple(problems))
    try:
        served, latencies_ms = _infer_in_chunks(url, protocol, model, version, config, golden)
    except ServerError as exc:
        return _with(result, problems=(str(exc),))
    max_error, worst, structure = compare_outputs(served, golden.outputs, tolerance)
    logger.info(
        "Smoke %s v%d over %s: max abs error %.3g, %s",
        model,
        version,
        protocol,
        max_error,
        "ok" if worst is None and not structure else "FAILED",
    )
    return _with(
        result,
        max_abs_error=max_error,
        latency_ms=statistics.median(latencies_ms),
        problems=tuple(structure),
        worst=worst,
    )


def _with(result: SmokeResult, **changes: Any) -> SmokeResult:
    return replace(result, **changes)


def _infer_in_chunks(
    url: str,
    protocol: Transport,
    model: str,
    version: int,
    config: ModelConfig,
    golden: Golden,
) -> tuple[dict[str, NDArray[Any]], list[float]]:
    if config.max_batch_size <= 0:
        chunks = [golden.inputs]
    else:
        size = config.max_batch_size
        total = golden.batch_size
        chunks = [
            {name: array[start : start + size] for name, array in golden.inputs.items()}
            for start in range(0, total, size)
        ]
    parts: dict[str, list[NDArray[Any]]] = {}
    latencies_ms: list[float] = []
    for chunk in chunks:
        started = time.perf_counter()
        outputs = client.infer(
            url,
            model,
            chunk,
            protocol=protocol,
            version=str(version),
            outputs=list(golden.outputs),
        )
        latencies_ms.append((time.perf_counter() - started) * 1000)
        for name, array in outputs.items():
            parts.setdefault(name, []).append(array)
    if config.max_batch_size <= 0:
        return {name: arrays[0] for name, arrays in parts.items()}, latencies_ms
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}, latencies_ms
