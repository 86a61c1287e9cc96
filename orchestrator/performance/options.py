"""What a bench run is asked to do: ``BenchOptions``, the engine, concurrency lists.

Below ``bench`` and ``perf_analyzer``, which both read these options (``bench`` picks
``perf_analyzer`` when it is installed), so neither has to import the other's caller.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchestrator.client import Protocol
from orchestrator.errors import ConfigError
from orchestrator.performance.report import STABLE_WINDOWS

__all__ = ["BenchOptions", "Engine", "parse_concurrency"]

logger = logging.getLogger(__name__)

Engine = Literal["auto", "orchestrator", "perf_analyzer"]


def parse_concurrency(text: str) -> tuple[int, ...]:
    """Parse a concurrency list such as ``1,2,4,8``.

    Raises:
        ConfigError: an item is not a positive integer.

    Example:
        >>> parse_concurrency("1, 4,16")
        (1, 4, 16)
    """
    levels = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise ConfigError(
                f"Concurrency {item!r} in {text!r} is not a positive integer. "
                "Expected a comma-separated list such as 1,2,4,8."
            )
        levels.append(int(item))
    return tuple(levels)


@dataclass(frozen=True)
class BenchOptions:
    """What to measure and how long.

    Attributes:
        url: the endpoint (HTTP or gRPC ``host:port``, matching ``protocol``).
        model: the served model.
        protocol: "http" or "grpc".
        concurrency: the levels, in the order they run.
        batch_size: rows per request (1 for models without batching).
        window_s: the length of one measurement window.
        warmup_s: load before the first window of every level, not measured.
        max_windows: give up waiting for stability after this many windows.
        stability_pct: how far three consecutive windows may differ.
        golden: an ``.npz`` with ``inputs/<tensor>`` arrays; random inputs when None.
        request_timeout_s: the deadline of one request.
    """

    url: str
    model: str
    protocol: Protocol = "http"
    concurrency: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    batch_size: int = 1
    window_s: float = 5.0
    warmup_s: float = 1.0
    max_windows: int = 10
    stability_pct: float = 10.0
    golden: Path | None = None
    request_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise ConfigError(f"Concurrency levels {self.concurrency} must be positive integers.")
        if self.batch_size < 1:
            raise ConfigError(f"Batch size {self.batch_size} must be at least 1.")
        if self.window_s <= 0 or self.warmup_s < 0 or self.request_timeout_s <= 0:
            raise ConfigError(
                f"window_s ({self.window_s}) and request_timeout_s must be positive and "
                f"warmup_s ({self.warmup_s}) not negative."
            )
        if self.max_windows < STABLE_WINDOWS:
            raise ConfigError(
                f"max_windows {self.max_windows} must be at least {STABLE_WINDOWS}: stability "
                f"needs {STABLE_WINDOWS} windows that agree."
            )
