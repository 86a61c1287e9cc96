"""Build the production serving image from ``Dockerfile.triton`` with the Docker engine."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ServerError
from orchestrator.repository.layout import is_file, is_folder
from orchestrator.serving.container.engine import connect, docker_module, translated

__all__ = [
    "DEFAULT_DOCKERFILE",
    "DEFAULT_IMAGE",
    "RELEASE_BUILD_ARG",
    "BuiltImage",
    "build_image",
    "release_build_args",
]

logger = logging.getLogger(__name__)

# The name the Kubernetes base (deployment/k8s/base) runs; overlays set their registry's.
DEFAULT_IMAGE = "triton-orchestrator/triton:24.10"
DEFAULT_DOCKERFILE = "Dockerfile.triton"
# The build argument of Dockerfile.triton that bakes a release folder (a path inside the
# build context) into the image.
RELEASE_BUILD_ARG = "RELEASE"
_LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class BuiltImage:
    """An image ``build_image`` made: its id, tags and how it was built."""

    id: str
    tags: tuple[str, ...]
    dockerfile: str
    build_args: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """The image as JSON-ready data (``--format json``)."""
        return {
            "id": self.id,
            "tags": list(self.tags),
            "dockerfile": self.dockerfile,
            "build_args": dict(self.build_args),
        }


def release_build_args(context: Path, release_dir: Path) -> dict[str, str]:
    """The build argument that bakes ``release_dir`` into the image.

    Raises:
        ServerError: the folder is missing or outside the build context (Docker only
            copies from the context).

    Example:
        >>> release_build_args(Path("."), Path("releases/r1"))  # doctest: +SKIP
        {'RELEASE': 'releases/r1'}
    """
    if not is_folder(release_dir):
        raise ServerError(
            f"Release folder {release_dir} does not exist. Pass a folder that holds a "
            "release (<model>/config.pbtxt and versions), e.g. one synced to a local folder."
        )
    try:
        inside = release_dir.resolve().relative_to(context.resolve())
    except ValueError as exc:
        raise ServerError(
            f"Release folder {release_dir} is outside the build context {context.resolve()}: "
            "Docker copies only from the context. Put the release under releases/ there "
            "(the folder .dockerignore lets in)."
        ) from exc
    return {RELEASE_BUILD_ARG: inside.as_posix()}


def build_image(
    context: Path,
    *,
    tag: str = DEFAULT_IMAGE,
    dockerfile: Path | str = DEFAULT_DOCKERFILE,
    build_args: Mapping[str, str] | None = None,
    client: Any | None = None,
) -> BuiltImage:
    """Build the serving image from ``dockerfile`` (relative to ``context``).

    Args:
        context: the build context (the repository root).
        tag: the image's name:tag.
        dockerfile: the Dockerfile, relative to ``context``.
        build_args: Docker build arguments (``release_build_args`` for a baked release).
        client: a Docker client (``docker.from_env()`` when None).

    Raises:
        ServerError: the Dockerfile is missing, no engine answers, or the build failed
            (with the last lines of its output).

    Example:
        >>> build_image(Path("."), tag="triton-orchestrator/triton:dev").tags  # doctest: +SKIP
        ('triton-orchestrator/triton:dev',)
    """
    if not is_file(context / dockerfile):
        raise ServerError(
            f"No Dockerfile at {context / dockerfile}. Run from the repository root, or pass "
            "--context and --dockerfile."
        )
    client = client if client is not None else connect()
    errors = docker_module().errors
    args = dict(build_args or {})
    logger.info("Building %s from %s in %s with %s", tag, dockerfile, context, args)
    with translated(f"build {tag} from {dockerfile}", client):
        try:
            image, _ = client.images.build(
                path=str(context), dockerfile=str(dockerfile), tag=tag, buildargs=args, rm=True
            )
        except errors.BuildError as exc:
            output = "".join(str(c.get("stream", c.get("error", ""))) for c in exc.build_log)
            tail = "\n".join(output.splitlines()[-_LOG_TAIL_LINES:])
            raise ServerError(
                f"Building {tag} from {dockerfile} failed: {exc.msg}. Last lines of the "
                f"build:\n{tail}"
            ) from exc
    return BuiltImage(
        id=str(image.id),
        tags=tuple(image.tags),
        dockerfile=str(dockerfile),
        build_args=tuple(sorted(args.items())),
    )
