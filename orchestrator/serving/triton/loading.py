"""Load a repository's models into a running Triton, on a CPU when there is no GPU.

The repository's configs are the production ones (``KIND_GPU``). Without a visible GPU
each such model is loaded through Triton's load API with a config override whose only
change is the instance kind, so everything else is exactly what production loads.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from orchestrator import client
from orchestrator.client import ModelState
from orchestrator.core.model_config import (
    CONFIG_FILENAME,
    ModelConfig,
    config_to_json,
    load_config,
    uses_gpu_instances,
    with_cpu_instances,
)
from orchestrator.errors import OrchestratorError

__all__ = ["gpu_visible", "load_models"]

logger = logging.getLogger(__name__)


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to processes started from here."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        result = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and "GPU" in result.stdout


def load_models(
    url: str,
    repository: Path | None,
    names: Iterable[str] | None = None,
    *,
    cpu_override: bool | None = None,
    configs: Mapping[str, ModelConfig] | None = None,
    timeout_s: float | None = None,
) -> list[ModelState]:
    """Load models of ``repository`` into the explicit-mode Triton at ``url``.

    Args:
        url: the server's HTTP ``host:port``.
        repository: the local repository the server serves (its configs are read for
            the CPU override); None when the server reads a remote one (s3://).
        names: the models to load; every model in the server's index when None.
        cpu_override: turn ``KIND_GPU`` into ``KIND_CPU``; decided by ``gpu_visible()``
            when None.
        configs: the models' configs by name, for a repository that is not a local
            folder (e.g. from a release manifest); they take precedence over files.
        timeout_s: a deadline for all the loads together (None: each load may take the
            client's default). A model still loading then is reported LOADING with the
            reason, and the models not yet asked for are not loaded.

    Returns:
        The server's repository index after loading; a model that failed carries
        Triton's reason. Loading failures are reported, not raised.

    Raises:
        ServerError: the server cannot be reached.
    """
    wanted = sorted(set(names)) if names is not None else None
    index = client.repository_index(url)
    available = sorted({row.name for row in index})
    to_load = wanted if wanted is not None else available
    if cpu_override is None:
        cpu_override = not gpu_visible()
    failures: dict[str, str] = {}
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for name in to_load:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            failures[name] = f"not loaded: the {timeout_s:.0f} s deadline passed before its turn"
            continue
        try:
            config = (configs or {}).get(name)
            override = _override(repository, name, cpu_override, config)
            if left is None:
                client.load_model(url, name, override)
            else:
                client.load_model(url, name, override, timeout_s=left)
        except OrchestratorError as exc:
            failures[name] = str(exc)
    states = [
        # A model still LOADING at the deadline, or one Triton could not even read (its
        # row has no state and no reason), is shown with why its load failed.
        replace(row, reason=failures[row.name])
        if row.name in failures and (row.state == "LOADING" or not row.reason)
        else row
        for row in client.repository_index(url)
        if row.name in set(to_load)
    ]
    seen = {row.name for row in states}
    for name in to_load:
        if name not in seen:
            states.append(ModelState(name, "", "UNAVAILABLE", failures.get(name, "not loaded")))
    return sorted(states, key=lambda row: (row.name, _version_key(row.version)))


def _override(
    repository: Path | None, name: str, cpu_override: bool, config: ModelConfig | None
) -> str | None:
    if not cpu_override:
        return None
    source = f"the config of {name}"
    if config is None:
        config_path = repository / name / CONFIG_FILENAME if repository else None
        if config_path is None or not config_path.is_file():
            return None
        config = load_config(config_path)
        source = str(config_path)
    if not uses_gpu_instances(config):
        return None
    logger.info(
        "No GPU visible: loading %s with instance kind KIND_CPU instead of KIND_GPU "
        "(the only change to %s)",
        name,
        source,
    )
    return config_to_json(with_cpu_instances(config))


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)
