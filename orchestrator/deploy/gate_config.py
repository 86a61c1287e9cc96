"""``deployment/gates.yaml``: the gate's load levels and budgets, defaults plus per-model overrides.

The file (see the shipped one for every key, commented)::

    defaults:
      concurrency: [1, 4]         # closed-loop levels, in order
      window_s: 1.0               # one measurement window
      warmup_s: 0.5               # load before each level, not measured
      max_windows: 3              # windows per level (3 is bench's minimum)
      max_server_ms: 100          # Triton's own time per request (queue + compute), per level
      # p99_ms: 250               # client-side p99 (round trip included): judged only if set
      min_throughput_ratio: 0.8   # of what the replaced deployment measured at that level
      baseline_runs: 5            # ...the median of its newest passing gates (gate_baseline)
      throughput_attempts: 4      # measurements of a level below it before it fails
      max_failures: 0             # failed requests per level, and failure-counter moves
      max_queue_us: 20000         # average queue time per request (Triton's counters)
      max_queue_ratio: 1.5        # or this x the replaced release's, when that is higher
      min_requests: 10            # completed requests a level needs, else "nothing measured"
    models:
      digits_cnn:
        p99_ms: 400               # any key of defaults; the rest comes from defaults

A key the gate does not know, a value of the wrong type or out of range, and a model the
release does not serve are ``ConfigError``s naming the file and the key; ``gate`` and
``promote`` exit 2 for them (a configuration error, not a failed gate: CI must not roll
back for it), and ``gate --check-config`` finds them before anything is deployed.

The file is untrusted input: a regular file only (no link, FIFO or device), its size
checked before it is read, YAML without aliases or duplicate keys, nesting and numbers
bounded (``yaml_text.load_strict``). A gate's load has a time budget derived from its
levels (``ModelBudget.time_s``: levels x (warm-up + windows + 2 s) + 10 s per model);
more than ``MAX_GATE_S`` in all is refused.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.deploy.yaml_text import load_strict
from orchestrator.errors import ConfigError, UnsafeFileError

__all__ = ["DEFAULT_GATES", "MAX_GATE_S", "GateConfig", "ModelBudget", "load_gate_config"]

logger = logging.getLogger(__name__)

DEFAULT_GATES = Path("deployment/gates.yaml")
# The longest window or warm-up bench accepts (performance.options.MAX_WINDOW_S).
_MAX_SECONDS = 3600.0
# bench needs three windows that agree before it calls a level stable.
_MIN_WINDOWS = 3
_MAX_BYTES = 1 << 20
# defaults/models/<name>/<key>/[list]: four levels; a little room, no more.
_MAX_DEPTH = 6
# What a gate may take in all (every model's levels plus the smoke): half an hour of load
# is already far past a deploy gate, and a CI job that waits on it.
MAX_GATE_S = 1800.0
# Per level, beyond its windows: bench's statistics calls, the drain of requests in flight.
_LEVEL_OVERHEAD_S = 2.0
# Per model: bench's first request and the served config read.
_MODEL_OVERHEAD_S = 10.0


@dataclass(frozen=True)
class ModelBudget:
    """One model's load levels and budgets (units in the names)."""

    concurrency: tuple[int, ...] = (1, 4)
    window_s: float = 1.0
    warmup_s: float = 0.5
    max_windows: int = _MIN_WINDOWS
    max_server_ms: float = 100.0
    p99_ms: float | None = None
    min_throughput_ratio: float = 0.8
    baseline_runs: int = 5
    throughput_attempts: int = 4
    max_failures: int = 0
    max_queue_us: float = 20_000.0
    max_queue_ratio: float = 1.5
    min_requests: int = 10

    @property
    def time_s(self) -> float:
        """The longest this model's load may take: its levels' warm-ups and windows.

        Example:
            >>> ModelBudget().time_s  # 2 levels x (0.5 + 3 x 1.0 + 2), plus 10
            21.0
        """
        level_s = self.warmup_s + self.max_windows * self.window_s + _LEVEL_OVERHEAD_S
        return len(self.concurrency) * level_s + _MODEL_OVERHEAD_S

    @property
    def longest_s(self) -> float:
        """The longest it may take when every level is measured ``throughput_attempts`` times.

        A level below its throughput floor is measured again (the gate's deadline grows by
        that time), so this, not ``time_s``, is what ``MAX_GATE_S`` bounds.

        Example:
            >>> ModelBudget().longest_s  # 2 levels x 4 attempts x (0.5 + 3 x 1.0 + 2), plus 10
            54.0
        """
        return (self.time_s - _MODEL_OVERHEAD_S) * self.throughput_attempts + _MODEL_OVERHEAD_S

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        body = asdict(self)
        body["concurrency"] = list(self.concurrency)
        return body


@dataclass(frozen=True)
class GateConfig:
    """A parsed gates file: its text (recorded with every gate run), defaults, overrides."""

    path: Path
    text: str
    defaults: ModelBudget = field(default_factory=ModelBudget)
    models: Mapping[str, ModelBudget] = field(default_factory=dict)

    def budget(self, model: str) -> ModelBudget:
        """The budget of ``model``: its override, else the defaults.

        Example:
            >>> GateConfig(Path("gates.yaml"), "").budget("digits_cnn").max_server_ms
            100.0
        """
        return self.models.get(model, self.defaults)

    def time_budget_s(self, served: Iterable[str]) -> float:
        """The longest the load of ``served`` models may take (the gate's time budget)."""
        return sum(self.budget(name).time_s for name in sorted(set(served)))

    def check_time(self, served: Iterable[str], release_id: str) -> float:
        """The load's time budget for the models ``served``; refused past ``MAX_GATE_S``.

        Raises:
            ConfigError: the levels of the gates file add up to more than ``MAX_GATE_S``.
        """
        names = sorted(set(served))
        total = self.time_budget_s(names)
        longest_total = sum(self.budget(name).longest_s for name in names)
        if longest_total > MAX_GATE_S:
            longest = max(names, key=lambda name: self.budget(name).longest_s)
            raise ConfigError(
                f"{self.path}: the gate of release {release_id} could take up to "
                f"{longest_total:.0f} s ({len(names)} model(s); {longest} alone "
                f"{self.budget(longest).longest_s:.0f} s = levels x throughput_attempts x "
                "(warmup_s + max_windows x window_s + 2) + 10), more than "
                f"{MAX_GATE_S:.0f} s. Use fewer concurrency levels, shorter or fewer windows, "
                "or fewer throughput_attempts."
            )
        return total

    def check_models(self, served: Iterable[str], release_id: str) -> None:
        """Refuse an override for a model the release does not serve (a typo, or a stale entry).

        Raises:
            ConfigError: naming the file, the key and the models the release serves.
        """
        names = sorted(set(served))
        for name in self.models:
            if name not in names:
                raise ConfigError(
                    f"{self.path}: models.{name} names a model that release {release_id} does "
                    f"not serve (it serves {', '.join(names) or 'no model'}). Fix the name, or "
                    "remove the entry."
                )


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float | None]:
    def check(value: Any) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        number = float(value)
        if not math.isfinite(number) or number > high:
            return None
        if number < low or (low_open and number == low):
            return None
        return number

    return check


def _integer(low: int, high: int) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return None
        return value

    return check


def _levels(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    level = _integer(1, 4096)
    checked = [level(item) for item in value]
    if any(item is None for item in checked):
        return None
    return tuple(item for item in checked if item is not None)


# key -> (parser that returns None for a bad value, what the key expects)
_KEYS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "concurrency": (_levels, "a non-empty list of integers from 1 to 4096, e.g. [1, 4]"),
    "window_s": (_number(0.1, _MAX_SECONDS), f"seconds from 0.1 to {_MAX_SECONDS:.0f}"),
    "warmup_s": (_number(0.0, _MAX_SECONDS), f"seconds from 0 to {_MAX_SECONDS:.0f}"),
    "max_windows": (_integer(_MIN_WINDOWS, 100), f"an integer from {_MIN_WINDOWS} to 100"),
    "max_server_ms": (_number(0.0, 3_600_000.0, low_open=True), "milliseconds above 0"),
    "p99_ms": (_number(0.0, 3_600_000.0, low_open=True), "milliseconds above 0"),
    "min_throughput_ratio": (_number(0.0, 1.0), "a fraction from 0 to 1 (0 turns it off)"),
    "baseline_runs": (
        _integer(1, 20),
        "an integer from 1 to 20 (the replaced deployment's newest passing gates the "
        "throughput baseline is the median of)",
    ),
    "throughput_attempts": (
        _integer(2, 10),
        "an integer from 2 to 10 (measurements of a level below the throughput floor "
        "before it fails)",
    ),
    "max_failures": (_integer(0, 1_000_000_000), "an integer 0 or above"),
    "max_queue_us": (_number(0.0, 3.6e9), "microseconds, 0 or above"),
    "max_queue_ratio": (
        _number(0.0, 100.0),
        "a ratio from 0 to 100 of the replaced release's queue time (0 turns it off)",
    ),
    "min_requests": (
        _integer(1, 1_000_000),
        "an integer from 1 to 1000000 (completed requests a level must measure)",
    ),
}


def load_gate_config(path: Path) -> GateConfig:
    """Read and check a gates file.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or a key or value is wrong;
            the message names the file and the key.

    Example:
        >>> load_gate_config(Path("deployment/gates.yaml")).defaults.concurrency  # doctest: +SKIP
        (1, 4)
    """
    data = _read(path)
    text = data.decode("utf-8", errors="replace")
    document = load_strict(text, what=str(path), max_depth=_MAX_DEPTH)
    if document is None:
        document = {}
    _mapping(document, path, "the top level")
    _known(document, ("defaults", "models"), path, "")
    defaults = _budget(_or_empty(document.get("defaults")), ModelBudget(), path, "defaults")
    models_doc = _or_empty(document.get("models"))
    _mapping(models_doc, path, "models")
    models = {}
    for name, body in models_doc.items():
        models[str(name)] = _budget(_or_empty(body), defaults, path, f"models.{name}")
    config = GateConfig(path, text, defaults, models)
    for name in ["defaults", *models]:
        budget = config.budget(name) if name != "defaults" else defaults
        if budget.longest_s > MAX_GATE_S:
            where = name if name == "defaults" else f"models.{name}"
            raise ConfigError(
                f"{path}: {where} could load one model for up to {budget.longest_s:.0f} s "
                "(levels x throughput_attempts x (warmup_s + max_windows x window_s + 2) + 10), "
                f"more than the {MAX_GATE_S:.0f} s a whole gate may take. Use fewer "
                "concurrency levels, shorter or fewer windows, or fewer throughput_attempts."
            )
    logger.debug("Read %s: %d model override(s)", path, len(models))
    return config


def _read(path: Path) -> bytes:
    """The file's bytes: a regular file (no link, FIFO or device), size checked first."""
    try:
        folder, name = untrusted.split(path)
        return untrusted.read_bytes(folder, name, max_bytes=_MAX_BYTES)
    except UnsafeFileError as exc:
        raise ConfigError(
            f"Cannot read the gates file {path}: {exc} A gates file is a small regular "
            "file (see deployment/gates.yaml)."
        ) from exc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _or_empty(value: Any) -> Any:
    # "defaults:" with nothing under it is YAML null: no key changed.
    return {} if value is None else value


def _mapping(value: Any, path: Path, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: {where} is {type(value).__name__}, expected a mapping of keys to values "
            "(see the comments in deployment/gates.yaml)."
        )


def _known(document: Mapping[Any, Any], keys: Iterable[str], path: Path, where: str) -> None:
    allowed = list(keys)
    for key in document:
        if key not in allowed:
            raise ConfigError(
                f"{path}: unknown key {where}{str(key)[:80]}. Expected one of: "
                f"{', '.join(allowed)}."
            )


def _budget(document: Any, base: ModelBudget, path: Path, where: str) -> ModelBudget:
    _mapping(document, path, where)
    _known(document, _KEYS, path, f"{where}.")
    changes: dict[str, Any] = {}
    for key, value in document.items():
        parse, expected = _KEYS[key]
        parsed = parse(value)
        if parsed is None:
            raise ConfigError(f"{path}: {where}.{key} is {_short(value)}; expected {expected}.")
        changes[key] = parsed
    return replace(base, **changes)
