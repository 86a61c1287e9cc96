"""Offline validation: everything Triton 2.51 with the onnxruntime backend would refuse.

``validate_repository(root)`` walks ``<root>/<model>/config.pbtxt`` and the version
folders, and returns ``Finding``s. A finding is an *error* exactly where Triton would
refuse to load the model (checks mirror Triton core's ``ValidateModelConfig``,
``ValidateIOShape``, the repository manager's version and name rules, and the
onnxruntime backend's ``ValidateInputs``/``ValidateOutputs`` through the stand-in
backend's load rules, ``orchestrator.core.load_rules``); everything else worth knowing is
a *warning*. The checks live by noun: ``config_checks`` (Triton core's config rules),
``versions`` (version folders and their files), ``graph_checks`` (config against graph)
and ``ensembles``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from orchestrator.core.findings import Finding, line_of, new_finding
from orchestrator.core.model_config import CONFIG_FILENAME, parse_config
from orchestrator.errors import ConfigSyntaxError, RepositoryError
from orchestrator.repository.compatibility import DEFAULT_TRITON_RELEASE, runtime_for
from orchestrator.repository.layout import is_folder, served_versions, unreadable_reason
from orchestrator.repository.validation.config_checks import (
    ONNX_BACKEND,
    LoadedModel,
    backend_of,
    core_findings,
    io_shape_findings,
)
from orchestrator.repository.validation.ensembles import ENSEMBLE_PLATFORM, ensemble_findings
from orchestrator.repository.validation.versions import (
    unreadable_folder,
    version_findings,
    version_folders,
)

__all__ = ["Finding", "validate_repository"]

logger = logging.getLogger(__name__)


def validate_repository(
    root: Path, *, triton_release: str = DEFAULT_TRITON_RELEASE
) -> list[Finding]:
    """Find everything Triton would refuse in a model repository, offline.

    Args:
        root: the repository (``<root>/<model>/config.pbtxt``, ``<root>/<model>/<N>/``).
        triton_release: the production Triton release, for ONNX Runtime compatibility.

    Returns:
        The findings, sorted by path and line; errors are ``is_error``.

    Raises:
        RepositoryError: ``root`` is not a readable folder.
        ConfigError: ``triton_release`` is unknown.

    Example:
        >>> [str(f) for f in validate_repository(Path("model_repository"))]  # doctest: +SKIP
        []
    """
    runtime_for(triton_release)
    if not root.is_dir():
        raise RepositoryError(
            f"Model repository {root} does not exist or is not a directory. Pass the folder "
            "that holds <model>/config.pbtxt, e.g. model_repository/."
        )
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise RepositoryError(
            f"Cannot list model repository {root}: {exc.strerror or exc}. Check its permissions."
        ) from exc
    findings: list[Finding] = []
    models: dict[str, LoadedModel] = {}
    for entry in entries:
        if not is_folder(entry):
            continue  # Triton looks at folders only
        model, found = _load_model(entry)
        findings += found
        if model is not None:
            models[model.name] = model
    configs = {name: m.config for name, m in models.items()}
    served = {
        name: served_versions(m.config, version_folders(m.folder)[0]) for name, m in models.items()
    }
    for model in models.values():
        if model.config.platform == ENSEMBLE_PLATFORM:
            findings += io_shape_findings(model)
            findings += ensemble_findings(
                model.config_path, model.text, model.config, configs, served
            )
            findings += version_findings(model, triton_release, graph_checks=False)
        elif backend_of(model) not in (ONNX_BACKEND, None):
            findings.append(_unchecked_backend(model))
            findings += version_findings(model, triton_release, graph_checks=False)
        else:
            core = core_findings(model)
            findings += core
            # Triton's core refuses these before the backend compares config and graph.
            core_ok = not any(f.is_error for f in core)
            findings += version_findings(model, triton_release, graph_checks=core_ok)
    return sorted(findings, key=lambda f: (str(f.path), f.line or 0, f.code))


def _unchecked_backend(model: LoadedModel) -> Finding:
    return new_finding(
        "backend-unchecked",
        "warning",
        model.config_path,
        f"backend {backend_of(model)!r} is not checked against its model files (only "
        "onnxruntime models and ensembles are)",
        "Load it in a local Triton (`orchestrator serve`) to check it.",
        line_of(model.text, "backend"),
    )


# -- config.pbtxt ------------------------------------------------------------------------


def _load_model(folder: Path) -> tuple[LoadedModel | None, list[Finding]]:
    reason = unreadable_reason(folder)
    if reason is not None:
        return None, [unreadable_folder(folder, "model folder", reason)]
    path = folder / CONFIG_FILENAME
    if not path.exists() and not path.is_symlink():
        return None, [
            new_finding(
                "config-missing",
                "error",
                folder,
                f"model folder {folder.name!r} has no {CONFIG_FILENAME}",
                "Production runs Triton with --disable-auto-complete-config, which needs a "
                "complete config; generate one with `orchestrator publish`, or move the "
                "folder out of the repository.",
            )
        ]
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        return None, [
            new_finding(
                "config-unreadable",
                "error",
                path,
                f"cannot read the model config: {reason or exc}",
                "Expected a readable protobuf text file; regenerate it with "
                "`orchestrator publish --update-config`.",
            )
        ]
    try:
        config = parse_config(text, path)
    except ConfigSyntaxError as exc:
        message = str(exc).split(": ", 1)[-1].split(". Expected", 1)[0]
        return None, [
            new_finding(
                "config-syntax",
                "error",
                path,
                message,
                "Fix the field (names and values follow Triton's model_config.proto).",
                exc.line,
            )
        ]
    findings = []
    if config.name and config.name != folder.name:
        findings.append(
            new_finding(
                "name-mismatch",
                "error",
                path,
                f"config name {config.name!r} differs from its folder {folder.name!r}",
                f'Set name: "{folder.name}" or rename the folder; Triton requires them equal.',
                line_of(text, "name:", config.name),
            )
        )
    return LoadedModel(folder.name, folder, path, text, config), findings
