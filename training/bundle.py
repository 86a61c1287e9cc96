"""The export bundle on disk: ``model.onnx``, ``export.json``, ``golden.npz``.

Written into a temporary sibling folder and renamed into place, so an interrupted export
leaves either the old bundle or the new one, never half of one. ``export.json`` is
written last in the temporary folder and lists the sha256 and size of every other file.

Imports neither torch nor ONNX Runtime: ``orchestrator`` code and tests can read bundles
without the ``train`` extra. ``golden.npz`` and file digests follow ``orchestrator.core``'s
one definition of each (``core.golden``, ``core.digest``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx

from orchestrator.core.digest import file_digest
from orchestrator.core.golden import GOLDEN_FILENAME, write_golden
from orchestrator.core.load_rules import TRITON_TO_ONNX
from orchestrator.core.onnx_signature import TensorSignature, signature_from_bytes
from orchestrator.errors import ConfigError, TrainingError

__all__ = [
    "BUNDLE_FILES",
    "EXPORT_JSON",
    "MODEL_ONNX",
    "MODEL_PLAN",
    "check_out_dir",
    "git_lineage",
    "read_bundle",
    "signature_from_onnx",
    "write_bundle",
]

logger = logging.getLogger(__name__)

MODEL_ONNX = "model.onnx"
MODEL_PLAN = "model.plan"
EXPORT_JSON = "export.json"
BUNDLE_FILES = (MODEL_ONNX, EXPORT_JSON, GOLDEN_FILENAME, MODEL_PLAN)


def signature_from_onnx(proto: onnx.ModelProto) -> dict[str, list[dict[str, Any]]]:
    """Return the graph's inputs and outputs with Triton dtype names; symbolic dims are -1.

    Read by ``orchestrator.core.onnx_signature``, the one reader of ONNX signatures, so a
    bundle names exactly the types Triton's onnxruntime backend serves. Initializers
    listed as graph inputs (old exporters do that) are not inputs.

    Raises:
        TrainingError: a tensor has a type Triton cannot serve.

    Example:
        >>> signature_from_onnx(onnx.load("model.onnx"))["inputs"]
        [{'name': 'input', 'dtype': 'FP32', 'shape': [-1, 1, 8, 8]}]
    """
    try:
        signature = signature_from_bytes(proto.SerializeToString(), "the exported graph")
    except ConfigError as exc:
        raise TrainingError(f"Cannot read the exported graph's signature: {exc}") from exc
    return {
        "inputs": [_tensor_signature(t) for t in signature.inputs],
        "outputs": [_tensor_signature(t) for t in signature.outputs],
    }


def _tensor_signature(tensor: TensorSignature) -> dict[str, Any]:
    dtype = tensor.triton_dtype
    if dtype is None:
        served = sorted({t.removeprefix("TYPE_") for t in TRITON_TO_ONNX})
        raise TrainingError(
            f"Tensor {tensor.name!r} has ONNX type {tensor.onnx_type}, which Triton's "
            f"onnxruntime backend cannot serve. Expected one of: {', '.join(served)}."
        )
    return {"name": tensor.name, "dtype": dtype, "shape": list(tensor.dims)}


def git_lineage(path: Path) -> dict[str, Any]:
    """Return ``{"commit", "dirty"}`` of the git checkout holding ``path``.

    ``dirty`` means tracked files differ from the commit (untracked files do not count,
    as with ``git describe --dirty``). Both are ``None`` outside a git checkout, e.g. in a
    Kaggle notebook running an installed copy of the package.

    Example:
        >>> git_lineage(Path("training"))["dirty"]
        False
    """
    try:
        commit = _git(path, "rev-parse", "HEAD")
        status = _git(path, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        logger.info("No git checkout at %s; export.json records no commit", path)
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status)}


def _git(path: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(path), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def check_out_dir(out_dir: Path, *, force: bool) -> None:
    """Refuse an output folder that holds a bundle (unless ``force``) or unrelated files.

    Called before training, so a run that would be refused at the end fails at once.

    Raises:
        TrainingError: the folder is not one the export may (re)place.

    Example:
        >>> check_out_dir(Path("models/exports/digits_cnn"), force=False)
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise TrainingError(
            f"Output path {out_dir} exists and is not a folder. Choose a new folder path."
        )
    present = sorted(p.name for p in out_dir.iterdir())
    if not present:
        return
    foreign = [name for name in present if name not in BUNDLE_FILES]
    if foreign:
        raise TrainingError(
            f"Output folder {out_dir} holds files that are not part of an export bundle: "
            f"{', '.join(foreign[:5])}. It would be replaced as a whole; choose an empty "
            f"or new folder (a bundle holds only {', '.join(BUNDLE_FILES)})."
        )
    if not force:
        raise TrainingError(
            f"Output folder {out_dir} already holds a bundle ({', '.join(present)}). "
            "An export never overwrites a bundle unasked: pass --force (force=True) to "
            "replace it, or choose another folder."
        )


def write_bundle(
    out_dir: Path,
    *,
    onnx_bytes: bytes,
    golden_inputs: Mapping[str, npt.NDArray[Any]],
    golden_outputs: Mapping[str, npt.NDArray[Any]],
    metadata: Mapping[str, Any],
    extra_files: Mapping[str, bytes] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write a bundle atomically: a temporary sibling folder, then one rename.

    Args:
        out_dir: the bundle folder to create (or replace, with ``force``).
        onnx_bytes: the checked, parity-gated ONNX model.
        golden_inputs: ``{input name: array}`` of real held-out rows.
        golden_outputs: ``{output name: array}`` that ONNX Runtime returned for them.
        metadata: everything ``export.json`` holds except ``files``, which this adds.
        extra_files: more files for the bundle, e.g. ``{"model.plan": plan_bytes}``.
        force: replace an existing bundle.

    Returns:
        The ``export.json`` content as written.

    Raises:
        TrainingError: the folder is refused (see ``check_out_dir``) or cannot be written.

    Example:
        >>> write_bundle(Path("out/digits_cnn"), onnx_bytes=b, golden_inputs=gi,
        ...              golden_outputs=go, metadata={"model_name": "digits_cnn"})["files"]
    """
    check_out_dir(out_dir, force=force)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    except OSError as exc:
        raise TrainingError(
            f"Cannot create a staging folder beside {out_dir}: {exc}. "
            "Check that the parent folder is writable."
        ) from exc
    try:
        export = _fill_staging(
            staging, onnx_bytes, golden_inputs, golden_outputs, metadata, extra_files or {}
        )
        _swap_into_place(staging, out_dir)
    except OSError as exc:
        raise TrainingError(
            f"Writing the bundle to {out_dir} failed: {exc}. Nothing was left half-written."
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Wrote export bundle %s", out_dir)
    return export


def _fill_staging(
    staging: Path,
    onnx_bytes: bytes,
    golden_inputs: Mapping[str, npt.NDArray[Any]],
    golden_outputs: Mapping[str, npt.NDArray[Any]],
    metadata: Mapping[str, Any],
    extra_files: Mapping[str, bytes],
) -> dict[str, Any]:
    (staging / MODEL_ONNX).write_bytes(onnx_bytes)
    write_golden(staging / GOLDEN_FILENAME, golden_inputs, golden_outputs)
    for name, content in extra_files.items():
        (staging / name).write_bytes(content)
    files = {path.name: _file_entry(path) for path in sorted(staging.iterdir())}
    export = {**metadata, "files": files}
    # Written last: a staging folder with export.json in it is complete.
    (staging / EXPORT_JSON).write_text(json.dumps(export, indent=2, sort_keys=True) + "\n")
    for path in staging.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
    return export


def _file_entry(path: Path) -> dict[str, Any]:
    # export.json's form of a file's digest: {"sha256": hex, "size_bytes": n}.
    digest = file_digest(path)
    return {"sha256": digest.sha256, "size_bytes": digest.size_bytes}


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    # check_out_dir allowed it: an empty folder, or a bundle with --force.
    retired = out_dir.with_name(f".{out_dir.name}.old-{staging.name.rsplit('.', 1)[-1]}")
    out_dir.rename(retired)
    try:
        staging.rename(out_dir)
    except OSError:
        retired.rename(out_dir)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def read_bundle(bundle_dir: Path) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """Read and verify a bundle: every file listed in ``export.json`` with its sha256.

    Returns:
        ``(export.json content, golden arrays keyed "inputs/<name>" and "outputs/<name>")``.

    Raises:
        TrainingError: a file is missing, or its size or sha256 differs from ``export.json``.

    Example:
        >>> export, golden = read_bundle(Path("models/exports/digits_cnn"))
        >>> golden["inputs/input"].shape
        (16, 1, 8, 8)
    """
    try:
        export: dict[str, Any] = json.loads((bundle_dir / EXPORT_JSON).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TrainingError(
            f"Cannot read {bundle_dir / EXPORT_JSON}: {exc}. Expected an export bundle made "
            "by 'python -m training'."
        ) from exc
    for name, expected in export.get("files", {}).items():
        path = bundle_dir / name
        if not path.is_file():
            raise TrainingError(f"Bundle {bundle_dir} lists {name} but the file is missing.")
        actual = _file_entry(path)
        if actual != expected:
            raise TrainingError(
                f"{path} has sha256 {actual['sha256']} and {actual['size_bytes']} bytes; "
                f"export.json expects {expected['sha256']} and {expected['size_bytes']} bytes. "
                "The file changed after export; export the model again."
            )
    with np.load(bundle_dir / GOLDEN_FILENAME) as golden:
        arrays = {key: golden[key] for key in golden.files}
    return export, arrays
