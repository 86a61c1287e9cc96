"""What a repository holds: models, versions, which ones Triton serves, sizes, metrics.

Every file is read under the untrusted-input rule (``orchestrator.core.untrusted``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.core.model_config import CONFIG_FILENAME, load_config, version_policy_text
from orchestrator.errors import ConfigError, RepositoryError, UnsafeFileError
from orchestrator.repository.layout import (
    model_names,
    read_manifest,
    require_readable,
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

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field, ``metrics`` as a plain dict."""
        return {
            "version": self.version,
            "served": self.served,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "metrics": dict(self.metrics),
        }


@dataclass(frozen=True)
class ModelListing:
    """One model: its version policy and versions (``error`` when its config is unusable)."""

    name: str
    backend: str
    version_policy: str
    versions: tuple[VersionListing, ...]
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the model (under ``model``), its policy, error and versions."""
        return {
            "model": self.name,
            "backend": self.backend,
            "version_policy": self.version_policy,
            "error": self.error,
            "versions": [version.as_dict() for version in self.versions],
        }


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
    # Read under the untrusted-input rule (core.untrusted): a link, a FIFO or an
    # oversized file is described as an error, never read.
    root = model_dir.parent
    # A folder that cannot be read fails the listing (exit 1, with the chmod hint): Triton
    # could not load from it either. What is read inside is described, errors included.
    available = version_numbers(model_dir)
    for version in available:
        require_readable(model_dir / str(version), "version folder")
    try:
        config = load_config(model_dir / CONFIG_FILENAME, within=root)
    except (ConfigError, RepositoryError) as exc:
        versions = tuple(_version(root, model_dir.name, v, False) for v in available)
        return ModelListing(model_dir.name, "", "", versions, error=str(exc))
    served = set(served_versions(config, available))
    return ModelListing(
        name=model_dir.name,
        backend=config.backend or config.platform,
        version_policy=version_policy_text(config),
        versions=tuple(_version(root, model_dir.name, v, v in served) for v in available),
    )


def _version(root: Path, model: str, version: int, served: bool) -> VersionListing:
    folder = f"{model}/{version}"
    try:
        manifest = read_manifest(root / folder)
    except RepositoryError:
        manifest = None
    try:
        found = untrusted.walk(root, folder)
    except UnsafeFileError as exc:
        logger.warning("%s", exc)
        found = []
    size_bytes = sum(e.size_bytes for e in found if e.kind == "file")
    sha256 = ""
    if manifest is not None and "model.onnx" in manifest:
        sha256 = manifest["model.onnx"].sha256
    else:
        try:
            sha256 = untrusted.digest(root, f"{folder}/model.onnx").sha256
        except UnsafeFileError as exc:
            if exc.reason != "missing":
                logger.warning("%s", exc)
    return VersionListing(version, served, size_bytes, sha256, _metrics(root, folder))


def _metrics(root: Path, folder: str) -> Mapping[str, Any]:
    relative = f"{folder}/{_EXPORT}"
    try:
        if untrusted.kind_of(root, relative) is None:
            return {}
        raw = untrusted.read_bytes(root, relative, max_bytes=untrusted.JSON_MAX_BYTES)
        body = json.loads(raw.decode("utf-8"))
    except (UnsafeFileError, UnicodeDecodeError, ValueError, RecursionError):
        logger.warning("Ignoring unreadable %s", root / relative)
        return {}
    metrics = body.get("metrics", {}) if isinstance(body, dict) else {}
    return metrics if isinstance(metrics, dict) else {}
