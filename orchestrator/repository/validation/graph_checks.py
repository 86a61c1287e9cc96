"""Config-versus-graph checks: what the onnxruntime backend refuses when it loads a version.

The rules are ``orchestrator.core.load_rules``, the very code the local stand-in backend
runs inside Triton, so a finding here is a refusal there (and, by the agreement tests, in
production's backend). Warnings name what Triton's auto-complete would have filled in.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.load_rules import config_problems
from orchestrator.core.model_config import config_as_dict
from orchestrator.core.onnx_signature import Signature
from orchestrator.repository.validation.config_checks import LoadedModel

__all__ = ["graph_findings"]

logger = logging.getLogger(__name__)

_MAX_BATCH_SIZE_FIELD = re.compile(r"(?:^|[\s{])max_batch_size\s*:")


def graph_findings(
    model: LoadedModel, signature: Signature, model_file: Path, severity: Severity, unserved: str
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
        found.append(
            new_finding(
                "autocomplete-max-batch-size",
                "warning",
                model.config_path,
                "the config has no max_batch_size although the graph has a batch axis; "
                "auto-complete would enable batching, production (auto-complete off) does not",
                "Write max_batch_size explicitly (e.g. 64) with dims excluding the batch dim.",
            )
        )
    return found


def _problem_line(text: str, message: str) -> int | None:
    # The backend's messages name the tensor as 'name'; point at its config entry.
    parts = message.split("'")
    for candidate in parts[3:4] + parts[1:2]:
        line = line_of(text, f'"{candidate}"')
        if line is not None:
            return line
    return None
