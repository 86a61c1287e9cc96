"""The settings ``tune`` varies, applied to a model config one group at a time."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.core.model_config import CONFIG_FILENAME, ModelConfig, render_config
from orchestrator.errors import ConfigError

__all__ = [
    "INSTANCE_COUNTS",
    "QUEUE_DELAYS_US",
    "Candidate",
    "apply_candidate",
    "candidates",
    "config_diff",
    "current_candidate",
]

QUEUE_DELAYS_US = (0, 100, 500, 2000)
INSTANCE_COUNTS = (1, 2)
_THREADS_PARAMETER = "intra_op_thread_count"
_KIND_AUTO = ModelConfig().instance_group.add().KIND_AUTO


@dataclass(frozen=True)
class Candidate:
    """The settings ``tune`` varies; 0 threads means ONNX Runtime's default."""

    dynamic_batching: bool
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    instance_count: int = 1
    intra_op_threads: int = 0

    def __post_init__(self) -> None:
        if self.instance_count < 1 or self.intra_op_threads < 0 or self.max_queue_delay_us < 0:
            raise ConfigError(f"Invalid tuning candidate {self}: counts must be positive.")

    @property
    def label(self) -> str:
        """A short description for tables."""
        if self.dynamic_batching:
            batching = f"batching {self.max_queue_delay_us}us"
            if self.preferred_batch_sizes:
                batching += " pref " + "/".join(str(s) for s in self.preferred_batch_sizes)
        else:
            batching = "no batching"
        threads = f", {self.intra_op_threads} threads" if self.intra_op_threads else ""
        return f"{batching}, {self.instance_count} inst{threads}"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every setting, in field order."""
        return {
            "dynamic_batching": self.dynamic_batching,
            "max_queue_delay_us": self.max_queue_delay_us,
            "preferred_batch_sizes": list(self.preferred_batch_sizes),
            "instance_count": self.instance_count,
            "intra_op_threads": self.intra_op_threads,
        }


def current_candidate(config: ModelConfig) -> Candidate:
    """The settings a config has now.

    Example:
        >>> current_candidate(parse_config('name: "m" max_batch_size: 8')).dynamic_batching
        False
    """
    batching = config.HasField("dynamic_batching")
    counts = [group.count or 1 for group in config.instance_group]
    threads = (
        config.parameters[_THREADS_PARAMETER].string_value
        if _THREADS_PARAMETER in (config.parameters)
        else ""
    )
    return Candidate(
        dynamic_batching=batching,
        max_queue_delay_us=int(config.dynamic_batching.max_queue_delay_microseconds)
        if batching
        else 0,
        preferred_batch_sizes=tuple(config.dynamic_batching.preferred_batch_size)
        if batching
        else (),
        instance_count=max(counts) if counts else 1,
        intra_op_threads=int(threads) if threads.isdigit() else 0,
    )


def apply_candidate(config: ModelConfig, candidate: Candidate) -> ModelConfig:
    """A copy of ``config`` with ``candidate``'s settings; fields that match stay untouched.

    Raises:
        ConfigError: the candidate batches a model whose max_batch_size is 0.
    """
    tuned = ModelConfig()
    tuned.CopyFrom(config)
    now = current_candidate(config)
    batching_now = (now.dynamic_batching, now.max_queue_delay_us, now.preferred_batch_sizes)
    batching = (
        candidate.dynamic_batching,
        candidate.max_queue_delay_us,
        candidate.preferred_batch_sizes,
    )
    if batching != batching_now:
        if candidate.dynamic_batching:
            if config.max_batch_size <= 0:
                raise ConfigError(
                    f"Model {config.name!r} has max_batch_size 0: it cannot use dynamic batching."
                )
            tuned.dynamic_batching.max_queue_delay_microseconds = candidate.max_queue_delay_us
            del tuned.dynamic_batching.preferred_batch_size[:]
            tuned.dynamic_batching.preferred_batch_size.extend(candidate.preferred_batch_sizes)
        else:
            tuned.ClearField("dynamic_batching")
    if candidate.instance_count != now.instance_count:
        if not tuned.instance_group:
            tuned.instance_group.add(kind=_KIND_AUTO)
        for group in tuned.instance_group:
            group.count = candidate.instance_count
    if candidate.intra_op_threads != now.intra_op_threads:
        if candidate.intra_op_threads:
            tuned.parameters[_THREADS_PARAMETER].string_value = str(candidate.intra_op_threads)
        else:
            del tuned.parameters[_THREADS_PARAMETER]
    return tuned


def config_diff(before: ModelConfig, after: ModelConfig, path: str = CONFIG_FILENAME) -> str:
    """A unified diff of the two configs as rendered pbtxt ("" when they are equal)."""
    lines = difflib.unified_diff(
        render_config(before).splitlines(keepends=True),
        render_config(after).splitlines(keepends=True),
        fromfile=f"{path} (current)",
        tofile=f"{path} (tuned)",
    )
    return "".join(lines)


def candidates(stage: str, base: Candidate, max_batch_size: int, cores: int) -> Iterator[Candidate]:
    """The candidates of one stage ("batching", "instances", "threads"), from ``base``."""
    if stage == "batching" and max_batch_size > 0:
        yield replace(base, dynamic_batching=False, max_queue_delay_us=0, preferred_batch_sizes=())
        for delay in QUEUE_DELAYS_US:
            yield replace(
                base, dynamic_batching=True, max_queue_delay_us=delay, preferred_batch_sizes=()
            )
        preferred = tuple(s for s in (4, 8, 16) if s <= max_batch_size)
        if preferred:
            yield replace(
                base, dynamic_batching=True, max_queue_delay_us=500, preferred_batch_sizes=preferred
            )
    elif stage == "instances":
        for count in INSTANCE_COUNTS:
            yield replace(base, instance_count=count)
    elif stage == "threads":
        for threads in sorted({1, max(1, cores)}):
            yield replace(base, intra_op_threads=threads)
