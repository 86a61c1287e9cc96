"""The serving commands: serve, smoke, infer, swap and demo.

* Each parses its options, makes one library call and prints through ``serving_output``.
* The library (``orchestrator.serving``, ``orchestrator.demo``) is imported inside each
  command, when it runs, so ``--help`` loads none of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from orchestrator.cli.defaults import (
    ALL_GPUS,
    DEFAULT_ATOL,
    DEFAULT_IMAGE,
    DEFAULT_INFER_TIMEOUT_S,
    DEFAULT_RTOL,
    MAX_INFER_TIMEOUT_S,
)
from orchestrator.cli.options import (
    FiniteFloat,
    format_option,
    model_option,
    models_option,
    ready_timeout_option,
    repository_option,
    tritonserver_option,
)
from orchestrator.cli.server_options import (
    endpoint_for,
    endpoints_from,
    grpc_url_option,
    protocol_option,
    url_option,
)
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.client import Transport
    from orchestrator.serving.serve import ServeReport

__all__ = ["demo_command", "infer_command", "serve_command", "smoke_command", "swap_command"]


_PORT = click.IntRange(min=1, max=65535)


def _version(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value == "" or (value.isascii() and value.isdigit()):
        return value
    raise click.BadParameter(
        f"{value[:40]!r} is not a version number. Pass a version folder's number, e.g. "
        "--version 2, or leave it out for the one the server picks.",
        ctx,
        param,
    )


def _protocols(choice: str) -> tuple[Transport, ...]:
    from orchestrator.serving.smoke import PROTOCOLS

    return PROTOCOLS if choice == "both" else (cast("Transport", choice),)


def _gpu_count(ctx: click.Context, param: click.Parameter, value: str) -> int:
    if value == "all":
        return ALL_GPUS
    if value.isdigit():
        return int(value)
    raise click.BadParameter(f"{value!r} is not 'all' or a GPU count (0 for none).")


@click.command("serve")
@repository_option("The model repository to serve.", deprecated_positional=True)
@click.option("--http-port", type=_PORT, help="HTTP port (default: a free one).")
@click.option("--grpc-port", type=_PORT, help="gRPC port (default: a free one).")
@click.option("--metrics-port", type=_PORT, help="Prometheus metrics port (default: a free one).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@models_option("Load only this model (repeatable).")
@tritonserver_option()
@ready_timeout_option("Deadline for the server to start and every model to load.")
@click.option(
    "--runtime",
    type=click.Choice(["local", "docker"]),
    default="local",
    show_default=True,
    help="docker: run production's image (orchestrator image build) with its flags.",
)
@click.option(
    "--image", default=DEFAULT_IMAGE, show_default=True, help="Image for --runtime docker."
)
@click.option(
    "--gpus",
    default="all",
    show_default=True,
    callback=_gpu_count,
    help="GPUs for --runtime docker: all, a count, or 0.",
)
@format_option("How to print endpoints and models: a table, or one JSON line for machines.")
def serve_command(
    repository: Path,
    http_port: int | None,
    grpc_port: int | None,
    metrics_port: int | None,
    address: str,
    models: tuple[str, ...],
    tritonserver: Path | None,
    ready_timeout_s: float,
    runtime: str,
    image: str,
    gpus: int,
    output_format: str,
) -> None:
    """Serve a model repository on a local Triton until Ctrl-C.

    The production configs load unchanged; without a GPU, KIND_GPU instances run on
    the CPU through Triton's load-time config override.

    Example, from the repository root:

        orchestrator serve --repo model_repository/ --http-port 8000

    With --runtime docker, production's image serves the repository mounted read-only,
    with production's flags and the GPUs (docs/serving.md: "Run the production image on
    a workstation").
    """
    from orchestrator.cli.output import serving as serving_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.serving.container import ContainerOptions
    from orchestrator.serving.serve import serve, serve_in_container
    from orchestrator.serving.triton import ServerOptions

    try:
        options = ServerOptions(
            repository=repository,
            http_port=http_port,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            address=address,
            tritonserver=tritonserver,
            ready_timeout_s=ready_timeout_s,
        )
    except ConfigError as exc:  # two endpoints on one port: checked before anything starts
        raise click.UsageError(str(exc)) from exc

    def on_ready(report: ServeReport) -> None:
        if output_format == "json":
            echo_json(report)
        else:
            serving_output.print_serve(report)
        if not report.failed:
            click.echo("Serving; press Ctrl-C to stop.", err=True)

    if runtime == "docker":
        _refuse_local_only_options(models, tritonserver)
        container = ContainerOptions(
            repository=repository,
            image=image,
            gpus=gpus,
            http_port=http_port,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            address=address,
            ready_timeout_s=ready_timeout_s,
        )
        serve_in_container(container, on_ready=on_ready)
        click.echo("Triton stopped; container removed.", err=True)
        return
    serve(options, models or None, on_ready=on_ready)
    click.echo("Triton stopped.", err=True)


def _refuse_local_only_options(models: tuple[str, ...], tritonserver: Path | None) -> None:
    # Production loads every model at start (--model-control-mode=none) with its own binary.
    for given, option in ((models, "--model"), (tritonserver, "--tritonserver")):
        if given:
            raise click.UsageError(
                f"{option} does not apply to --runtime docker: the image runs production's "
                "tritonserver, which loads every model of the repository."
            )


@click.command("smoke")
@url_option(
    required=False,
    help_text="HOST:PORT of the running server's HTTP endpoint (or --serve).",
)
@click.option(
    "--serve",
    "serve_locally",
    is_flag=True,
    help="Start a local Triton on --repo for the smoke test and stop it afterwards.",
)
@ready_timeout_option("With --serve: deadline for the server to start and every model to load.")
@grpc_url_option()
@protocol_option("Protocol(s) to send the golden requests over.", both=True)
@models_option("Check only this model (repeatable).")
@repository_option("Local copy of the served repository: configs and each version's golden.npz.")
@click.option(
    "--rtol",
    type=FiniteFloat(min=0.0),
    default=DEFAULT_RTOL,
    show_default=True,
    help="Relative tolerance for models whose config sets no smoke_rtol parameter.",
)
@click.option(
    "--atol",
    type=FiniteFloat(min=0.0),
    default=DEFAULT_ATOL,
    show_default=True,
    help="Absolute tolerance for models whose config sets no smoke_atol parameter.",
)
@format_option(
    "A table, JSON for machines, or Markdown (a GitHub job summary).",
    ("table", "json", "markdown"),
)
def smoke_command(
    url: str | None,
    serve_locally: bool,
    ready_timeout_s: float,
    grpc_url: str | None,
    protocol: str,
    models: tuple[str, ...],
    repository: Path,
    rtol: float,
    atol: float,
    output_format: str,
) -> None:
    """Send every served version its own golden inputs and compare the answers.

    For each served model version and protocol: the model metadata must match the
    repository's config.pbtxt (names, datatypes, shapes), and the answers to the
    version's golden.npz inputs must match its golden outputs within
    |served - expected| <= atol + rtol * |expected|. A model can set its own tolerance
    with the config parameters smoke_rtol and smoke_atol. Exit 1 when anything is off,
    naming the worst mismatch.

    With --serve, smoke starts a local Triton on --repo itself (as `serve` would),
    checks it and stops it: the pipeline's local check in one command.

    Examples, from the repository root:

        orchestrator smoke --url 127.0.0.1:8000 --repo model_repository/

        orchestrator smoke --serve --repo model_repository/
    """
    from orchestrator.cli.output import serving as serving_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.core.golden import Tolerance
    from orchestrator.serving.serve import serve_and_smoke
    from orchestrator.serving.smoke import smoke
    from orchestrator.serving.triton import ServerOptions

    tolerance = Tolerance(rtol=rtol, atol=atol)
    if serve_locally:
        if url is not None or grpc_url is not None:
            raise click.UsageError(
                "--serve starts its own server: leave out --url and --grpc-url, or drop "
                "--serve to check a running server."
            )
        report = serve_and_smoke(
            ServerOptions(repository, ready_timeout_s=ready_timeout_s),
            models or None,
            protocols=_protocols(protocol),
            default_tolerance=tolerance,
        )
    elif url is None:
        raise click.UsageError(
            "Missing option '--url': pass the HOST:PORT of a running server's HTTP "
            "endpoint, or --serve to start a local Triton on --repo for the check."
        )
    else:
        report = smoke(
            endpoints_from(url, grpc_url),
            repository,
            models=models or None,
            protocols=_protocols(protocol),
            default_tolerance=tolerance,
        )
    if output_format == "json":
        echo_json(report)
    elif output_format == "markdown":
        click.echo(serving_output.smoke_markdown(report), nl=False)
    else:
        serving_output.print_smoke(report)
    report.raise_for_failures()


@click.command("infer")
@url_option()
@grpc_url_option()
@model_option("The model to call.")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inputs: .npy (one-input models), .npz (one array per input) or .json {name: lists}.",
)
@click.option(
    "--version",
    default="",
    callback=_version,
    help="Pin a version (default: the server picks).",
)
@protocol_option()
@click.option(
    "--timeout-s",
    type=FiniteFloat(min=1, max=MAX_INFER_TIMEOUT_S),
    default=DEFAULT_INFER_TIMEOUT_S,
    show_default=True,
    help="How long each call to the server (the model's metadata, then the request) may "
    "take, however slowly the server answers.",
)
@format_option("A table, or JSON with every value for machines.")
def infer_command(
    url: str,
    grpc_url: str | None,
    model: str,
    input_path: Path,
    version: str,
    protocol: str,
    timeout_s: float,
    output_format: str,
) -> None:
    """Send one request with the tensors in a file and print the outputs.

    The file's tensors are checked against the served model's inputs (names, dtypes,
    shapes) before anything is sent.

    Example, from the repository root:

        orchestrator infer --url 127.0.0.1:8000 --model cancer_mlp --input x.json
    """
    from orchestrator.cli.output import serving as serving_output
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.serving.inference import infer_file

    result = infer_file(
        endpoint_for(url, grpc_url, protocol),
        model,
        input_path,
        version=version,
        protocol=cast("Transport", protocol),
        timeout_s=timeout_s,
    )
    if output_format == "json":
        echo_json(result)
    else:
        serving_output.print_infer(result)


@click.command("swap")
@url_option()
@grpc_url_option()
@model_option("The model whose served version changes.")
@click.option(
    "--to", "to_version", required=True, type=click.IntRange(min=1), help="The version to serve."
)
@repository_option("Local copy of the served repository: the config and the version's golden.npz.")
@protocol_option(
    "Protocol(s) the new version is smoke-tested over before it takes all traffic.", both=True
)
@format_option("A summary, or JSON for machines.")
def swap_command(
    url: str,
    grpc_url: str | None,
    model: str,
    to_version: int,
    repository: Path,
    protocol: str,
    output_format: str,
) -> None:
    """Replace the served version of a model on a running Triton, with no downtime.

    Loads the new version beside the old one (explicit model control), warms it up,
    smoke-tests it by version, then serves only it so the old one unloads. If it fails
    to load or fails its smoke test, it is unloaded, the old version keeps serving, and
    the command exits 1. Ctrl-C leaves the old or the new version serving, never none.

    Example, from the repository root:

        orchestrator swap --url 127.0.0.1:8000 --model digits_cnn --to 2
    """
    from orchestrator.cli.output.jsondata import echo_json
    from orchestrator.serving.swap import swap

    report = swap(
        endpoints_from(url, grpc_url),
        repository,
        model,
        to_version,
        protocols=_protocols(protocol),
        on_step=lambda line: click.echo(line, err=True),
    )
    if output_format == "json":
        echo_json(report)
    else:
        before = ", ".join(map(str, report.from_versions)) or "none"
        click.echo(
            f"{report.model}: version(s) {before} -> {report.to_version} "
            f"(load {report.load_s:.1f} s, total {report.total_s:.1f} s)"
        )


@click.command("demo")
@repository_option("The shipped repository to start from (copied, never changed).")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the workspace (default: a temporary folder).",
)
@click.option("--keep", is_flag=True, help="Keep the workspace afterwards, to look at it.")
def demo_command(repository: Path, workdir: Path | None, keep: bool) -> None:
    """Run the whole path on this machine: train, publish, serve, smoke, swap.

    In a temporary workspace: train digits_cnn (or reuse the shipped version without
    torch), publish it as a new version next to a copy of the shipped repository,
    validate, serve on a real Triton, smoke-test over HTTP and gRPC, classify the
    held-out digits through Triton, swap to the new version under load, and shut down.
    Progress goes to stderr, the summary to stdout.

    Example, from the repository root:

        orchestrator demo
    """
    from orchestrator.cli.output.progress import step_lines
    from orchestrator.demo import run_demo

    with step_lines() as say:
        report = run_demo(repository, workdir=workdir, keep=keep, say=say)
    click.echo(report.summary())
