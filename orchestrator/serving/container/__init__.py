"""Production's Triton image on a workstation: build it and run it with Docker.

The only importer of the Docker SDK (the ``docker`` extra):

- ``engine``: imports it inside functions and turns its errors into ``ServerError``;
- ``image``: builds the image from ``Dockerfile.triton``;
- ``run``: starts it with production's flags and removes it on exit.
"""

from orchestrator.serving.container.engine import connect
from orchestrator.serving.container.image import (
    DEFAULT_DOCKERFILE,
    DEFAULT_IMAGE,
    BuiltImage,
    build_image,
    release_build_args,
)
from orchestrator.serving.container.run import ALL_GPUS, ContainerOptions, TritonContainer

__all__ = [
    "ALL_GPUS",
    "DEFAULT_DOCKERFILE",
    "DEFAULT_IMAGE",
    "BuiltImage",
    "ContainerOptions",
    "TritonContainer",
    "build_image",
    "connect",
    "release_build_args",
]
