"""Find a ``tritonserver`` binary and the files that come with it.

Order: an explicit path (``--tritonserver PATH``), the ``TRITONSERVER`` variable, a real
install on ``PATH``, then the server tree inside the ``nvidia-pytriton`` wheel.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ServerError

__all__ = ["TritonInstall", "find_tritonserver"]

logger = logging.getLogger(__name__)

ENV_VAR = "TRITONSERVER"
STUB_NAME = "triton_python_backend_stub"


@dataclass(frozen=True)
class TritonInstall:
    """A tritonserver binary and the directories it needs.

    Attributes:
        binary: the executable.
        backends_dir: the install's own backend directory (holds ``python/``).
        library_dirs: directories to put on ``LD_LIBRARY_PATH``.
        source: how it was found: "explicit", "env", "path" or "pytriton".
    """

    binary: Path
    backends_dir: Path
    library_dirs: tuple[Path, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise ServerError(
                f"tritonserver binary {self.binary} (found via {self.source}) is not an "
                "executable file. Pass --tritonserver PATH or set TRITONSERVER to a working "
                "binary, or reinstall with `pip install nvidia-pytriton==0.7.0`."
            )

    @property
    def root(self) -> Path:
        """The install root (the folder above ``bin/``)."""
        return self.binary.resolve().parent.parent

    @property
    def has_real_onnxruntime_backend(self) -> bool:
        """Whether the install ships Triton's own onnxruntime backend (e.g. the NGC image)."""
        return (self.backends_dir / "onnxruntime" / "libtriton_onnxruntime.so").is_file()

    def python_stub(self, version: tuple[int, int] | None = None) -> Path:
        """The python backend stub built for ``version`` (default: the running Python).

        Raises:
            ServerError: the install has no stub for that Python.
        """
        major, minor = version or sys.version_info[:2]
        candidates = [
            self.root / "python_backend_stubs" / f"{major}.{minor}" / STUB_NAME,
            self.backends_dir / "python" / STUB_NAME,
        ]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise ServerError(
            f"No python backend stub for Python {major}.{minor} in {self.root} "
            f"(looked for {', '.join(str(c) for c in candidates)}). Use a Python that the "
            "Triton install supports (nvidia-pytriton 0.7.0 ships 3.8 to 3.13)."
        )


def find_tritonserver(explicit: Path | None = None) -> TritonInstall:
    """Locate a usable tritonserver.

    Args:
        explicit: a path given by the user; wins over everything else.

    Raises:
        ServerError: nothing was found, or what was named is not an executable.

    Example:
        >>> install = find_tritonserver()  # doctest: +SKIP
        >>> install.binary.name
        'tritonserver'
    """
    if explicit is not None:
        return _install_for(Path(explicit), "explicit")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return _install_for(Path(from_env), "env")
    on_path = shutil.which("tritonserver")
    if on_path:
        return _install_for(Path(on_path), "path")
    wheel_root = _pytriton_server_root()
    if wheel_root is not None:
        return _install_for(wheel_root / "bin" / "tritonserver", "pytriton")
    raise ServerError(
        "No tritonserver binary found: --tritonserver and TRITONSERVER are unset, none is on "
        "PATH, and the nvidia-pytriton wheel is not installed. Install it with "
        "`pip install nvidia-pytriton==0.7.0` (or `make venv`), or pass --tritonserver PATH."
    )


def _install_for(binary: Path, source: str) -> TritonInstall:
    binary = binary.expanduser()
    try:
        found = binary.exists()
    except OSError:  # a name the file system refuses (too long, say)
        found = False
    if not found:
        raise ServerError(
            f"tritonserver binary {binary} (from {_describe(source)}) does not exist. "
            "Point --tritonserver or TRITONSERVER at an existing binary, or unset them to "
            "use the one inside the nvidia-pytriton wheel."
        )
    root = binary.resolve().parent.parent
    library_dirs = [root / "lib"]
    wheel_libs = root.parent.parent / "nvidia_pytriton.libs"
    if wheel_libs.is_dir():
        library_dirs.insert(0, wheel_libs)
    install = TritonInstall(
        binary=binary,
        backends_dir=root / "backends",
        library_dirs=tuple(d for d in library_dirs if d.is_dir()),
        source=source,
    )
    logger.debug("Using tritonserver %s (from %s)", binary, _describe(source))
    return install


def _describe(source: str) -> str:
    return {
        "explicit": "--tritonserver",
        "env": f"${ENV_VAR}",
        "path": "PATH",
        "pytriton": "the nvidia-pytriton wheel",
    }.get(source, source)


def _pytriton_server_root() -> Path | None:
    # find_spec locates the package without importing it (importing pytriton is slow).
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    return root if (root / "bin" / "tritonserver").exists() else None
