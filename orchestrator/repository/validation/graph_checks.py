"""Config-versus-graph checks: what the onnxruntime backend refuses when it loads a version.

The rules are ``orchestrator.core.load_rules``, the very code the local stand-in backend
runs inside Triton, so a finding here is a refusal there (and, by the agreement tests, in
production's backend). Warnings name what Triton's auto-complete would have filled in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.load_rules import autocomplete_config, config_problems, needs_autocomplete
from orchestrator.core.model_config import config_as_dict, config_from_dict
from orchestrator.core.onnx_signature import Signature
from orchestrator.repository.validation.config_checks import LoadedModel, io_shape_findings

__all__ = ["autocompleted_findings", "graph_findings"]

logger = logging.getLogger(__name__)

_MAX_BATCH_SIZE_FIELD = re.compile(r"(?:^|[\s{])max_batch_size\s*:")


def graph_findings(
    model: LoadedModel,
    signature: Signature,
    model_file: Path,
    severity: Severity,
    unserved: str,
    *,
    auto_complete: bool = False,
) -> list[Finding]:
    """What the onnxruntime backend refuses when it compares a config with its graph.

    Non-tensor graph inputs and outputs first (nothing else is compared then), then every
    ``load_rules.config_problems`` as a finding at the tensor's config line, then what
    only auto-complete would have filled in (a warning: production runs without it).

    Args:
        model: the model whose config is checked.
        signature: the graph of one of its versions.
        model_file: that version's ONNX file, named in the findings.
        severity: ``error`` for a served version, ``warning`` for one Triton skips.
        unserved: appended to each message for a version Triton skips ("" when served).
        auto_complete: judge for a server with auto-complete on (``autocompleted_findings``
            has completed the config already; no warnings about what it would fill in).

    Example:
        >>> [f.code for f in graph_findings(model, signature, path, "error", "")]  # doctest: +SKIP
        ['dtype-mismatch']
    """
    found = []
    for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
        for tensor in tensors:
            if not tensor.is_tensor:
                found.append(
                    new_finding(
                        "unsupported-tensor-type",
                        severity,
                        model_file,
                        f"graph {kind} '{tensor.name}' has type {tensor.onnx_type}; the "
                        f"onnxruntime backend serves tensors only{unserved}",
                        "Export without sequence or map outputs (scikit-learn classifiers: "
                        "options={'zipmap': False}).",
                    )
                )
    if found:
        return found
    config = config_as_dict(model.config)
    for problem in config_problems(config, *signature.backend_tensors()):
        found.append(
            new_finding(
                problem.code,
                severity,
                model.config_path,
                f"{problem}{unserved} (graph {model_file})",
                "Regenerate the config from the graph (`orchestrator publish --update-config`)"
                " or re-export the graph to match it.",
                _problem_line(model.text, str(problem)),
            )
        )
    if auto_complete:
        return found
    if not model.config.output and signature.outputs:
        found.append(
            new_finding(
                "autocomplete-io",
                "warning",
                model.config_path,
                "the config lists no outputs, so Triton serves none; auto-complete would add "
                f"the graph's ({', '.join(t.name for t in signature.outputs)}), production "
                "(auto-complete off) does not",
                "List the outputs (`orchestrator publish --update-config` regenerates them).",
            )
        )
    written = _MAX_BATCH_SIZE_FIELD.search(model.text) is not None
    if not found and not written and signature.supports_batching:
        # The backend's AutoCompleteConfig returns early when inputs and outputs are given.
        would = needs_autocomplete(config)
        found.append(
            new_finding(
                "autocomplete-max-batch-size",
                "warning",
                model.config_path,
                "the config has no max_batch_size although the graph has a batch axis, so "
                "Triton does not batch; "
                + (
                    "auto-complete would enable batching, production (auto-complete off) does not"
                    if would
                    else "auto-complete would not change that either (inputs and outputs are given)"
                ),
                "Write max_batch_size explicitly (e.g. 64) with dims excluding the batch dim.",
            )
        )
    return found


def autocompleted_findings(
    model: LoadedModel, signature: Signature, model_file: Path, severity: Severity, unserved: str
) -> list[Finding]:
    """What a server with auto-complete on refuses, after completing the config from the graph.

    The onnxruntime backend completes a config without inputs or outputs from each version's
    graph (``load_rules.autocomplete_config``); core then validates the completed inputs and
    outputs (``Model::Init`` -> ``ValidateModelIOConfig``) and the backend compares them with
    the graph. A config with inputs and outputs is judged as it is.

    Example:
        >>> found = autocompleted_findings(model, signature, path, "error", "")  # doctest: +SKIP
        >>> [f.code for f in found]  # doctest: +SKIP
        ['autocomplete-io']
    """
    config = config_as_dict(model.config)
    if not needs_autocomplete(config):
        return graph_findings(model, signature, model_file, severity, unserved, auto_complete=True)
    inputs, outputs, _ = signature.backend_tensors()
    completed, problems = autocomplete_config(config, inputs, outputs)
    if problems:
        return [
            new_finding(
                p.code,
                severity,
                model.config_path,
                f"{p}{unserved} (graph {model_file})",
                "Set max_batch_size: 0 for a graph without a dynamic leading dimension, or "
                "export one.",
                line_of(model.text, "max_batch_size"),
            )
            for p in problems
        ]
    filled = replace(model, config=config_from_dict(completed))
    found = [
        new_finding(
            "autocomplete-io",
            "warning",
            model.config_path,
            f"auto-complete fills in the config from {model_file.name}: max_batch_size "
            f"{filled.config.max_batch_size}, inputs "
            f"{[i.name for i in filled.config.input]}, outputs "
            f"{[o.name for o in filled.config.output]}{unserved}",
            "Write them into config.pbtxt (`orchestrator publish --update-config`): production "
            "runs with auto-complete off.",
        )
    ]
    shape = [replace(f, severity=severity) for f in io_shape_findings(filled)]
    if any(f.is_error for f in shape) or (shape and severity == "warning"):
        return found + shape
    return found + graph_findings(
        filled, signature, model_file, severity, unserved, auto_complete=True
    )


def _problem_line(text: str, message: str) -> int | None:
    # The backend's messages name the tensor as 'name'; point at its config entry.
    parts = message.split("'")
    for candidate in parts[3:4] + parts[1:2]:
        line = line_of(text, f'"{candidate}"')
        if line is not None:
            return line
    return None
