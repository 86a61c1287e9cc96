"""The golden probe: does a Triton answer every version's golden inputs correctly?

placeholder: replaced by the k8s branch at merge.

This stand-in has the final signature (``probe(url, repository, *, timeout_s)`` ->
``ProbeReport``) and is built on ``smoke``: it waits for the server to answer, then
checks, over HTTP, every version folder of ``repository`` that holds ``golden.npz``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator import client
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.repository.layout import model_names, version_numbers
from orchestrator.serving.smoke import smoke_version

__all__ = ["ProbeReport", "probe"]

logger = logging.getLogger(__name__)

_POLL_S = 0.5


@dataclass(frozen=True)
class ProbeReport:
    """What the probe checked (``model/version``) and what failed, one line each."""

    ok: bool
    checked: tuple[str, ...]
    failures: tuple[str, ...]


def probe(url: str, repository: Path, *, timeout_s: float) -> ProbeReport:
    """Check every version of ``repository`` with golden data against the Triton at ``url``.

    Example:
        >>> probe("127.0.0.1:8000", Path("/tmp/release"), timeout_s=60).ok  # doctest: +SKIP
        True
    """
    deadline = time.monotonic() + timeout_s
    while not client.is_server_live(url):
        if time.monotonic() > deadline:
            return ProbeReport(False, (), (f"no Triton answered at {url} within {timeout_s:g} s",))
        time.sleep(_POLL_S)
    endpoints = Endpoints.from_urls(url)
    checked: list[str] = []
    failures: list[str] = []
    for model in model_names(repository):
        for version in version_numbers(repository / model):
            if not (repository / model / str(version) / GOLDEN_FILENAME).is_file():
                continue
            checked.append(f"{model}/{version}")
            report = smoke_version(endpoints, repository, model, version, protocols=("http",))
            failures += [result.describe() for result in report.failures]
    if not checked:
        failures.append(f"{repository} holds no version with {GOLDEN_FILENAME}")
    logger.info("Golden probe of %s: %d checked, %d failed", url, len(checked), len(failures))
    return ProbeReport(not failures, tuple(checked), tuple(failures))
