"""Replace the served version of a model on a running Triton without a failed request.

The server must run with ``--model-control-mode=explicit``. A swap only ever *reloads*
the model with a config override whose ``version_policy`` names the versions to serve;
Triton loads new versions beside the ones serving and swaps them in only once they are
ready, so the model never stops answering:

1. reload with ``specific [old..., new]``: the new version loads beside the old one(s);
2. warm the new version up and smoke-test it *by version* over each protocol;
3. reload with ``specific [new]``: the old versions unload once their requests finish.

If step 1 or 2 fails, the model is reloaded with ``specific [old...]`` (a rollback that
leaves the old versions serving) and the error says why. Ctrl-C during steps 1-2 rolls
back the same way; Ctrl-C during step 3 or a rollback is held until it is done, so an
interrupted swap leaves the old or the new version serving, never none.

The override starts from the repository's config.pbtxt; when the server runs the model on
the CPU although the config asks for ``KIND_GPU`` (``orchestrator serve`` without a GPU),
the override does the same, so only the version policy changes.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from orchestrator import client
from orchestrator.client import Transport
from orchestrator.client.endpoints import Endpoints
from orchestrator.core.golden import golden_path, read_golden
from orchestrator.core.model_config import (
    CONFIG_FILENAME,
    ModelConfig,
    config_to_json,
    load_config,
    uses_gpu_instances,
    with_cpu_instances,
)
from orchestrator.errors import (
    ModelControlDisabledError,
    OrchestratorError,
    RepositoryError,
    ServerError,
)
from orchestrator.repository.layout import is_file, version_dir, version_numbers
from orchestrator.serving.smoke import (
    PROTOCOLS,
    SmokeReport,
    check_reachable,
    smoke_version,
)
from orchestrator.serving.triton import gpu_visible

__all__ = ["SwapReport", "loaded_versions", "serve_versions", "swap"]

logger = logging.getLogger(__name__)

_WARMUP_REQUESTS = 4
_UNLOAD_TIMEOUT_S = 60.0
_BUSY_STATES = ("UNLOADING", "LOADING")


@dataclass(frozen=True)
class SwapReport:
    """What a successful swap did, with timings."""

    model: str
    from_versions: tuple[int, ...]
    to_version: int
    load_s: float
    smoke: SmokeReport | None
    total_s: float
    cpu_override: bool

    @property
    def changed(self) -> bool:
        """False when the version was already the only one served (nothing to do)."""
        return self.from_versions != (self.to_version,)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the versions, timings in seconds to 3 decimals, the smoke report."""
        return {
            "model": self.model,
            "from_versions": list(self.from_versions),
            "to_version": self.to_version,
            "changed": self.changed,
            "load_s": round(self.load_s, 3),
            "total_s": round(self.total_s, 3),
            "cpu_override": self.cpu_override,
            "smoke": None if self.smoke is None else self.smoke.as_dict(),
        }


def loaded_versions(url: str, model: str) -> tuple[int, ...]:
    """The versions of ``model`` that the server at ``url`` has READY, ascending."""
    return tuple(
        sorted(
            int(row.version)
            for row in client.repository_index(url)
            if row.name == model and row.state == "READY" and row.version.isdigit()
        )
    )


def serve_versions(
    url: str,
    repository: Path,
    model: str,
    versions: Sequence[int],
    *,
    cpu_override: bool | None = None,
) -> None:
    """Load (or reload) ``model`` serving exactly ``versions``, whatever its config's policy.

    The same reload as a swap's, without the smoke test: use it to start from a known
    state, e.g. the version production served before a rollout.

    Raises:
        RepositoryError: the model or a version is not in ``repository``.
        ServerError: Triton could not load them.

    Example:
        >>> serve_versions(url, Path("model_repository"), "digits_cnn", [1])  # doctest: +SKIP
    """
    config = _repository_config(repository, model, *versions)
    if cpu_override is None:
        cpu_override = _served_on_cpu(url, model, config, bool(loaded_versions(url, model)))
    _load(url, model, config, sorted(set(versions)), cpu_override)


def swap(
    endpoints: Endpoints,
    repository: Path,
    model: str,
    to_version: int,
    *,
    protocols: Sequence[Transport] = PROTOCOLS,
    cpu_override: bool | None = None,
    on_step: Callable[[str], None] | None = None,
) -> SwapReport:
    """Make ``to_version`` the only served version of ``model``, with no downtime.

    Args:
        endpoints: the server (explicit model control).
        repository: the local copy of the repository the server serves: the config and
            the new version's golden data are read from it.
        model: the model to swap.
        to_version: the version to serve; its folder must exist in ``repository``.
        protocols: the protocols the new version is smoke-tested over.
        cpu_override: load ``KIND_GPU`` instances on the CPU; when None, do what the
            server does now (or, for a model not loaded yet, whether no GPU is visible).
        on_step: called with one line per step (progress for a CLI).

    Returns:
        What was swapped, and how long loading and the whole swap took.

    Raises:
        RepositoryError: the model or version is not in ``repository``.
        SmokeTestError: the new version has no golden data, or failed its smoke test
            (the old versions were restored and serve).
        ModelControlDisabledError: the server is not in explicit model control mode
            (nothing was changed).
        ServerError: the server is unreachable or could not load the new version (the
            old versions were restored and serve).

    Example:
        >>> swap(Endpoints.from_urls("127.0.0.1:8000"), Path("model_repository"),  # doctest: +SKIP
        ...      "digits_cnn", 2).from_versions
        (1,)
    """
    say = on_step or (lambda line: logger.info("%s", line))
    started = time.monotonic()
    config = _repository_config(repository, model, to_version)
    read_golden(golden_path(version_dir(repository, model, to_version)))  # fail before loading
    check_reachable(endpoints, protocols)
    old = loaded_versions(endpoints.http_url, model)
    if old == (to_version,):
        say(f"{model}: version {to_version} is already the only one served; nothing to do")
        return SwapReport(model, old, to_version, 0.0, None, 0.0, False)
    if cpu_override is None:
        cpu_override = _served_on_cpu(endpoints.http_url, model, config, bool(old))
    restore = _Restore(endpoints.http_url, model, config, old, to_version, cpu_override)
    both = tuple(sorted(set(old) | {to_version}))
    try:
        say(f"{model}: loading version {to_version} beside {_versions(old)}")
        load_started = time.monotonic()
        _load(endpoints.http_url, model, config, both, cpu_override)
        _wait_ready(endpoints.http_url, model, to_version)
        load_s = time.monotonic() - load_started
        say(f"{model}: version {to_version} ready in {load_s:.1f} s; warming up and smoke-testing")
        _warm_up(endpoints, repository, model, to_version)
        report = smoke_version(endpoints, repository, model, to_version, protocols=protocols)
        report.raise_for_failures()
    except ModelControlDisabledError:
        raise  # the server refused the first reload: nothing changed, nothing to restore
    except (OrchestratorError, KeyboardInterrupt) as exc:
        say(f"{model}: swap to version {to_version} failed; restoring {_versions(old)}")
        restore()
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise type(exc)(
            f"Swap of {model!r} to version {to_version} failed and was rolled back "
            f"({_versions(old)} still serving): {exc}"
        ) from exc
    with _interrupts_deferred():
        say(f"{model}: serving only version {to_version}; {_versions(old)} unload")
        try:
            _load(endpoints.http_url, model, config, (to_version,), cpu_override)
        except ServerError:
            restore()
            raise
    _wait_unloaded(endpoints.http_url, model, [v for v in old if v != to_version])
    total_s = time.monotonic() - started
    say(f"{model}: swapped {_versions(old)} -> version {to_version} in {total_s:.1f} s")
    return SwapReport(model, old, to_version, load_s, report, total_s, cpu_override)


def _versions(versions: Sequence[int]) -> str:
    if not versions:
        return "no version"
    label = "version" if len(versions) == 1 else "versions"
    return f"{label} {', '.join(map(str, versions))}"


def _repository_config(repository: Path, model: str, *versions: int) -> ModelConfig:
    config_path = repository / model / CONFIG_FILENAME
    if not is_file(config_path):
        raise RepositoryError(
            f"Model {model!r} has no {CONFIG_FILENAME} in {repository}. Pass the repository "
            "the server serves with --repo."
        )
    for version in versions:
        if not version_dir(repository, model, version).is_dir():
            available = version_numbers(repository / model)
            raise RepositoryError(
                f"Model {model!r} has no version {version} in {repository} (it has "
                f"{', '.join(map(str, available)) or 'none'}). Publish it first, or pick one "
                "of those."
            )
    return load_config(config_path)


def _served_on_cpu(url: str, model: str, config: ModelConfig, loaded: bool) -> bool:
    if not uses_gpu_instances(config):
        return False
    if not loaded:
        return not gpu_visible()
    served = client.model_config(url, model)
    kinds = {str(group.get("kind", "")) for group in served.get("instance_group", [])}
    return "KIND_GPU" not in kinds


def _override(config: ModelConfig, versions: Sequence[int], cpu_override: bool) -> str:
    override = ModelConfig()
    override.CopyFrom(with_cpu_instances(config) if cpu_override else config)
    override.version_policy.Clear()
    override.version_policy.specific.versions.extend(versions)
    return config_to_json(override)


def _load(
    url: str, model: str, config: ModelConfig, versions: Sequence[int], cpu_override: bool
) -> None:
    try:
        client.load_model(url, model, _override(config, versions, cpu_override))
    except ModelControlDisabledError as exc:
        raise ModelControlDisabledError(
            f"Triton at {url} does not allow loading models through its API: {exc}. "
            "A swap needs a server started with --model-control-mode=explicit "
            "(as `orchestrator serve` does)."
        ) from exc


def _wait_ready(url: str, model: str, version: int) -> None:
    # The load API returns once the load is done; read the state to name a failure.
    for row in client.repository_index(url):
        if row.name == model and row.version == str(version):
            if row.state == "READY":
                return
            raise ServerError(
                f"version {version} is {row.state}: {row.reason or 'no reason given'}"
            )
    raise ServerError(f"version {version} is not in the server's repository index")


def _wait_unloaded(
    url: str, model: str, versions: Sequence[int], timeout_s: float = _UNLOAD_TIMEOUT_S
) -> None:
    """Wait until ``versions`` finished unloading (their in-flight requests are done)."""
    if not versions:
        return
    wanted = {str(v) for v in versions}
    deadline = time.monotonic() + timeout_s
    while True:
        busy = [
            row.version
            for row in client.repository_index(url)
            if row.name == model and row.version in wanted and row.state in _BUSY_STATES
        ]
        if not busy:
            return
        if time.monotonic() >= deadline:
            logger.warning(
                "%s: version(s) %s still %s after %.0f s; the swap itself is done",
                model,
                ", ".join(busy),
                "/".join(_BUSY_STATES),
                timeout_s,
            )
            return
        time.sleep(0.05)


def _warm_up(endpoints: Endpoints, repository: Path, model: str, version: int) -> None:
    golden = read_golden(golden_path(version_dir(repository, model, version)))
    first = {name: array[:1] for name, array in golden.inputs.items()}
    for _ in range(_WARMUP_REQUESTS):
        client.infer(endpoints.http_url, model, first, version=str(version))


class _Restore:
    """Reload a model with only its old versions (unload it when it had none)."""

    def __init__(
        self,
        url: str,
        model: str,
        config: ModelConfig,
        old: Sequence[int],
        new: int,
        cpu_override: bool,
    ) -> None:
        self._args = (url, model, config, tuple(old), cpu_override)
        self._new = new

    def __call__(self) -> None:
        url, model, config, old, cpu_override = self._args
        with _interrupts_deferred():
            if old:
                _load(url, model, config, old, cpu_override)
            else:
                client.unload_model(url, model)
        logger.info("Restored %s to %s", model, _versions(old))
        _wait_unloaded(url, model, [self._new])


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block is done, then raise it (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[Any] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        logger.warning("Interrupt received: finishing the reload first so a version serves")

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
