"""Each ``model_warmup`` entry checked as the request Triton 24.10 builds from it.

Core r24.10 ``src/backend_model_instance.cc`` ``TritonModelInstance::GenerateWarmupData``
builds ``batch_size`` requests per entry (none for ``batch_size: 0``):

1. it refuses dims with -1 ("warmup setting expects all variable-size dimensions are
   specified") and an input without a data source;
2. it adds each input whose name is a config input as an *original* input with ``[1] +
   dims`` when ``max_batch_size > 0``, any other name as an *override* input (how
   sequence control tensors are warmed up);
3. then ``PrepareForInference`` runs ``InferenceRequest::Normalize``
   (``src/infer_request.cc``), the normal request checks:

   - ``ValidateRequestInputs``: every non-optional config input present;
   - the data type and the dims of each original input against the config (-1 in the
     config matches any size);
   - for ``TYPE_STRING`` data from a file, ``ValidateBytesInputs``: exactly one
     length-prefixed element per element of the shape.

Any failure stops the instance, so the model.

The missing and short ``input_data_file`` checks are in ``referenced_files``.
"""

from __future__ import annotations

import logging
import struct

from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.model_config import DataType, WarmupInput, data_type_name
from orchestrator.repository.validation.config_checks import ONNX_BACKEND, LoadedModel, backend_of
from orchestrator.repository.validation.referenced_files import WARMUP_FOLDER

__all__ = ["warmup_request_findings"]

logger = logging.getLogger(__name__)

_STRING_FILE_MAX_BYTES = 64 * 1024 * 1024


def warmup_request_findings(model: LoadedModel) -> list[Finding]:
    """Every warmup entry that Triton's request checks would refuse.

    Example:
        >>> [f.code for f in warmup_request_findings(model)]  # doctest: +SKIP
        ['warmup-input-missing']
    """
    inputs = {io.name: io for io in model.config.input}
    found: list[Finding] = []
    for warmup in model.config.model_warmup:
        if warmup.batch_size == 0:
            continue  # "Skipping batch 0 warmup sample"
        where = f"warmup {warmup.name!r}"
        for name, data in sorted(warmup.inputs.items()):
            found += _input_findings(model, where, name, data)
        # ValidateRequestInputs: every non-optional config input must be in the request.
        missing = [n for n, io in inputs.items() if not io.optional and n not in warmup.inputs]
        if missing:
            found.append(
                _finding(
                    model,
                    "warmup-input-missing",
                    f"{where} lacks the model's required input(s) {missing}; Triton refuses a "
                    "request without them",
                    "Add every non-optional input to the warmup entry.",
                    "model_warmup",
                )
            )
    return found


def _finding(
    model: LoadedModel, code: str, message: str, hint: str, needle: str, error: bool = True
) -> Finding:
    severity: Severity = "error" if error else "warning"
    return new_finding(
        code, severity, model.config_path, message, hint, line_of(model.text, needle)
    )


def _input_findings(model: LoadedModel, where: str, name: str, data: WarmupInput) -> list[Finding]:
    config = model.config
    dims = list(data.dims)
    needle = f'"{name}"'
    found = []
    if any(d == -1 for d in dims):
        found.append(
            _finding(
                model,
                "warmup-invalid",
                f"{where} input '{name}' has dims {dims}; warmup needs every size given",
                "Replace -1 by a concrete size.",
                needle,
            )
        )
    if data.WhichOneof("input_data_type") is None:
        found.append(
            _finding(
                model,
                "warmup-invalid",
                f"{where} input '{name}' sets none of zero_data, random_data, input_data_file",
                "Add zero_data: true (or random_data / input_data_file).",
                needle,
            )
        )
    io = next((i for i in config.input if i.name == name), None)
    if io is None:
        if name in {c.name for c in config.sequence_batching.control_input}:
            return found
        # Not a config input: an override input, handed to the backend as it is.
        # onnxruntime_backend r24.10 src/onnxruntime.cc SetInputTensors feeds every request
        # input to ONNX Runtime, which refuses a name the graph lacks.
        onnx = backend_of(model) == ONNX_BACKEND
        found.append(
            _finding(
                model,
                "warmup-input-unknown",
                f"{where} feeds '{name}', which is no input of the model (inputs: "
                f"{[i.name for i in config.input]}); Triton passes it to the backend as it is"
                + ("; ONNX Runtime refuses an input the graph lacks" if onnx else ""),
                "Name the model's inputs in the warmup entry.",
                needle,
                error=onnx,
            )
        )
        return found
    if data.data_type != io.data_type:
        found.append(
            _finding(
                model,
                "warmup-invalid",
                f"{where} input '{name}' is {data_type_name(data.data_type)}, but the "
                f"model expects {data_type_name(io.data_type)}",
                "Give the warmup input the config input's data_type.",
                needle,
            )
        )
    if not _dims_match(list(io.dims), dims):
        batch = "[1] + " if config.max_batch_size > 0 else ""
        found.append(
            _finding(
                model,
                "warmup-invalid",
                f"{where} input '{name}' has dims {dims} (request shape {batch}{dims}), "
                f"but the model expects dims {list(io.dims)}",
                "Give the warmup input the config input's dims, without the batch "
                "dimension (-1 in the config takes any size).",
                needle,
            )
        )
    elif data.data_type == DataType.TYPE_STRING == io.data_type:
        found += _string_file_findings(model, where, name, data, dims)
    return found


def _dims_match(config_dims: list[int], dims: list[int]) -> bool:
    return len(config_dims) == len(dims) and all(
        c == -1 or c == d for c, d in zip(config_dims, dims, strict=True)
    )


def _string_file_findings(
    model: LoadedModel, where: str, name: str, data: WarmupInput, dims: list[int]
) -> list[Finding]:
    """``ValidateBytesInputs`` on a warmup file: one length-prefixed element per element."""
    if data.WhichOneof("input_data_type") != "input_data_file":
        return []
    path = model.folder / WARMUP_FOLDER / data.input_data_file
    try:
        if not path.is_file() or path.stat().st_size > _STRING_FILE_MAX_BYTES:
            return []  # missing: referenced_files reports it; huge: not read
        raw = path.read_bytes()
    except OSError:
        return []
    expected = 1
    for dim in dims:
        expected *= dim
    count, offset = 0, 0
    while offset < len(raw):
        if len(raw) - offset < 4:
            count = -1  # "incomplete string length indicator"
            break
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4 + length
        count += 1
    if count == expected and offset >= len(raw):
        return []
    return [
        new_finding(
            "warmup-data-invalid",
            "error",
            model.config_path,
            f"{where} input '{name}' reads {path} as {expected} TYPE_STRING element(s), each "
            "a 4-byte little-endian length and the bytes; the file holds "
            + ("an incomplete length" if count < 0 else f"{count}"),
            "Write exactly one length-prefixed element per element of the dims.",
            line_of(model.text, data.input_data_file),
        )
    ]
