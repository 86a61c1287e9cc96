"""Assemble the backend directory a local Triton server loads its backends from.

The ``nvidia-pytriton`` wheel ships only the python backend. Triton's *Python-based
backends* let a folder ``<backend-dir>/<name>/model.py`` serve every model whose config
says ``backend: "<name>"``; our ``onnxruntime/model.py`` is such a stand-in for the real
onnxruntime backend, so the repository's production configs load unchanged. Its load
checks, the package ``orchestrator.core.load_rules`` (standard library only), are copied
beside it as ``load_rules/``: the offline validator and the stand-in share one copy of the rules.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from orchestrator.core import load_rules
from orchestrator.errors import ServerError
from orchestrator.serving.triton.binary import STUB_NAME, TritonInstall

__all__ = ["STAND_IN_BACKENDS", "assemble_backend_dir"]

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_LOAD_RULES = Path(load_rules.__file__).parent  # copied beside each stand-in's model.py
STAND_IN_BACKENDS = ("onnxruntime",)


def assemble_backend_dir(install: TritonInstall, dest: Path) -> Path:
    """Build a backend directory for ``install`` under ``dest``.

    An install with the real onnxruntime backend (the NGC image) is used as it is.
    Otherwise ``dest`` gets the python backend with the stub for the running Python and
    our stand-in backends (each ``model.py`` with the ``load_rules/`` package beside it).

    Returns:
        The directory to pass as ``--backend-directory``.

    Raises:
        ServerError: the install lacks the python backend or a stub for this Python.
    """
    if install.has_real_onnxruntime_backend:
        logger.info("Using Triton's own onnxruntime backend from %s", install.backends_dir)
        return install.backends_dir
    python_backend = install.backends_dir / "python"
    if not (python_backend / "libtriton_python.so").is_file():
        raise ServerError(
            f"The Triton install at {install.root} has no python backend "
            f"({python_backend / 'libtriton_python.so'} is missing). Reinstall it with "
            "`pip install --force-reinstall nvidia-pytriton==0.7.0`."
        )
    stub = install.python_stub()
    backend_dir = dest / "backends"
    try:
        shutil.rmtree(backend_dir, ignore_errors=True)
        shutil.copytree(python_backend, backend_dir / "python", ignore=_ignore_caches)
        shutil.copy2(stub, backend_dir / "python" / STUB_NAME)
        for name in STAND_IN_BACKENDS:
            (backend_dir / name).mkdir(parents=True)
            shutil.copy2(_HERE / name / "model.py", backend_dir / name / "model.py")
            shutil.copytree(
                _LOAD_RULES, backend_dir / name / _LOAD_RULES.name, ignore=_ignore_caches
            )
    except OSError as exc:
        raise ServerError(
            f"Cannot assemble the Triton backend directory in {backend_dir}: {exc}. "
            "Check free disk space and permissions there."
        ) from exc
    logger.debug("Assembled backend directory %s", backend_dir)
    return backend_dir


def _ignore_caches(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]
