"""The python backend's load-time checks that the repository's files decide (Triton 24.10).

What python_backend r24.10 refuses before any request, and where:

* ``src/python_be.cc`` ``ModelState::ModelState``: ``FORCE_CPU_ONLY_INPUT_TENSORS`` must be
  ``"yes"`` or ``"no"`` ("Incorrect value for FORCE_CPU_ONLY_INPUT_TENSORS");
  ``EXECUTION_ENV_PATH`` has a leading ``$$TRITON_MODEL_DIRECTORY`` replaced by the model
  folder (core's ``LocalizePythonBackendExecutionEnvironmentPath`` does the same).
* ``src/stub_launcher.cc`` ``StubLauncher::Initialize``: the model file is
  ``<model>/<version>/<default_model_filename or model.py>``; ``GetPythonEnvironment``:
  the environment path must resolve (``pb_env.cc`` ``ExtractIfNotExtracted``: ``realpath``,
  "Failed to get the canonical path"), a folder is used as it is, a file is extracted as a
  (conda-pack) tar archive, and the result must hold ``bin/activate`` ("The Python
  environment should contain an 'activate' script").
* ``src/pb_stub.cc`` ``ModelContext::Init``: the model file must exist ("Python model file
  not found"); ``StubSetup``: its name must end in ``.py`` and it is imported as the module
  ``<version>.<name without .py>``; ``Stub::Initialize`` then reads ``TritonPythonModel``
  from it and instantiates it.

Running the module (``initialize``, ``execute`` on warmup requests) is beyond an offline
check: every python model keeps a warning that says so.
"""

from __future__ import annotations

import ast
import logging
import tarfile
from pathlib import Path

from orchestrator.core import untrusted
from orchestrator.core.findings import Finding, Severity, line_of, new_finding
from orchestrator.errors import UnsafeFileError
from orchestrator.repository.validation.config_checks import LoadedModel

__all__ = ["PYTHON_BACKEND", "python_file_findings", "python_model_findings"]

logger = logging.getLogger(__name__)

PYTHON_BACKEND = "python"
PYTHON_FILENAME = "model.py"
_MODEL_DIR_VARIABLE = "$$TRITON_MODEL_DIRECTORY"
_ACTIVATE = "bin/activate"
_MODEL_FILE_MAX_BYTES = 16 * 1024 * 1024


def python_model_findings(model: LoadedModel) -> list[Finding]:
    """The parameters the python backend parses when it creates the model, and the warning.

    Example:
        >>> [f.code for f in python_model_findings(model)]  # doctest: +SKIP
        ['python-parameter-invalid', 'python-runtime-unchecked']
    """
    found: list[Finding] = []
    parameters = model.config.parameters
    if "FORCE_CPU_ONLY_INPUT_TENSORS" in parameters:
        # python_be.cc ModelState::ModelState: "yes" / "no", anything else is UNSUPPORTED.
        value = parameters["FORCE_CPU_ONLY_INPUT_TENSORS"].string_value
        if value not in ("yes", "no"):
            found.append(
                new_finding(
                    "python-parameter-invalid",
                    "error",
                    model.config_path,
                    f"parameter FORCE_CPU_ONLY_INPUT_TENSORS is {value!r}; the python backend "
                    "accepts exactly 'yes' or 'no' and refuses the model otherwise",
                    'Write string_value: "yes" or string_value: "no".',
                    line_of(model.text, "FORCE_CPU_ONLY_INPUT_TENSORS"),
                )
            )
    if "EXECUTION_ENV_PATH" in parameters:
        found += _environment_findings(model, parameters["EXECUTION_ENV_PATH"].string_value)
    found.append(
        new_finding(
            "python-runtime-unchecked",
            "warning",
            model.config_path,
            "the python backend runs model.py's TritonPythonModel (its initialize(), and "
            "execute() on any warmup request) when it loads the model; that code is not run "
            "here, only the files, the class and the parameters are checked",
            "Load it in a local Triton (`orchestrator serve`) to run it.",
            line_of(model.text, "backend"),
        )
    )
    return found


def _environment_findings(model: LoadedModel, value: str) -> list[Finding]:
    line = line_of(model.text, "EXECUTION_ENV_PATH")
    if not value:
        return []  # python_be.cc: an empty path means the default environment
    if not value.startswith(_MODEL_DIR_VARIABLE):
        return [
            new_finding(
                "python-environment-unchecked",
                "warning",
                model.config_path,
                f"EXECUTION_ENV_PATH {value!r} is a path on the serving machine (it does not "
                f"start with {_MODEL_DIR_VARIABLE}); whether it holds an environment with "
                f"{_ACTIVATE} is not known here",
                f"Ship the environment in the model folder and name it "
                f"{_MODEL_DIR_VARIABLE}/<file>, so the release carries it.",
                line,
            )
        ]
    relative = value[len(_MODEL_DIR_VARIABLE) :].lstrip("/")
    path = model.folder / relative
    problem = _environment_problem(model.folder, relative)
    if problem is None:
        return []
    return [
        new_finding(
            "python-environment-invalid",
            "error",
            model.config_path,
            f"EXECUTION_ENV_PATH {value!r} is {path}, which {problem}; the python backend "
            "refuses the model",
            f"Put a conda-pack archive (or a folder) holding {_ACTIVATE} there, or remove "
            "the parameter.",
            line,
        )
    ]


def _environment_problem(folder: Path, relative: str) -> str | None:
    """Why ``<folder>/<relative>`` is no environment the stub launcher can use, or None."""
    try:
        kind = untrusted.kind_of(folder, relative) if relative else "folder"
    except UnsafeFileError as exc:
        return f"cannot be read ({exc.reason})"
    if kind is None:
        return "does not exist (realpath fails: 'Failed to get the canonical path')"
    if kind == "folder":
        activate = f"{relative}/{_ACTIVATE}" if relative else _ACTIVATE
        try:
            found = untrusted.kind_of(folder, activate)
        except UnsafeFileError:
            found = None
        return None if found == "file" else f"is a folder without {_ACTIVATE}"
    if kind != "file":
        return None  # a link or special file: tree_checks reports it
    try:
        with tarfile.open(folder / relative) as archive:
            for member in archive:
                if member.name.lstrip("./") == _ACTIVATE or member.name == f"./{_ACTIVATE}":
                    return None
    except (tarfile.TarError, OSError, EOFError) as exc:
        return f"is not a tar archive the backend can extract ({exc})"
    return f"is an archive without {_ACTIVATE}"


def python_file_findings(
    model: LoadedModel, version_dir: Path, severity: Severity, unserved: str
) -> list[Finding]:
    """The model file of one version: present, a ``.py`` module, defining TritonPythonModel.

    Example:
        >>> [f.code for f in python_file_findings(model, path, "error", "")]  # doctest: +SKIP
        ['python-model-class-missing']
    """
    filename = model.config.default_model_filename or PYTHON_FILENAME
    path = version_dir / filename
    root = model.folder.parent
    relative = path.relative_to(root).as_posix()

    def finding(code: str, message: str, hint: str, at: Path = path) -> list[Finding]:
        return [new_finding(code, severity, at, message + unserved, hint)]

    # pb_stub.cc StubSetup: find_last_of(".py") must be the last character, and the module
    # imported is "<version>.<name without the last three characters>".
    stem = filename[:-3]
    if not filename.endswith(".py") or not stem or "." in stem or "/" in filename:
        return finding(
            "python-model-name-invalid",
            f"default_model_filename {filename!r} is not a module the python backend can "
            f"import (it imports '<version>.<name without .py>'); expected a name such as "
            "model.py",
            "Name the file <module>.py, without further dots, in the version folder.",
            model.config_path,
        )
    try:
        kind = untrusted.kind_of(root, relative)
    except UnsafeFileError as exc:
        return finding(
            "model-file-missing",
            f"{filename} cannot be read ({exc.reason})",
            "Check the file's permissions and that it stays in the version folder.",
        )
    if kind in ("link", "special"):
        return []  # tree_checks reported it
    if kind != "file":
        return finding(
            "model-file-missing",
            f"version folder has no file {filename}, which the python backend imports "
            "('Python model file not found')",
            "Publish the version again, or set default_model_filename to the model's file.",
            version_dir,
        )
    try:
        source = untrusted.read_bytes(root, relative, max_bytes=_MODEL_FILE_MAX_BYTES)
    except UnsafeFileError as exc:
        # Too large or unreadable for this check; Triton may still import it.
        return [
            new_finding(
                "python-model-class-unchecked",
                "warning",
                path,
                f"the model file was not read ({exc.reason}), so its class is not checked"
                + unserved,
                "Check that the file is the model's module.",
            )
        ]
    return _module_findings(source, path, severity, unserved)


def _module_findings(source: bytes, path: Path, severity: Severity, unserved: str) -> list[Finding]:
    try:
        tree = ast.parse(source, filename=str(path))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return [
            new_finding(
                "python-model-syntax",
                severity,
                path,
                f"the model file does not compile ({getattr(exc, 'msg', exc)}); the python "
                f"backend's import of it fails{unserved}",
                "Fix the syntax (python -m py_compile on the file shows it).",
                line,
            )
        ]
    bound, star = _top_level_names(tree)
    if "TritonPythonModel" in bound:
        return []
    if star:
        return [
            new_finding(
                "python-model-class-unchecked",
                "warning",
                path,
                "the model file defines no TritonPythonModel itself but imports * from "
                f"another module, which may{unserved}",
                "Define or import TritonPythonModel by name in the model file.",
            )
        ]
    return [
        new_finding(
            "python-model-class-missing",
            severity,
            path,
            "the model file binds no TritonPythonModel at its top level; the python backend "
            f"reads that class from the module and refuses the model without it{unserved}",
            "Define `class TritonPythonModel:` with initialize/execute in the model file.",
        )
    ]


def _top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
    """Names the module binds at its top level (also inside if/try blocks), and any ``*``."""
    names: set[str] = set()
    star = False
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for field in ("body", "orelse", "finalbody"):
                stack.extend(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
    return names, star
