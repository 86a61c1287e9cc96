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

from orchestrator.core import untrusted
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.findings import Finding, line_of, new_finding
from orchestrator.core.model_config import CONFIG_FILENAME, ModelConfig, parse_config
from orchestrator.core.names import MODEL_NAME_RULE, is_model_name
from orchestrator.errors import ConfigSyntaxError, RepositoryError, UnsafeFileError
from orchestrator.repository.compatibility import DEFAULT_TRITON_RELEASE, runtime_for
from orchestrator.repository.layout import served_versions, unreadable_reason
from orchestrator.repository.validation.config_checks import (
    ONNX_BACKEND,
    LoadedModel,
    backend_fields,
    core_findings,
    io_shape_findings,
)
from orchestrator.repository.validation.ensembles import ENSEMBLE_PLATFORM, ensemble_findings
from orchestrator.repository.validation.golden_checks import golden_findings
from orchestrator.repository.validation.python_checks import (
    PYTHON_BACKEND,
    python_model_findings,
)
from orchestrator.repository.validation.referenced_files import label_findings, warmup_findings
from orchestrator.repository.validation.tree_checks import model_tree_findings, unsafe_finding
from orchestrator.repository.validation.versions import (
    unreadable_folder,
    version_findings,
    version_folders,
)
from orchestrator.repository.validation.warmup_checks import warmup_request_findings

__all__ = ["Finding", "validate_repository"]

logger = logging.getLogger(__name__)


def validate_repository(
    root: Path,
    *,
    triton_release: str = DEFAULT_TRITON_RELEASE,
    auto_complete: bool = False,
    digests: DigestCache | None = None,
) -> list[Finding]:
    """Find everything Triton would refuse in a model repository, offline.

    Args:
        root: the repository (``<root>/<model>/config.pbtxt``, ``<root>/<model>/<N>/``).
        triton_release: the production Triton release, for ONNX Runtime compatibility.
        auto_complete: judge for a server started without
            ``--disable-auto-complete-config`` (Triton's default): a model folder may lack
            config.pbtxt, and the onnxruntime backend completes missing inputs, outputs and
            max_batch_size from the graph. The default is production's: off.
        digests: the repository's digest cache: unchanged files are not read again, for
            each version's ``manifest.json`` nor for each graph's signature (None reads
            every file).

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
        entries = untrusted.entries(root)
    except UnsafeFileError as exc:
        raise RepositoryError(
            f"Cannot list model repository {root}: {exc}. Check its permissions."
        ) from exc
    findings: list[Finding] = []
    models: dict[str, LoadedModel] = {}
    for entry in entries:
        if entry.kind == "link":
            findings.append(_linked_model(root, entry))
        if entry.kind != "folder":
            continue  # Triton looks at folders only
        findings += model_tree_findings(root, entry.name)
        model, found = _load_model(root / entry.name, auto_complete)
        findings += found
        if model is not None:
            models[model.name] = model
    configs = {name: m.config for name, m in models.items()}
    served = {
        name: served_versions(m.config, version_folders(m.folder)[0]) for name, m in models.items()
    }
    for model in models.values():
        findings += _model_findings(model, configs, served, triton_release, auto_complete, digests)
    return sorted(findings, key=lambda f: (str(f.path), f.line or 0, f.code))


def _model_findings(
    model: LoadedModel,
    configs: dict[str, ModelConfig],
    served: dict[str, list[int]],
    triton_release: str,
    auto_complete: bool,
    digests: DigestCache | None,
) -> list[Finding]:
    """One model's findings, in the order Triton meets them (it stops at the first)."""
    if model.config.platform == ENSEMBLE_PLATFORM:
        found = io_shape_findings(model)
        found += ensemble_findings(model.config_path, model.text, model.config, configs, served)
        found += version_findings(model, triton_release, graph_checks=False, digests=digests)
        return found if any(f.is_error for f in found) else found + label_findings(model)
    backend = backend_fields(model).backend
    core = core_findings(model, auto_complete=auto_complete)
    if backend == PYTHON_BACKEND:
        core += python_model_findings(model)
    elif backend and backend != ONNX_BACKEND:
        core.append(_unchecked_backend(model, backend))
    if any(f.is_error for f in core):
        # Triton refuses the config before it looks at the versions or the files.
        return core + version_findings(model, triton_release, graph_checks=False, digests=digests)
    found = core + version_findings(
        model, triton_release, graph_checks=True, auto_complete=auto_complete, digests=digests
    )
    found += golden_findings(model, digests)  # what every pod's startup probe would refuse
    # Model::Init reads the labels, each instance the warmup data, whatever the backend.
    return found + label_findings(model) + warmup_findings(model) + warmup_request_findings(model)


def _unchecked_backend(model: LoadedModel, backend: str) -> Finding:
    return new_finding(
        "backend-unchecked",
        "warning",
        model.config_path,
        f"backend {backend!r} is not checked against its model files (only "
        "onnxruntime and python models and ensembles are)",
        "Load it in a local Triton (`orchestrator serve`) to check it.",
        line_of(model.text, "backend"),
    )


# -- config.pbtxt ------------------------------------------------------------------------


def _linked_model(root: Path, entry: untrusted.Entry) -> Finding:
    try:
        untrusted.require_kind(root, entry, "folder")
    except UnsafeFileError as exc:
        return unsafe_finding(exc)
    raise AssertionError("a link is never a folder")  # pragma: no cover


def _load_model(folder: Path, auto_complete: bool) -> tuple[LoadedModel | None, list[Finding]]:
    reason = unreadable_reason(folder)
    if reason is not None:
        return None, [unreadable_folder(folder, "model folder", reason)]
    path = folder / CONFIG_FILENAME
    findings = _name_findings(folder)
    try:
        kind = untrusted.kind_of(folder.parent, f"{folder.name}/{CONFIG_FILENAME}")
    except UnsafeFileError:
        return None, findings  # an unreadable model folder: model_tree_findings reported it
    if kind in ("link", "special"):
        return None, findings  # model_tree_findings reported it; nothing is read from it
    if kind is None and auto_complete:
        # "model config can be missing if auto fill is set" (ModelRepositoryManager): the
        # config starts empty, named after the folder.
        return LoadedModel(folder.name, folder, path, "", ModelConfig(name=folder.name)), [
            *findings,
            new_finding(
                "autocomplete-config",
                "warning",
                folder,
                f"model folder {folder.name!r} has no {CONFIG_FILENAME}; a server with "
                "auto-complete builds the config from the files, production "
                "(--disable-auto-complete-config) refuses the model",
                "Generate one with `orchestrator publish`.",
            ),
        ]
    if kind is None:
        return None, findings + [
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
        raw = untrusted.read_bytes(
            folder.parent, f"{folder.name}/{CONFIG_FILENAME}", max_bytes=untrusted.CONFIG_MAX_BYTES
        )
    except UnsafeFileError as exc:
        if exc.reason in ("too-large", "outside"):
            return None, [*findings, unsafe_finding(exc)]
        return None, [*findings, _config_unreadable(path, str(exc).split(". ", 1)[0])]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [*findings, _config_unreadable(path, f"not UTF-8 text ({exc.reason})")]
    try:
        config = parse_config(text, path)
    except ConfigSyntaxError as exc:
        message = str(exc).split(": ", 1)[-1].split(". Expected", 1)[0]
        return None, [
            *findings,
            new_finding(
                "config-syntax",
                "error",
                path,
                message,
                "Fix the field (names and values follow Triton's model_config.proto).",
                exc.line,
            ),
        ]
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


def _name_findings(folder: Path) -> list[Finding]:
    if is_model_name(folder.name):
        return []
    return [
        new_finding(
            "model-name-invalid",
            "error",
            folder,
            f"model folder name {folder.name!r} is not a usable model name: expected "
            f"{MODEL_NAME_RULE}",
            "Rename the folder (and the config's name); clients name the model in URLs, "
            "and `orchestrator serve` and `publish` refuse other names.",
        )
    ]


def _config_unreadable(path: Path, reason: str) -> Finding:
    return new_finding(
        "config-unreadable",
        "error",
        path,
        f"cannot read the model config: {reason}",
        "Expected a readable protobuf text file; regenerate it with "
        "`orchestrator publish --update-config`.",
    )
