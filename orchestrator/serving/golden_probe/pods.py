"""Where each served model's files are inside a pod.

- Under ``MODEL_REPOSITORY`` when that is a local folder (a release baked into the image).
- Else in the copies Triton made of the object-store release: Triton 24.10 copies each
  model on its own into a ``folderXXXXXX`` directory (``mkdtemp``) under
  ``TRITON_AWS_MOUNT_DIRECTORY`` (or the GCS or Azure variable).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import ProbeError

__all__ = ["MOUNT_VARIABLES", "find_model_dirs"]

MOUNT_VARIABLES = (
    "TRITON_AWS_MOUNT_DIRECTORY",
    "TRITON_GCS_MOUNT_DIRECTORY",
    "TRITON_AZURE_MOUNT_DIRECTORY",
)
_MAX_CONFIG_BYTES = 4 * 1024 * 1024  # only its name line is wanted


def find_model_dirs(environ: Mapping[str, str]) -> Callable[[str], Path]:
    """Where each served model's files are inside the pod (see this module's docstring).

    With a local ``MODEL_REPOSITORY`` that is ``<repository>/<model>``. Serving from
    object storage, Triton copies each model on its own into a ``folderXXXXXX`` under
    the mount directory, so a copy is named by its config.pbtxt's ``name`` line (only
    that line is read); the newest copy of a model wins, since an emptyDir outlives a
    crashed container.

    Example:
        >>> find_model_dirs({"MODEL_REPOSITORY": "/models"})("alpha")
        PosixPath('/models/alpha')
    """
    configured = environ.get("MODEL_REPOSITORY", "")
    if configured and "://" not in configured:
        return lambda model: Path(configured) / model

    def locate(model: str) -> Path:
        # Read when asked, after Triton is ready: its copies appear while it loads.
        found = _copies(environ)
        if model not in found:
            where = " / ".join(f"${v}" for v in MOUNT_VARIABLES)
            raise ProbeError(
                f"no copy of model {model!r} under {where} (MODEL_REPOSITORY is "
                f"{configured!r}; copies found: {sorted(found) or 'none'}); pass --repository"
            )
        return found[model]

    return locate


def _copies(environ: Mapping[str, str]) -> dict[str, Path]:
    copies: list[Path] = []
    for variable in MOUNT_VARIABLES:
        mount = environ.get(variable)
        if mount and Path(mount).is_dir():
            copies.extend(p for p in Path(mount).glob("folder*") if p.is_dir())
    dated = []
    for copy in copies:
        try:
            dated.append((copy.stat().st_mtime, copy))
        except OSError:  # a copy removed by an exiting Triton meanwhile
            continue
    found: dict[str, Path] = {}
    for _, copy in sorted(dated):
        name = _config_name(copy / "config.pbtxt")
        if name is not None:
            found[name] = copy
    return found


def _config_name(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(_MAX_CONFIG_BYTES).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r'^name\s*:\s*"([A-Za-z0-9_.-]{1,200})"', text, re.MULTILINE)
    return match.group(1) if match else None
