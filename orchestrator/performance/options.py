"""What a bench run is asked to do: ``BenchOptions``, the engine, concurrency lists.

Below ``bench`` and ``perf_analyzer``, which both read these options (``bench`` picks
``perf_analyzer`` when it is installed), so neither has to import the other's caller.
"""

from __future__ import annotations

import logging
import math
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from orchestrator.client import Transport
from orchestrator.errors import ConfigError
from orchestrator.performance.report import STABLE_WINDOWS

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_S",
    "MAX_REQUEST_TIMEOUT_S",
    "MAX_WINDOW_S",
    "BenchOptions",
    "Engine",
    "check_open_files",
    "check_timing",
    "parse_concurrency",
]

logger = logging.getLogger(__name__)

Engine = Literal["auto", "orchestrator", "perf_analyzer"]

# Longest measurement window or warm-up: an hour is already far past any stable level.
MAX_WINDOW_S = 3600.0
# One call's deadline (a request, the config, the statistics); past the maximum, a typo.
DEFAULT_REQUEST_TIMEOUT_S = 30.0
MAX_REQUEST_TIMEOUT_S = 3600.0
# Files a run holds besides its load connections: stdio, logs, the statistics client,
# the event loop's own descriptors.
_RESERVED_FILES = 64


def check_open_files(concurrency: tuple[int, ...], protocol: Transport) -> None:
    """Make sure the process may open a socket per request in flight, before any opens.

    Over HTTP every request in flight has its own connection; gRPC shares one. When the
    soft open-file limit is too low and the hard one allows, the soft one is raised
    (and logged); otherwise the run is refused.

    Raises:
        ConfigError: the highest level needs more open files than the hard limit allows.

    Example:
        >>> check_open_files((1, 4, 16), "http")
    """
    highest = max(concurrency, default=1)
    needed = (highest if protocol == "http" else 1) + _RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard == resource.RLIM_INFINITY or needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        logger.info(
            "Raised this process's open-file limit from %d to %d for concurrency %d",
            soft,
            needed,
            highest,
        )
        return
    raise ConfigError(
        f"Concurrency {highest} needs about {needed} open files (one connection per request "
        f"in flight over HTTP), but this process may open at most {hard} (ulimit -Hn). Pass "
        f"--concurrency {hard - _RESERVED_FILES} or lower, raise the limit, or measure over "
        "--protocol grpc, which shares one connection."
    )


def check_timing(**seconds: float) -> None:
    """Refuse a window or warm-up length that is not a finite number of seconds in range.

    Raises:
        ConfigError: a value is nan, infinite, negative or above ``MAX_WINDOW_S``.

    Example:
        >>> check_timing(window_s=5.0, warmup_s=1.0)
    """
    for name, value in seconds.items():
        lowest = 0.0 if name.startswith("warmup") else 0.1
        if not (math.isfinite(value) and lowest <= value <= MAX_WINDOW_S):
            raise ConfigError(
                f"{name} {value} must be a number of seconds from {lowest} to "
                f"{MAX_WINDOW_S:.0f}. Windows of a few seconds are usual."
            )


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
    protocol: Transport = "http"
    concurrency: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    batch_size: int = 1
    window_s: float = 5.0
    warmup_s: float = 1.0
    max_windows: int = 10
    stability_pct: float = 10.0
    golden: Path | None = None
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.concurrency or min(self.concurrency) < 1:
            raise ConfigError(f"Concurrency levels {self.concurrency} must be positive integers.")
        check_timing(window_s=self.window_s, warmup_s=self.warmup_s)
        if not 0 < self.request_timeout_s <= MAX_REQUEST_TIMEOUT_S:  # also refuses nan
            raise ConfigError(
                f"request_timeout_s {self.request_timeout_s} must be above 0 and at most "
                f"{MAX_REQUEST_TIMEOUT_S:g} s."
            )
        check_open_files(self.concurrency, self.protocol)
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
