"""The ``image`` group: build production's serving image from Dockerfile.triton.

* The library (``orchestrator.serving.container``, which owns the docker SDK) is
  imported inside the command, when it runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.boundary import OrchestratorGroup
from orchestrator.cli.defaults import DEFAULT_DOCKERFILE, DEFAULT_IMAGE
from orchestrator.cli.options import format_option

__all__ = ["build_command", "image_group"]


@click.group("image", cls=OrchestratorGroup)
def image_group() -> None:
    """Build production's Triton image (Dockerfile.triton) for `serve --runtime docker`.

    Example, from the repository root:

        orchestrator image build
    """


@image_group.command("build")
@click.option("--tag", default=DEFAULT_IMAGE, show_default=True, help="The image's name:tag.")
@click.option(
    "--release-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bake this release folder (inside the context) into the image.",
)
@click.option(
    "--dockerfile",
    default=DEFAULT_DOCKERFILE,
    show_default=True,
    help="The Dockerfile, relative to --context.",
)
@click.option(
    "--context",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The build context (the repository root).",
)
@format_option("A line, or JSON for machines.")
def build_command(
    tag: str, release_dir: Path | None, dockerfile: str, context: Path, output_format: str
) -> None:
    """Build the serving image with the local Docker engine (needs the docker extra).

    The first build pulls nvcr.io/nvidia/tritonserver (several GB).

    Example, from the repository root:

        orchestrator image build

        orchestrator image build --release-dir releases/<id> --tag triton-orchestrator/triton:baked
    """
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.serving.container import build_image, release_build_args

    build_args = release_build_args(context, release_dir) if release_dir is not None else {}
    click.echo(f"Building {tag} from {context / dockerfile} ...", err=True)
    built = build_image(context, tag=tag, dockerfile=dockerfile, build_args=build_args)
    if output_format == "json":
        echo_json(built)
    else:
        click.echo(f"{', '.join(built.tags) or tag}  {built.id}")
