"""Export bundles: what training writes and ``publish`` reads.

A bundle is a folder with ``model.onnx``, ``export.json`` (model name, signature, metrics,
and the sha256 and size of every file) and ``golden.npz``; a bare ``.onnx`` file from any
tool is a bundle with only a model file. Every file export.json lists is verified.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core.digest import file_digest
from orchestrator.core.golden import GOLDEN_FILENAME
from orchestrator.errors import ConfigError

__all__ = ["EXPORT_FILENAME", "MODEL_FILENAME", "Bundle", "read_bundle"]

MODEL_FILENAME = "model.onnx"
EXPORT_FILENAME = "export.json"
_BUNDLE_FILES = (MODEL_FILENAME, EXPORT_FILENAME, GOLDEN_FILENAME)


@dataclass(frozen=True)
class Bundle:
    """The files to publish: the model, the other bundle files, export.json's content."""

    model_file: Path
    extra_files: tuple[Path, ...]
    export: Mapping[str, Any]


def read_bundle(source: Path) -> Bundle:
    """Read and verify an export bundle folder, or take a bare ``.onnx`` file.

    Raises:
        ConfigError: not a bundle or .onnx file, or a file differs from export.json.

    Example:
        >>> read_bundle(Path("models/exports/digits")).export["model_name"]  # doctest: +SKIP
        'digits'
    """
    if source.is_dir():
        model_file = source / MODEL_FILENAME
        if not model_file.is_file():
            raise ConfigError(
                f"Export bundle {source} has no {MODEL_FILENAME}. Expected a folder with "
                "model.onnx, export.json and golden.npz, or a bare .onnx file."
            )
        extras = tuple(source / f for f in _BUNDLE_FILES[1:] if (source / f).is_file())
        export = _read_export(source / EXPORT_FILENAME)
        _verify_bundle(source, export)
        return Bundle(model_file, extras, export)
    if source.is_file() and source.suffix == ".onnx":
        return Bundle(source, (), {})
    raise ConfigError(
        f"Cannot publish {source}: it is neither an export bundle folder nor a .onnx file. "
        "Pass a folder with model.onnx (and export.json, golden.npz) or a .onnx file."
    )


def _read_export(path: Path) -> Mapping[str, Any]:
    if not path.is_file():
        return {}
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc}). Re-export the bundle.") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(body).__name__}.")
    return body


def _verify_bundle(source: Path, export: Mapping[str, Any]) -> None:
    files = export.get("files", {})
    if not isinstance(files, dict):
        raise ConfigError(f"{source / EXPORT_FILENAME}: 'files' must be an object.")
    for name, expected in sorted(files.items()):
        path = source / name
        if not path.is_file():
            raise ConfigError(
                f"Export bundle {source}: export.json lists {name!r} but the file is missing. "
                "Copy the whole bundle again."
            )
        actual = file_digest(path)
        want_sha = str(expected.get("sha256", "")) if isinstance(expected, dict) else ""
        want_size = expected.get("size_bytes") if isinstance(expected, dict) else None
        if actual.sha256 != want_sha or (want_size is not None and actual.size_bytes != want_size):
            raise ConfigError(
                f"Export bundle {source}: {name} has sha256 {actual.sha256[:12]}… and "
                f"{actual.size_bytes} bytes, but export.json expects {want_sha[:12] or '?'}… "
                f"and {want_size} bytes. The file changed after export or the copy is broken; "
                "copy the bundle again or re-export it."
            )
