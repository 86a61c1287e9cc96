"""``deployment/gates.yaml``: the gate's load levels and budgets, defaults plus per-model overrides.

The file (see the shipped one for every key, commented)::

    defaults:
      concurrency: [1, 4]         # closed-loop levels, in order
      window_s: 1.0               # one measurement window
      warmup_s: 0.5               # load before each level, not measured
      max_windows: 3              # windows per level (3 is bench's minimum)
      p99_ms: 250                 # p99 latency budget per level
      min_throughput_ratio: 0.8   # of what the replaced release measured at that level
      max_failures: 0             # failed requests per level, and failure-counter moves
      max_queue_us: 20000         # average queue time per request (Triton's counters)
      min_requests: 10            # completed requests a level needs, else "nothing measured"
    models:
      digits_cnn:
        p99_ms: 400               # any key of defaults; the rest comes from defaults

A key the gate does not know, a value of the wrong type or out of range, and a model the
release does not serve are ``ConfigError``s naming the file and the key (exit 1, as any
other configuration file the project reads: the file is input, not a command-line usage).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestrator.deploy.yaml_text import load_one
from orchestrator.errors import ConfigError

__all__ = ["DEFAULT_GATES", "GateConfig", "ModelBudget", "load_gate_config"]

logger = logging.getLogger(__name__)

DEFAULT_GATES = Path("deployment/gates.yaml")
# The longest window or warm-up bench accepts (performance.options.MAX_WINDOW_S).
_MAX_SECONDS = 3600.0
# bench needs three windows that agree before it calls a level stable.
_MIN_WINDOWS = 3
_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class ModelBudget:
    """One model's load levels and budgets (units in the names)."""

    concurrency: tuple[int, ...] = (1, 4)
    window_s: float = 1.0
    warmup_s: float = 0.5
    max_windows: int = _MIN_WINDOWS
    p99_ms: float = 250.0
    min_throughput_ratio: float = 0.8
    max_failures: int = 0
    max_queue_us: float = 20_000.0
    min_requests: int = 10

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
            >>> GateConfig(Path("gates.yaml"), "").budget("digits_cnn").p99_ms
            250.0
        """
        return self.models.get(model, self.defaults)

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
    "p99_ms": (_number(0.0, 3_600_000.0, low_open=True), "milliseconds above 0"),
    "min_throughput_ratio": (_number(0.0, 1.0), "a fraction from 0 to 1 (0 turns it off)"),
    "max_failures": (_integer(0, 1_000_000_000), "an integer 0 or above"),
    "max_queue_us": (_number(0.0, 3.6e9), "microseconds, 0 or above"),
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
    try:
        data = path.read_bytes()[: _MAX_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"Cannot read the gates file {path}: {exc.strerror}.") from exc
    if len(data) > _MAX_BYTES:
        raise ConfigError(f"{path} is over {_MAX_BYTES} bytes; a gates file is a few lines.")
    text = data.decode("utf-8", errors="replace")
    document = load_one(text, what=str(path))
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
    logger.debug("Read %s: %d model override(s)", path, len(models))
    return GateConfig(path, text, defaults, models)


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
                f"{path}: unknown key {where}{key}. Expected one of: {', '.join(allowed)}."
            )


def _budget(document: Any, base: ModelBudget, path: Path, where: str) -> ModelBudget:
    _mapping(document, path, where)
    _known(document, _KEYS, path, f"{where}.")
    changes: dict[str, Any] = {}
    for key, value in document.items():
        parse, expected = _KEYS[key]
        parsed = parse(value)
        if parsed is None:
            raise ConfigError(f"{path}: {where}.{key} is {value!r}; expected {expected}.")
        changes[key] = parsed
    return replace(base, **changes)
