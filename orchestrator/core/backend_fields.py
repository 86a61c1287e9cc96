"""Triton core's server-side autofill of ``backend``, ``platform`` and ``default_model_filename``.

Triton 24.10 (core r24.10) runs this on every model config before anything else, with or
without ``--disable-auto-complete-config``: ``GetNormalizedModelConfig`` calls
``AutoCompleteBackendFields`` (``src/model_config_utils.cc``), and
``ModelRepositoryManager`` then calls ``ValidateModelConfig``, which refuses a config whose
backend is still unknown. The rules below follow that function branch by branch (quoted in
the comments); it is a pure function of the three config fields, the model's name and the
*first* sub-folder of the model folder, so callers list the folder and pass it in.

What 24.10 knows (the constants in ``src/constants.h``, all present in the 2.51
``libtritonserver.so``): ``model.savedmodel``/``model.graphdef`` (tensorflow),
``model.plan`` (tensorrt), ``model.onnx`` (onnxruntime), ``model.xml`` (openvino),
``model.pt`` (pytorch), ``model.py`` (python). The PyTorch AOTI branch of newer cores
(``model.pt2``) is not in 24.10.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ENSEMBLE_PLATFORM",
    "BackendFields",
    "autofill_backend_fields",
    "backend_fields_problem",
    "first_subfolder",
]

ENSEMBLE_PLATFORM = "ensemble"

# name -> (platform, default model filename), from 24.10's src/constants.h.
_TF_SAVEDMODEL = ("tensorflow_savedmodel", "model.savedmodel")
_TF_GRAPHDEF = ("tensorflow_graphdef", "model.graphdef")
_TRT = ("tensorrt_plan", "model.plan")
_ONNX = ("onnxruntime_onnx", "model.onnx")
_OPENVINO_FILE = "model.xml"
_TORCH = ("pytorch_libtorch", "model.pt")
_PYTHON_FILE = "model.py"

# GetBackendType / GetBackendTypeFromPlatform: only these four are "known"; any other
# backend (python, openvino, custom) accepts any platform.
_BACKEND_TYPE = {"tensorrt": "tensorrt", "tensorflow": "tensorflow", "onnxruntime": "onnxruntime",
                 "pytorch": "pytorch"}  # fmt: skip
_PLATFORM_TYPE = {
    "tensorrt_plan": "tensorrt",
    "tensorflow_graphdef": "tensorflow",
    "tensorflow_savedmodel": "tensorflow",
    "onnxruntime_onnx": "onnxruntime",
    "pytorch_libtorch": "pytorch",
}


@dataclass(frozen=True)
class BackendFields:
    """The three fields after autofill; ``backend`` is "" when Triton could not tell.

    ``source`` says where the backend came from: "config", "platform",
    "default_model_filename", "files" (the first sub-folder's files), "model name", or ""
    (undetermined).
    """

    backend: str
    platform: str
    default_model_filename: str
    source: str


def first_subfolder(subfolders: list[str]) -> str | None:
    """The sub-folder Triton inspects: the first of *all* sub-folders in byte order.

    ``GetDirectorySubdirs`` fills a ``std::set<std::string>`` and autofill takes
    ``*(version_dirs.begin())``: not the first version, the first folder of any name, so
    ``.staging-1-ab`` comes before ``1`` and ``10`` before ``9``.

    Example:
        >>> first_subfolder(["9", "10", ".staging-1-ab"])
        '.staging-1-ab'
    """
    return min(subfolders, key=lambda name: name.encode("utf-8")) if subfolders else None


def autofill_backend_fields(
    model_name: str,
    backend: str,
    platform: str,
    default_model_filename: str,
    first_version: Mapping[str, bool] | None,
) -> BackendFields:
    """What ``AutoCompleteBackendFields`` (model_config_utils.cc, 24.10) makes of a config.

    Args:
        model_name: the model folder's name.
        backend: the config's ``backend`` ("" when unset).
        platform: the config's ``platform`` ("" when unset).
        default_model_filename: the config's ``default_model_filename`` ("" when unset).
        first_version: the entries of the first sub-folder (see ``first_subfolder``),
            name -> is a directory; None when the model folder has no sub-folder.

    Example:
        >>> autofill_backend_fields("m", "", "", "", {"model.onnx": False})
        BackendFields(backend='onnxruntime', platform='onnxruntime_onnx', \
default_model_filename='model.onnx', source='files')
    """
    given = BackendFields(backend, platform, default_model_filename, "config" if backend else "")
    files = _Files(first_version)
    return (
        _tensorflow(given, files)
        or _file_backends(given, files)
        or _python_or_custom(model_name, given, files)
    )


class _Files:
    """The first sub-folder's entries; ``has_version`` is Triton's name for "there is one"."""

    def __init__(self, entries: Mapping[str, bool] | None) -> None:
        self.has_version = entries is not None
        self.entries = dict(entries or {})

    def present(self, name: str, want_dir: bool | None = None) -> bool:
        return name in self.entries and (want_dir is None or self.entries[name] == want_dir)


def _tensorflow(given: BackendFields, files: _Files) -> BackendFields | None:
    # "if (config->platform().empty()) { if (config->backend().empty() ||
    # (config->backend() == kTensorFlowBackend)) { if (default_model_filename ==
    # kTensorFlowSavedModelFilename) ... else if (config->default_model_filename().empty()
    # && has_version) { ... IsDirectory(savedmodel) ... !IsDirectory(graphdef) ... } } }
    # if ((platform == kTensorFlowSavedModelPlatform) || (platform ==
    # kTensorFlowGraphDefPlatform)) { fill backend and default_model_filename; return }"
    backend, platform, filename, source = (
        given.backend,
        given.platform,
        given.default_model_filename,
        given.source,
    )
    if not platform and backend in ("", "tensorflow"):
        if filename in (_TF_SAVEDMODEL[1], _TF_GRAPHDEF[1]):
            saved = filename == _TF_SAVEDMODEL[1]
            platform = _TF_SAVEDMODEL[0] if saved else _TF_GRAPHDEF[0]
            source = source or "default_model_filename"
        elif not filename and files.has_version:
            if files.present(_TF_SAVEDMODEL[1], want_dir=True):
                platform, source = _TF_SAVEDMODEL[0], source or "files"
            if files.present(_TF_GRAPHDEF[1], want_dir=False):
                platform, source = _TF_GRAPHDEF[0], source or "files"
    if platform not in (_TF_SAVEDMODEL[0], _TF_GRAPHDEF[0]):
        return None
    default = _TF_SAVEDMODEL[1] if platform == _TF_SAVEDMODEL[0] else _TF_GRAPHDEF[1]
    return BackendFields(
        backend or "tensorflow", platform, filename or default, source or "platform"
    )


def _file_backends(given: BackendFields, files: _Files) -> BackendFields | None:
    # TensorRT, ONNX Runtime, OpenVINO, PyTorch, in this order: "if
    # (config->backend().empty()) { if ((config->platform() == kXPlatform) ||
    # (config->default_model_filename() == kXFilename)) { set_backend(kXBackend) } else if
    # (config->platform().empty() && config->default_model_filename().empty() &&
    # has_version) { <kXFilename in the version folder> } } if (config->backend() ==
    # kXBackend) { fill platform and default_model_filename; return }". model.onnx may be a
    # file or a folder, model.plan and model.pt must be files.
    backend, platform, filename = given.backend, given.platform, given.default_model_filename
    nothing_named = not platform and not filename
    for name, (known_platform, default), want_dir in (
        ("tensorrt", _TRT, False),
        ("onnxruntime", _ONNX, None),
        ("openvino", ("", _OPENVINO_FILE), None),
        ("pytorch", _TORCH, False),
    ):
        source = given.source
        if not backend:
            if known_platform and platform == known_platform:
                backend, source = name, "platform"
            elif filename == default:
                backend, source = name, "default_model_filename"
            elif nothing_named and files.has_version and files.present(default, want_dir):
                backend, source = name, "files"
        if backend == name:
            return BackendFields(
                backend, platform or known_platform, filename or default, source or "config"
            )
    return None


def _python_or_custom(model_name: str, given: BackendFields, files: _Files) -> BackendFields:
    # Python: "if (config->default_model_filename() == kPythonFilename) set_backend(python)
    # else if (platform().empty() && default_model_filename().empty() && has_version) { if
    # (version_dir_content.find(kPythonFilename) ...) set_backend(python) }".
    backend, platform, filename, source = (
        given.backend,
        given.platform,
        given.default_model_filename,
        given.source,
    )
    nothing_named = not platform and not filename
    if not backend:
        if filename == _PYTHON_FILE:
            backend, source = "python", "default_model_filename"
        elif nothing_named and files.has_version and files.present(_PYTHON_FILE):
            backend, source = "python", "files"
    if backend == "python":
        return BackendFields(backend, platform, filename or _PYTHON_FILE, source)
    # Custom backend: "if (backend().empty() && platform().empty() &&
    # default_model_filename().empty()) { size_t pos = model_name.find(delimiter, 0); if
    # (pos == npos) return INVALID_ARG 'Invalid model name: Could not determine backend
    # ...'; backend_name = model_name.substr(pos + 1); set_default_model_filename('model.'
    # + backend_name) }"
    if not backend and nothing_named and "." in model_name:
        custom = model_name.split(".", 1)[1]
        return BackendFields(custom, platform, f"model.{custom}", "model name")
    return BackendFields(backend, platform, filename, source)


def backend_fields_problem(model_name: str, fields: BackendFields) -> str | None:
    """Why Triton core refuses the autofilled fields, worded as 24.10 words it, or None.

    The custom-backend branch of ``AutoCompleteBackendFields`` ("Invalid model name"),
    then ``ValidateModelConfig``: "if (config.backend().empty()) { if (config.platform()
    != kEnsemblePlatform) return 'unexpected platform type ...' } else if
    (config.platform() == kEnsemblePlatform) return 'Ensemble model ... must have
    platform type ... and empty backend type'", and "if ((backend_type !=
    BACKEND_TYPE_UNKNOWN) && (backend_type != GetBackendTypeFromPlatform(platform)))
    return 'unexpected 'platform' and 'backend' pair'".

    Example:
        >>> backend_fields_problem("m", BackendFields("", "onnx", "", ""))
        "unexpected platform type 'onnx' for m"
    """
    backend, platform = fields.backend, fields.platform
    if not backend:
        if platform == ENSEMBLE_PLATFORM:
            return None
        if not platform and not fields.default_model_filename and "." not in model_name:
            return (
                f"Invalid model name: Could not determine backend for model '{model_name}' "
                "with no backend in model configuration. Expected model name of the form "
                "'model.<backend_name>'."
            )
        return f"unexpected platform type '{platform}' for {model_name}"
    if platform == ENSEMBLE_PLATFORM:
        return (
            f"Ensemble model '{model_name}' must have platform type '{platform}' and empty "
            "backend type"
        )
    backend_type = _BACKEND_TYPE.get(backend)
    if backend_type is not None and backend_type != _PLATFORM_TYPE.get(platform):
        return f"unexpected 'platform' and 'backend' pair, got:{platform}, {backend}"
    return None
