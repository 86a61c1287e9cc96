"""Offline validation: everything Triton 2.51 with the onnxruntime backend would refuse.

``validate_repository(root)`` walks ``<root>/<model>/config.pbtxt`` and the version
folders, and returns ``Finding``s. A finding is an *error* exactly where Triton would
refuse to load the model (checks mirror Triton core's ``ValidateModelConfig``,
``ValidateIOShape``, the repository manager's version and name rules, and the
onnxruntime backend's ``ValidateInputs``/``ValidateOutputs`` through the stand-in
backend's load rules, ``orchestrator.core.load_rules``); everything else worth knowing is
a *warning*.
Ensembles are checked in ``orchestrator.ensembles``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from orchestrator.core.digest import file_digest
from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.load_rules import config_problems
from orchestrator.core.model_config import CONFIG_FILENAME, config_as_dict, parse_config
from orchestrator.core.onnx_signature import Signature, read_signature
from orchestrator.errors import ConfigError, ConfigSyntaxError, RepositoryError
from orchestrator.repository.compatibility import (
    DEFAULT_TRITON_RELEASE,
    compatibility_problems,
    runtime_for,
)
from orchestrator.repository.layout import is_version, read_manifest, served_versions
from orchestrator.repository.publish import STAGING_PREFIX
from orchestrator.repository.validation.config_checks import (
    ONNX_BACKEND,
    ONNX_FILENAME,
    LoadedModel,
    backend_of,
    core_findings,
    io_shape_findings,
)
from orchestrator.repository.validation.ensembles import ENSEMBLE_PLATFORM, ensemble_findings

__all__ = ["Finding", "validate_repository"]

logger = logging.getLogger(__name__)

_MAX_BATCH_SIZE_FIELD = re.compile(r"(?:^|[\s{])max_batch_size\s*:")


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
        if not _is_dir(entry):
            continue  # Triton looks at folders only
        model, found = _load_model(entry)
        findings += found
        if model is not None:
            models[model.name] = model
    configs = {name: m.config for name, m in models.items()}
    served = {
        name: served_versions(m.config, _version_folders(m.folder)[0]) for name, m in models.items()
    }
    for model in models.values():
        if model.config.platform == ENSEMBLE_PLATFORM:
            findings += io_shape_findings(model)
            findings += ensemble_findings(
                model.config_path, model.text, model.config, configs, served
            )
            findings += _check_versions(model, triton_release, graph_checks=False)
        elif backend_of(model) not in (ONNX_BACKEND, None):
            findings.append(_unchecked_backend(model))
            findings += _check_versions(model, triton_release, graph_checks=False)
        else:
            core = core_findings(model)
            findings += core
            # Triton's core refuses these before the backend compares config and graph.
            core_ok = not any(f.is_error for f in core)
            findings += _check_versions(model, triton_release, graph_checks=core_ok)
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


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


# -- config.pbtxt ------------------------------------------------------------------------


def _load_model(folder: Path) -> tuple[LoadedModel | None, list[Finding]]:
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


# -- versions ----------------------------------------------------------------------------


def _version_folders(folder: Path) -> tuple[list[int], list[Path]]:
    numeric, other = [], []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return [], []
    for entry in entries:
        if not _is_dir(entry):
            continue
        if is_version(entry.name):
            numeric.append(int(entry.name))
        else:
            other.append(entry)
    return sorted(numeric), other


def _check_versions(model: LoadedModel, triton_release: str, graph_checks: bool) -> list[Finding]:
    config, path, folder = model.config, model.config_path, model.folder
    available, ignored = _version_folders(folder)
    found = [_ignored_folder(entry) for entry in ignored]
    if not available:
        found.append(
            new_finding(
                "no-versions",
                "error",
                folder,
                f"model {model.name!r} has no numeric version folder",
                f"Publish a version (`orchestrator publish SOURCE --model {model.name}`), "
                f"or create {folder / '1'}/ with the model file.",
            )
        )
        return found
    if config.version_policy.WhichOneof("policy_choice") == "specific":
        for version in config.version_policy.specific.versions:
            if version not in available:
                found.append(
                    new_finding(
                        "version-policy-missing",
                        "warning",
                        path,
                        f"version_policy names version {version}, which has no folder "
                        f"(versions present: {available}); Triton serves the others",
                        "Name only published versions in version_policy.specific.",
                        line_of(model.text, "versions", str(version)),
                    )
                )
    served = set(served_versions(config, available))
    if not served:
        found.append(
            new_finding(
                "no-served-versions",
                "error",
                path,
                f"the version_policy serves none of the versions present ({available})",
                "Name a published version in version_policy, or use latest.",
                line_of(model.text, "version_policy"),
            )
        )
    if config.platform == ENSEMBLE_PLATFORM or backend_of(model) not in (ONNX_BACKEND, None):
        return found
    for version in available:
        severity: Severity = "error" if version in served else "warning"
        found += _check_version(
            model, folder / str(version), severity, triton_release, graph_checks
        )
    return found


def _ignored_folder(entry: Path) -> Finding:
    if entry.name.startswith(STAGING_PREFIX):
        return new_finding(
            "publish-leftover",
            "warning",
            entry,
            "staging folder of an interrupted publish (Triton ignores it)",
            "The next `orchestrator publish` of this model removes it; or delete it.",
        )
    return new_finding(
        "version-folder-ignored",
        "warning",
        entry,
        f"folder {entry.name!r} is not a version number, so Triton ignores it",
        "Rename it to a positive number without leading zeros, or move it out.",
    )


def _check_version(
    model: LoadedModel,
    version_dir: Path,
    severity: Severity,
    triton_release: str,
    graph_checks: bool,
) -> list[Finding]:
    unserved = "" if severity == "error" else " (a version the version_policy does not serve)"
    filename = model.config.default_model_filename or ONNX_FILENAME
    model_file = version_dir / filename
    if _is_dir(model_file) and (model_file / ONNX_FILENAME).is_file():
        model_file = model_file / ONNX_FILENAME  # a large model: a folder with model.onnx
    if not model_file.is_file():
        return [
            new_finding(
                "model-file-missing",
                severity,
                version_dir,
                f"version folder has no {filename}{unserved}",
                f"Publish the version again; Triton looks for {filename} (default_model_filename).",
            )
        ]
    found = _check_manifest(version_dir, severity, unserved)
    try:
        signature = read_signature(model_file)
    except ConfigError as exc:
        return [
            *found,
            new_finding(
                "onnx-unreadable",
                severity,
                model_file,
                f"{str(exc).split('. ', 1)[0]}{unserved}",
                "Re-export the model or copy it again.",
            ),
        ]
    for location in signature.external_files:
        if not (model_file.parent / location).is_file():
            found.append(
                new_finding(
                    "onnx-external-data-missing",
                    severity,
                    model_file,
                    f"the graph keeps weights in {location!r}, which is not beside it{unserved}",
                    "Copy the external data file into the version folder (publish copies it).",
                )
            )
    for code, message, hint in compatibility_problems(signature, triton_release):
        found.append(new_finding(code, severity, model_file, message + unserved, hint))
    if not graph_checks:
        return found
    return found + _check_against_graph(model, signature, model_file, severity, unserved)


def _check_manifest(version_dir: Path, severity: Severity, unserved: str) -> list[Finding]:
    try:
        manifest = read_manifest(version_dir)
    except RepositoryError as exc:
        return [new_finding("manifest-invalid", "warning", version_dir, str(exc), "Republish.")]
    if manifest is None:
        return []
    found = []
    for name, expected in sorted(manifest.items()):
        path = version_dir / name
        try:
            actual = file_digest(path)
        except OSError:
            actual = None
        if actual != expected:
            what = (
                "is missing"
                if actual is None
                else (
                    f"has sha256 {actual.sha256[:12]}… ({actual.size_bytes} bytes), the manifest "
                    f"says {expected.sha256[:12]}… ({expected.size_bytes} bytes)"
                )
            )
            found.append(
                new_finding(
                    "manifest-mismatch",
                    severity,
                    path,
                    f"{name} {what}{unserved}",
                    "A published version never changes: restore the file from the release "
                    "or publish a new version.",
                )
            )
    return found


def _check_against_graph(
    model: LoadedModel, signature: Signature, model_file: Path, severity: Severity, unserved: str
) -> list[Finding]:
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
