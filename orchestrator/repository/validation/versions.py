"""Per-version checks: the version folders of a model and the files in each of them.

Mirrors the repository manager of Triton 2.51 (which folders are versions, which ones the
``version_policy`` serves), then checks each version's files: the model file, that its
graph parses, its external weights, the ONNX Runtime compatibility of its opsets, its
manifest (a published version never changes) and, through ``graph_checks``, the config
against the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.digest import FileDigest
from orchestrator.core.digest_cache import DigestCache
from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.core.onnx_signature import read_signature
from orchestrator.errors import ConfigError, RepositoryError, UnsafeFileError
from orchestrator.repository.compatibility import compatibility_problems
from orchestrator.repository.layout import (
    read_manifest,
    served_versions,
    unreadable_reason,
)
from orchestrator.repository.validation.config_checks import (
    ONNX_BACKEND,
    ONNX_FILENAME,
    LoadedModel,
    backend_fields,
)
from orchestrator.repository.validation.ensembles import ENSEMBLE_PLATFORM
from orchestrator.repository.validation.graph_checks import autocompleted_findings, graph_findings
from orchestrator.repository.validation.python_checks import PYTHON_BACKEND, python_file_findings
from orchestrator.repository.validation.referenced_files import cc_file_findings
from orchestrator.repository.validation.tree_checks import unsafe_finding
from orchestrator.repository.validation.version_names import (
    UNSERVED,
    has_backend_folder,
    ignored_folder,
    misnamed_version,
    version_folders,
)

__all__ = ["unreadable_folder", "version_findings", "version_folders"]

logger = logging.getLogger(__name__)


def unreadable_folder(
    folder: Path, what: str, reason: str, severity: Severity = "error"
) -> Finding:
    """The finding for a folder of the repository that cannot be listed or entered.

    Example:
        >>> unreadable_folder(Path("m/1"), "version folder", "Permission denied").code
        'folder-unreadable'
    """
    return new_finding(
        "folder-unreadable",
        severity,
        folder,
        f"{what} cannot be read ({reason}); Triton running as this user could not load it",
        f"Give read and enter permission on it (chmod -R u+rX {folder}), or move it out of "
        "the repository.",
    )


def version_findings(
    model: LoadedModel,
    triton_release: str,
    graph_checks: bool,
    *,
    auto_complete: bool = False,
    digests: DigestCache | None = None,
) -> list[Finding]:
    """Check a model's version folders and the files of every version.

    Versions the ``version_policy`` serves get errors, the others warnings (Triton skips
    them). With ``graph_checks``, each version's graph is compared with the config.

    Args:
        model: the model whose versions are checked.
        triton_release: the production Triton release, for ONNX Runtime compatibility.
        graph_checks: compare the config with each graph (off when Triton's core already
            refuses the config, or for ensembles and other backends).
        auto_complete: judge for a server with auto-complete on (the onnxruntime backend
            completes a config without inputs or outputs from each graph).
        digests: the repository's digest cache: unchanged files are not read again, for
            a version's ``manifest.json`` nor for a graph's signature (None reads every
            file).

    Example:
        >>> [f.code for f in version_findings(model, "24.10", graph_checks=True)]  # doctest: +SKIP
        ['no-versions']
    """
    config, path, folder = model.config, model.config_path, model.folder
    available, ignored = version_folders(folder)
    found = [ignored_folder(entry) for entry in ignored]
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
    if config.platform == ENSEMBLE_PLATFORM:
        return found
    fields = backend_fields(model)
    for version in available:
        severity: Severity = "error" if version in served else "warning"
        if not has_backend_folder(folder, version):
            found.append(misnamed_version(folder, version, severity))
            continue
        if fields.backend == ONNX_BACKEND:
            found += _check_version(
                model,
                folder / str(version),
                severity,
                triton_release,
                graph_checks,
                auto_complete,
                digests,
            )
        elif fields.backend == PYTHON_BACKEND:
            unserved = "" if severity == "error" else UNSERVED
            found += cc_file_findings(model, folder / str(version), severity, unserved)
            found += python_file_findings(model, folder / str(version), severity, unserved)
        elif fields.backend and fields.default_model_filename:
            found += _other_backend_file(
                model, folder / str(version), severity, fields.default_model_filename
            )
    return found


def _other_backend_file(
    model: LoadedModel, version_dir: Path, severity: Severity, filename: str
) -> list[Finding]:
    """A backend other than onnxruntime loads ``<version>/<default_model_filename>``."""
    unserved = "" if severity == "error" else " (a version the version_policy does not serve)"
    found = cc_file_findings(model, version_dir, severity, unserved)
    if (version_dir / filename).exists():
        return found
    return [
        *found,
        new_finding(
            "model-file-missing",
            severity,
            version_dir,
            f"version folder has no {filename}, the file backend "
            f"{backend_fields(model).backend!r} loads{unserved}",
            "Publish the version again, or set default_model_filename to the model's file.",
        ),
    ]


def _check_version(
    model: LoadedModel,
    version_dir: Path,
    severity: Severity,
    triton_release: str,
    graph_checks: bool,
    auto_complete: bool,
    digests: DigestCache | None,
) -> list[Finding]:
    unserved = "" if severity == "error" else " (a version the version_policy does not serve)"
    reason = unreadable_reason(version_dir)
    if reason is not None:
        return [unreadable_folder(version_dir, f"version folder{unserved}", reason, severity)]
    filename = model.config.default_model_filename or ONNX_FILENAME
    # Read under the untrusted-input rule (core.untrusted), relative to the repository.
    root = model.folder.parent
    try:
        model_file, kind = _model_file(root, version_dir / filename)
    except UnsafeFileError as exc:
        return [unsafe_finding(exc, severity, unserved)]
    if kind in ("link", "special"):
        return []  # tree_checks reported it; nothing is read through it
    if kind != "file":
        return [
            new_finding(
                "model-file-missing",
                severity,
                version_dir,
                f"version folder has no {filename}{unserved}",
                f"Publish the version again; Triton looks for {filename} (default_model_filename).",
            )
        ]
    found = _manifest_findings(root, version_dir, severity, unserved, digests)
    found += cc_file_findings(model, version_dir, severity, unserved)
    try:
        signature = read_signature(model_file, within=root, digests=digests)
    except UnsafeFileError as exc:
        return [*found, unsafe_finding(exc, severity, unserved)]
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
    found += _external_data_findings(root, model_file, signature.external_files, severity, unserved)
    for code, message, hint in compatibility_problems(signature, triton_release):
        found.append(new_finding(code, severity, model_file, message + unserved, hint))
    if not graph_checks:
        return found
    if auto_complete:
        return found + autocompleted_findings(model, signature, model_file, severity, unserved)
    return found + graph_findings(model, signature, model_file, severity, unserved)


def _external_data_findings(
    root: Path, model_file: Path, locations: Sequence[str], severity: Severity, unserved: str
) -> list[Finding]:
    found: list[Finding] = []
    for location in locations:
        try:
            where = untrusted.kind_of(root, _relative(root, model_file.parent))
            external = untrusted.kind_of(model_file.parent, location) if where else None
        except UnsafeFileError as exc:
            found.append(unsafe_finding(exc, severity, unserved))
            continue
        if external in ("link", "special"):
            continue  # tree_checks reported it
        if external != "file":
            found.append(
                new_finding(
                    "onnx-external-data-missing",
                    severity,
                    model_file,
                    f"the graph keeps weights in {location!r}, which is not beside it{unserved}",
                    "Copy the external data file into the version folder (publish copies it).",
                )
            )
    return found


def _manifest_findings(
    root: Path, version_dir: Path, severity: Severity, unserved: str, digests: DigestCache | None
) -> list[Finding]:
    try:
        manifest = read_manifest(version_dir)
    except UnsafeFileError as exc:
        if exc.reason in ("link", "special"):
            return []  # tree_checks reported it
        return [unsafe_finding(exc, "warning")]
    except RepositoryError as exc:
        return [new_finding("manifest-invalid", "warning", version_dir, str(exc), "Republish.")]
    if manifest is None:
        return []
    found = []
    folder = _relative(root, version_dir)
    for name, expected in sorted(manifest.items()):
        path = version_dir / name
        try:
            untrusted.safe_parts(version_dir, name)
            actual: FileDigest | None = (
                digests.digest(path) if digests else untrusted.digest(root, f"{folder}/{name}")
            )
        except UnsafeFileError as exc:
            if exc.reason in ("link", "special"):
                continue  # tree_checks reported it; never read through a manifest entry
            if exc.reason != "missing":
                found.append(unsafe_finding(exc, severity, f" (a manifest.json entry){unserved}"))
                continue
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


def _model_file(root: Path, model_file: Path) -> tuple[Path, untrusted.Kind | None]:
    """The model file and its kind; a large model is a folder holding model.onnx."""
    kind = untrusted.kind_of(root, _relative(root, model_file))
    inner = model_file / ONNX_FILENAME
    if kind == "folder" and untrusted.kind_of(root, _relative(root, inner)) is not None:
        return inner, untrusted.kind_of(root, _relative(root, inner))
    return model_file, kind


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
