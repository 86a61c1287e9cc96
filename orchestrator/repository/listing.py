"""What a repository holds: models, versions, which ones Triton serves, sizes, metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.digest import file_digest
from orchestrator.core.model_config import CONFIG_FILENAME, load_config, version_policy_text
from orchestrator.errors import ConfigError, RepositoryError
from orchestrator.repository.layout import (
    model_names,
    read_manifest,
    served_versions,
    version_numbers,
)

__all__ = ["ModelListing", "VersionListing", "list_repository"]

logger = logging.getLogger(__name__)

_EXPORT = "export.json"


@dataclass(frozen=True)
class VersionListing:
    """One version folder.

    Attributes:
        version: the version number.
        served: whether the config's version_policy serves it.
        size_bytes: total size of its files.
        sha256: sha256 of the model file ("" when it has none).
        metrics: ``metrics`` of its export.json (empty for a bare ONNX file).
    """

    version: int
    served: bool
    size_bytes: int
    sha256: str
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelListing:
    """One model: its version policy and versions (``error`` when its config is unusable)."""

    name: str
    backend: str
    version_policy: str
    versions: tuple[VersionListing, ...]
    error: str = ""


def list_repository(root: Path) -> list[ModelListing]:
    """Describe every model of ``root`` (folders with a config.pbtxt), sorted by name.

    Raises:
        RepositoryError: ``root`` is not a folder.

    Example:
        >>> [m.name for m in list_repository(Path("model_repository"))]  # doctest: +SKIP
        ['digits_cnn']
    """
    return [_describe(root / name) for name in model_names(root)]


def _describe(model_dir: Path) -> ModelListing:
    available = version_numbers(model_dir)
    try:
        config = load_config(model_dir / CONFIG_FILENAME)
    except ConfigError as exc:
        versions = tuple(_version(model_dir / str(v), False) for v in available)
        return ModelListing(model_dir.name, "", "", versions, error=str(exc))
    served = set(served_versions(config, available))
    return ModelListing(
        name=model_dir.name,
        backend=config.backend or config.platform,
        version_policy=version_policy_text(config),
        versions=tuple(_version(model_dir / str(v), v in served) for v in available),
    )


def _version(folder: Path, served: bool) -> VersionListing:
    size_bytes, sha256 = 0, ""
    try:
        manifest = read_manifest(folder)
    except RepositoryError:
        manifest = None
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        size_bytes += path.stat().st_size
    model_file = folder / "model.onnx"
    if manifest is not None and "model.onnx" in manifest:
        sha256 = manifest["model.onnx"].sha256
    elif model_file.is_file():
        sha256 = file_digest(model_file).sha256
    return VersionListing(int(folder.name), served, size_bytes, sha256, _metrics(folder))


def _metrics(folder: Path) -> Mapping[str, Any]:
    path = folder / _EXPORT
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        logger.warning("Ignoring unreadable %s", path)
        return {}
    metrics = body.get("metrics", {}) if isinstance(body, dict) else {}
    return metrics if isinstance(metrics, dict) else {}
