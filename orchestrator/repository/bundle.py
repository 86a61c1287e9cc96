"""Export bundles: what training writes and ``publish`` reads.

A bundle is a folder with ``model.onnx``, ``export.json`` (model name, signature, metrics,
and the sha256 and size of every file) and ``golden.npz``; a bare ``.onnx`` file from any
tool is a bundle with only a model file. Every file export.json lists is verified, and
every file is read under the untrusted-input rule (``orchestrator.core.untrusted``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.core import untrusted
from orchestrator.core.golden import GOLDEN_FILENAME, parse_golden
from orchestrator.errors import ConfigError

__all__ = [
    "EXPORT_FILENAME",
    "MODEL_FILENAME",
    "Bundle",
    "copy_bundle_file",
    "read_bundle",
    "read_export",
]

MODEL_FILENAME = "model.onnx"
EXPORT_FILENAME = "export.json"
_BUNDLE_FILES = (MODEL_FILENAME, EXPORT_FILENAME, GOLDEN_FILENAME)
_COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Bundle:
    """The files to publish: the model, the other bundle files, export.json's content."""

    model_file: Path
    extra_files: tuple[Path, ...]
    export: Mapping[str, Any]


def read_bundle(source: Path) -> Bundle:
    """Read and verify an export bundle folder, or take a bare ``.onnx`` file.

    Every file is read under the untrusted-input rule (``core.untrusted``): regular
    files only (a link is refused, never copied by its target), names inside the bundle,
    size caps on what is parsed. export.json must be a JSON object, every file it lists
    must match its sha256 and size, and golden.npz must be an npz of inputs and outputs
    read without pickles (the ONNX graph is parsed by ``publish``).

    Raises:
        ConfigError: not a bundle or .onnx file, a file differs from export.json, or
            export.json or golden.npz is not what it claims.
        UnsafeFileError: a bundle file is a link, not a regular file, outside the
            bundle or too large.

    Example:
        >>> read_bundle(Path("models/exports/digits")).export["model_name"]  # doctest: +SKIP
        'digits'
    """
    if source.is_dir():
        kinds = {name: untrusted.kind_of(source, name) for name in _BUNDLE_FILES}
        if kinds[MODEL_FILENAME] is None:
            raise ConfigError(
                f"Export bundle {source} has no {MODEL_FILENAME}. Expected a folder with "
                "model.onnx, export.json and golden.npz, or a bare .onnx file."
            )
        for name, kind in kinds.items():
            if kind is not None:
                untrusted.require_kind(source, untrusted.Entry(name, kind), "file")
        extras = tuple(source / name for name in _BUNDLE_FILES[1:] if kinds[name] is not None)
        export = read_export(source) if kinds[EXPORT_FILENAME] else {}
        _verify_bundle(source, export)
        if kinds[GOLDEN_FILENAME]:
            raw = untrusted.read_bytes(
                source, GOLDEN_FILENAME, max_bytes=untrusted.GOLDEN_MAX_BYTES
            )
            parse_golden(raw, source / GOLDEN_FILENAME)
        return Bundle(source / MODEL_FILENAME, extras, export)
    kind = untrusted.kind_of(source.parent, source.name) if source.suffix == ".onnx" else None
    if kind is not None:
        untrusted.require_kind(source.parent, untrusted.Entry(source.name, kind), "file")
        return Bundle(source, (), {})
    raise ConfigError(
        f"Cannot publish {source}: it is neither an export bundle folder nor a .onnx file. "
        "Pass a folder with model.onnx (and export.json, golden.npz) or a .onnx file."
    )


def copy_bundle_file(path: Path, target: Path, export: Mapping[str, Any] | None = None) -> None:
    """Copy one bundle file under the untrusted-input rule, and check the bytes copied.

    The file is read once, from one open descriptor (a regular file, never a link), and
    the sha256 of exactly the bytes written to ``target`` is compared with what
    ``export`` (export.json) lists for the file: a bundle that changes while it is
    published is refused, never stored unlike its export.json. A golden file is parsed
    again from the copy, so the stored one is the one checked.

    Raises:
        UnsafeFileError: ``path`` is (now) a link or not a regular file.
        ConfigError: the bytes copied differ from export.json, or the copied golden file
            is refused.
        OSError: ``target`` cannot be written.

    Example:
        >>> copy_bundle_file(Path("bundle/model.onnx"), staging / "model.onnx")  # doctest: +SKIP
    """
    hasher, size = hashlib.sha256(), 0
    with untrusted.open_file(path.parent, path.name) as src, target.open("xb") as dst:
        while chunk := src.read(_COPY_CHUNK_BYTES):
            hasher.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    listed = (export or {}).get("files", {})
    expected = listed.get(path.name) if isinstance(listed, dict) else None
    if isinstance(expected, dict):
        want = (str(expected.get("sha256", "")), expected.get("size_bytes", size))
        if (hasher.hexdigest(), size) != want:
            raise ConfigError(
                f"Export bundle {path.parent}: {path.name} changed while it was published "
                f"(the bytes copied have sha256 {hasher.hexdigest()[:12]}… and {size} bytes; "
                f"export.json expects {want[0][:12] or '?'}… and {want[1]} bytes). Nothing "
                "was published; stop whatever writes to the bundle and publish again."
            )
    if path.name == GOLDEN_FILENAME:
        raw = untrusted.read_bytes(target.parent, target.name, max_bytes=untrusted.GOLDEN_MAX_BYTES)
        parse_golden(raw, path)


def read_export(source: Path) -> Mapping[str, Any]:
    """The content of a bundle's export.json, read under the untrusted-input rule.

    Nothing else of the bundle is read or verified (``read_bundle`` does that).

    Raises:
        ConfigError: export.json is not a JSON object.
        UnsafeFileError: it is missing, a link, not a regular file, or too large.

    Example:
        >>> read_export(Path("models/exports/digits_cnn"))["model_name"]  # doctest: +SKIP
        'digits_cnn'
    """
    path = source / EXPORT_FILENAME
    raw = untrusted.read_bytes(source, EXPORT_FILENAME, max_bytes=untrusted.JSON_MAX_BYTES)
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc}). Re-export the bundle.") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{path} must hold a JSON object, got {type(body).__name__}.")
    return body


def _verify_bundle(source: Path, export: Mapping[str, Any]) -> None:
    files = export.get("files", {})
    if not isinstance(files, dict):
        raise ConfigError(f"{source / EXPORT_FILENAME}: 'files' must be an object.")
    for name, expected in sorted(files.items()):
        kind = untrusted.kind_of(source, str(name))
        if kind is None:
            raise ConfigError(
                f"Export bundle {source}: export.json lists {name!r} but the file is missing. "
                "Copy the whole bundle again."
            )
        actual = untrusted.digest(source, str(name))
        want_sha = str(expected.get("sha256", "")) if isinstance(expected, dict) else ""
        want_size = expected.get("size_bytes") if isinstance(expected, dict) else None
        if actual.sha256 != want_sha or (want_size is not None and actual.size_bytes != want_size):
            raise ConfigError(
                f"Export bundle {source}: {name} has sha256 {actual.sha256[:12]}… and "
                f"{actual.size_bytes} bytes, but export.json expects {want_sha[:12] or '?'}… "
                f"and {want_size} bytes. The file changed after export or the copy is broken; "
                "copy the bundle again or re-export it."
            )
