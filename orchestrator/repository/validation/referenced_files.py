"""Files a config names that Triton 24.10 opens when it loads the model.

Each one missing is a refusal, found here with the path Triton would open:

* ``label_filename`` of an output: ``Model::Init`` reads ``<model>/<label_filename>``
  (``LabelProvider::AddLabels``, "failed to open text file for read ..."), for every
  backend and for ensembles. A name that leaves the model folder (``../``) is read by
  24.10 (seen locally) but refused by newer cores (``IsChildPathEscapingParentPath``): a
  warning, not looked at.
* ``model_warmup`` ``input_data_file``: ``TritonModelInstance::GenerateWarmupData`` reads
  ``<model>/warmup/<input_data_file>`` and refuses a file shorter than one sample of the
  input ("warmup setting expects N bytes, but the data provided from F only has M bytes").
* ``cc_model_filenames``: the backend utilities' ``BackendModelInstance`` loads
  ``<version>/<cc_model_filenames[cc]>`` instead of the default file on a GPU of compute
  capability ``cc``; which GPU production has is not known here, so every file listed
  must exist in every served version when the model has GPU instances.
* The model file of a backend other than onnxruntime (checked in ``versions``): after
  core's autofill, ``<version>/<default_model_filename>``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.model_config import DataType, InstanceKind, ModelConfig
from orchestrator.repository.validation.config_checks import LoadedModel

__all__ = ["WARMUP_FOLDER", "cc_file_findings", "label_findings", "warmup_findings"]


logger = logging.getLogger(__name__)

WARMUP_FOLDER = "warmup"

# Triton's GetDataTypeByteSize; TYPE_STRING has none (a warmup file of any size is used).
_BYTE_SIZE = {
    DataType.TYPE_BOOL: 1, DataType.TYPE_UINT8: 1, DataType.TYPE_UINT16: 2,
    DataType.TYPE_UINT32: 4, DataType.TYPE_UINT64: 8, DataType.TYPE_INT8: 1,
    DataType.TYPE_INT16: 2, DataType.TYPE_INT32: 4, DataType.TYPE_INT64: 8,
    DataType.TYPE_FP16: 2, DataType.TYPE_FP32: 4, DataType.TYPE_FP64: 8,
    DataType.TYPE_BF16: 2,
}  # fmt: skip


def _file_size(path: Path) -> int | None:
    """The size of a regular file at ``path``, or None when there is none to read."""
    try:
        return path.stat().st_size if path.is_file() else None
    except OSError:
        return None


def label_findings(model: LoadedModel) -> list[Finding]:
    """Every output ``label_filename`` that is not a file in the model folder.

    Example:
        >>> [f.code for f in label_findings(model)]  # doctest: +SKIP
        ['label-file-missing']
    """
    found = []
    for output in model.config.output:
        if not output.label_filename:
            continue
        path = model.folder / output.label_filename
        if _escapes(model.folder, path):
            found.append(
                new_finding(
                    "label-file-outside",
                    "warning",
                    model.config_path,
                    f"output '{output.name}' reads labels from {output.label_filename!r}, "
                    "outside the model folder: Triton 24.10 reads it, newer releases refuse "
                    "the model, and a release copies only the model folder",
                    "Keep the labels file in the model folder.",
                    line_of(model.text, output.label_filename),
                )
            )
            continue
        if _file_size(path) is None:
            found.append(
                new_finding(
                    "label-file-missing",
                    "error",
                    model.config_path,
                    f"output '{output.name}' names label_filename {output.label_filename!r}, "
                    f"but {path} is not a file; Triton reads it when it loads the model",
                    "Put the labels file in the model folder (beside config.pbtxt), or "
                    "remove label_filename.",
                    line_of(model.text, output.label_filename),
                )
            )
    return found


def warmup_findings(model: LoadedModel) -> list[Finding]:
    """Warmup ``input_data_file`` entries that are missing from ``<model>/warmup/`` or short.

    Example:
        >>> [f.code for f in warmup_findings(model)]  # doctest: +SKIP
        ['warmup-data-missing']
    """
    found = []
    for warmup in model.config.model_warmup:
        for name, data in sorted(warmup.inputs.items()):
            if data.WhichOneof("input_data_type") != "input_data_file":
                continue
            path = model.folder / WARMUP_FOLDER / data.input_data_file
            line = line_of(model.text, data.input_data_file)
            size = _file_size(path)
            if size is None:
                found.append(
                    new_finding(
                        "warmup-data-missing",
                        "error",
                        model.config_path,
                        f"warmup {warmup.name!r} input '{name}' reads {path}, which is not a file",
                        f"Put {data.input_data_file!r} in {model.folder / WARMUP_FOLDER}/, or "
                        "use zero_data / random_data.",
                        line,
                    )
                )
                continue
            needed = _sample_bytes(data.data_type, list(data.dims))
            if needed is not None and size < needed:
                found.append(
                    new_finding(
                        "warmup-data-short",
                        "error",
                        model.config_path,
                        f"warmup {warmup.name!r} input '{name}' needs {needed} bytes (dims "
                        f"{list(data.dims)}), but {path} has {size}",
                        "Write one full sample of the input, raw and in the input's type.",
                        line,
                    )
                )
    return found


def _escapes(folder: Path, path: Path) -> bool:
    """Whether ``path`` (a name from a config) leaves ``folder``; links are not followed."""
    parts: list[str] = []
    for part in path.relative_to(folder).parts if path.is_relative_to(folder) else ("..",):
        if part == "..":
            if not parts:
                return True
            parts.pop()
        elif part != ".":
            parts.append(part)
    return False


def _sample_bytes(data_type: int, dims: list[int]) -> int | None:
    """Bytes of one warmup sample: element count times the type's size; None if unknown."""
    size = _BYTE_SIZE.get(data_type)
    if size is None or any(d < 0 for d in dims):
        return None  # strings take any size; variable dims are refused elsewhere
    count = 1
    for dim in dims:
        count *= dim
    return count * size


def _has_gpu_instances(config: ModelConfig) -> bool:
    # No instance_group means one group of the default kind, a GPU one on a GPU machine.
    groups = config.instance_group
    return not groups or any(
        g.kind in (InstanceKind.KIND_GPU, InstanceKind.KIND_AUTO) for g in groups
    )


def cc_file_findings(
    model: LoadedModel, version_dir: Path, severity: Severity, unserved: str
) -> list[Finding]:
    """``cc_model_filenames`` entries missing from one version folder.

    Example:
        >>> [f.code for f in cc_file_findings(model, path, "error", "")]  # doctest: +SKIP
        ['cc-model-file-missing']
    """
    if not model.config.cc_model_filenames:
        return []
    gpu = _has_gpu_instances(model.config)
    found = []
    for cc, filename in sorted(model.config.cc_model_filenames.items()):
        path = version_dir / filename
        if path.exists():
            continue
        found.append(
            new_finding(
                "cc-model-file-missing",
                severity if gpu else "warning",
                path,
                f"cc_model_filenames names {filename!r} for GPUs of compute capability {cc}, "
                f"but the version has no such file{unserved}"
                + ("" if gpu else " (unused: the model has no GPU instances)"),
                "Copy the file into the version folder, or remove the entry.",
            )
        )
    return found
